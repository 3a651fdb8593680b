-- Data quality per entity and load batch: rows in, accepted (still the winning version),
-- rejected by rule, duplicates or superseded versions collapsed, and a quality score
-- (share of rows not rejected). Each entity's counts come from its int_quality__ model.
with

batches as (

    {% for entity in ['customer', 'product', 'store', 'order', 'order_line'] %}
        select * from {{ ref('int_quality__' ~ entity ~ 's_by_batch') }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        entity,
        batch_date,
        rows_in,
        rows_accepted,
        rows_rejected,
        (rows_in - rows_accepted - rows_rejected)::integer as rows_collapsed,
        rejected_by_rule,
        round(1 - rows_rejected::numeric / rows_in, 4)::numeric(5, 4) as quality_score
    from batches

)

select * from final
