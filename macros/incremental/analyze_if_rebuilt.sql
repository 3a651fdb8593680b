{#-
    Post-hook: ANALYZE a table the model has just (re)built whole. dbt creates tables with
    CREATE TABLE AS, which collects no statistics, and autovacuum gets to them only later:
    until then the next models and tests plan joins on a guessed row count. An incremental
    run that changed a few rows keeps the statistics it had.
-#}
{% macro analyze_if_rebuilt() -%}
    {%- if model.config.materialized in ('table', 'incremental') and not is_incremental() -%}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}
