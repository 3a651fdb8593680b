{#-
    Citus (distributed PostgreSQL). The runner sets WAREHOUSE_CITUS=on when the target
    database has the citus extension (set it yourself for plain dbt). A model opts in with
    `meta: {distribution: {column: <col>}}` (sharded by that column, colocated with the
    other tables sharded by a column of its type) or `meta: {distribution: reference}`
    (a copy on every node, for dimensions the facts join). Everything else stays a plain
    table on the coordinator. On plain PostgreSQL none of this has any effect.
-#}
{% macro citus_enabled() %}
    {{ return(env_var('WAREHOUSE_CITUS', 'off') == 'on') }}
{% endmacro %}

{#- The model's meta.distribution ({column: ...} or 'reference'), or none. -#}
{% macro distribution_spec(node=model) %}
    {{ return((node.config.get('meta') or {}).get('distribution')) }}
{% endmacro %}

{#- The model's distribution column, or none (reference or local tables). -#}
{% macro distribution_column(node=model) %}
    {%- set spec = distribution_spec(node) -%}
    {{ return(spec.get('column') if citus_enabled() and spec is mapping else none) }}
{% endmacro %}

{#-
    Post-hook: distribute the table dbt has just (re)built, in the same transaction, so
    a full build never leaves it local. An incremental run finds it distributed already.
-#}
{% macro distribute() %}
    {%- set spec = distribution_spec() -%}
    {%- if not (execute and citus_enabled() and spec) -%}
        {{ return('') }}
    {%- endif -%}
    {%- set found = run_query(
        "select exists (select from pg_dist_partition where logicalrelid = '"
        ~ this ~ "'::regclass)") -%}
    {%- if found.columns[0].values()[0] -%}
        {{ return('') }}
    {%- endif -%}
    {%- if spec == 'reference' %}
        select create_reference_table('{{ this }}');
    {%- else %}
        select create_distributed_table('{{ this }}', '{{ spec["column"] }}');
    {%- endif %}
    select truncate_local_data_after_distributing_table('{{ this }}')
{% endmacro %}

{#-
    Pre-hook of the marts: on Citus, a model that is (or becomes) a distributed or
    reference table turns off local execution for its transaction. Otherwise the rename
    of the old table, run locally on the coordinator's placement, would stop the parallel
    commands after it (distributing, analyze, grants).
-#}
{% macro citus_before_build() %}
    {%- if citus_enabled() and distribution_spec() -%}
        set local citus.enable_local_execution to off
    {%- endif -%}
{% endmacro %}
