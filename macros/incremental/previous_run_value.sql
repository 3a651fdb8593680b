{#-
    An aggregate over this model's table as it stands before an incremental run, as a typed
    SQL literal (e.g. `'48213'::bigint`). Watermarks written as literals instead of
    `(select max(...) from this)` let PostgreSQL estimate "rows newer than the watermark"
    from its statistics: a few rows, so it uses indexes and nested loops rather than
    planning for a third of the table. `default` (SQL) stands in when the aggregate is null
    and on full builds, where the watermark is not used.
-#}
{% macro previous_run_value(aggregate, default='null') -%}
    {%- if not (execute and is_incremental()) -%}
        {{ return(default) }}
    {%- endif -%}
    {%- set result = run_query(
        'select (' ~ aggregate ~ ')::text, pg_typeof(' ~ aggregate ~ ')::text from '
        ~ this ~ ' as previous_run'
    ) -%}
    {%- set value, type = result.rows[0][0], result.rows[0][1] -%}
    {%- if value is none -%}
        {{ return(default) }}
    {%- endif -%}
    {{ return("'" ~ value ~ "'::" ~ type) }}
{%- endmacro %}
