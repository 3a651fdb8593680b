{#-
    Least privilege for analysts: a NOLOGIN group role (var 'analyst_role', from
    WAREHOUSE_ANALYST_ROLE) that gold models grant select to (dbt `grants`), plus usage on
    the gold schema. Analyst logins are members of it (`runner db roles`); they can read
    gold and nothing else.
-#}
{% macro analyst_role() -%}
    {%- set name = env_var('WAREHOUSE_ANALYST_ROLE', 'warehouse_analyst') -%}
    {%- if not modules.re.match('^[a-z_][a-z0-9_]{0,62}$', name) or name[:3] == 'pg_' -%}
        {{ exceptions.raise_compiler_error(
            "WAREHOUSE_ANALYST_ROLE '" ~ name ~ "' is not a safe role name: use lower-case "
            ~ "letters, digits and underscores") }}
    {%- endif -%}
    {{ name }}
{%- endmacro %}

{% macro ensure_analyst_role() %}
    do $$
    begin
        if not exists (select from pg_roles where rolname = '{{ analyst_role() }}')
            and exists (
                select from pg_roles
                where rolname = current_user and (rolsuper or rolcreaterole)
            )
        then
            create role "{{ analyst_role() }}" nologin;
        end if;
    end
    $$;
{% endmacro %}

{% macro grant_gold_schema_usage() %}
    {#- Only once gold and the role exist: freshness checks and snapshot replays run first.
        Never in the ci target: a change under review is not for analysts (`runner ci`). -#}
    {% if target.name == 'ci' %}
        select 1
    {% else %}
    do $$
    begin
        if exists (select from pg_namespace where nspname = '{{ generate_schema_name('gold', none) }}')
            and exists (select from pg_roles where rolname = '{{ analyst_role() }}')
        then
            grant usage on schema "{{ generate_schema_name('gold', none) }}" to "{{ analyst_role() }}";
        end if;
    end
    $$;
    {% endif %}
{% endmacro %}
