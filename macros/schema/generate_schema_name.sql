{#-
    Layer schemas: in the prod target a model's custom schema is used as is (silver, gold);
    in any other target it is prefixed with the target schema (dev_silver, ci_gold), so two
    developers or a CI run never overwrite each other.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set shared = ['public', 'information_schema', 'bronze', 'silver', 'gold', 'snapshots',
                      'audit', 'elementary'] -%}
    {%- if target.name != 'prod' and (target.schema in shared or target.schema[:3] == 'pg_'
            or not modules.re.match('^[a-z_][a-z0-9_]{0,62}$', target.schema)) -%}
        {{ exceptions.raise_compiler_error(
            "target schema '" ~ target.schema ~ "' is a shared or unsafe schema for a non-prod "
            ~ "target; set WAREHOUSE_SCHEMA to a prefix such as 'dev' or 'ci_42'") }}
    {%- endif -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif target.name == 'prod' -%}
        {{ custom_schema_name | trim }}
    {%- else -%}
        {{ target.schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
