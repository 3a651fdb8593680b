{#-
    Fails when the model now holds fewer rows than `max_drop_share` allows, compared with
    the last count recorded by the `record_row_counts` on-run-end hook. Passes when no
    count was recorded yet.
-#}
{% test row_count_not_shrinking(model, max_drop_share=0.0) %}

with

previous as (

    select row_count
    from {{ target.database }}.{{ generate_schema_name('audit', none) }}.row_count_history
    where relation_name = '{{ model.identifier }}'
    order by recorded_at desc
    limit 1

),

current_count as (

    select count(*) as row_count from {{ model }}

)

select
    previous.row_count as previous_rows,
    current_count.row_count as current_rows
from previous
cross join current_count
where current_count.row_count < previous.row_count * (1 - {{ max_drop_share }})

{% endtest %}
