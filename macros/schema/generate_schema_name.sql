{#-
    Layer schemas: in the prod target a model's custom schema is used as is (silver, gold);
    in any other target it is prefixed with the target schema (dev_silver, ci_gold), so two
    developers or a CI run never overwrite each other.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif target.name == 'prod' -%}
        {{ custom_schema_name | trim }}
    {%- else -%}
        {{ target.schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
