{#-
    Fails (one row) when the share of nulls in the column exceeds max_null_share.
    Empty tables pass: there is nothing incomplete in them.
-#}
{% test completeness(model, column_name, max_null_share) %}

with

shares as (

    select
        count(*) as total_rows,
        count(*) - count({{ column_name }}) as null_rows
    from {{ model }}

)

select
    null_rows,
    total_rows,
    null_rows::numeric / total_rows as null_share
from shares
where total_rows > 0
    and null_rows::numeric / total_rows > {{ max_null_share }}

{% endtest %}
