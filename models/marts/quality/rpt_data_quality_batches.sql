-- Data quality per entity and load batch: rows in, accepted (still the winning version),
-- rejected by rule, duplicates or superseded versions collapsed, and a quality score
-- (share of rows not rejected).
{% set entities = [
    ('customer', 'base_crm__customers', 'stg_crm__customers'),
    ('product', 'base_erp__products', 'stg_erp__products'),
    ('store', 'base_erp__stores', 'stg_erp__stores'),
    ('order', 'base_erp__orders', 'stg_erp__orders'),
    ('order_line', 'base_erp__order_lines', 'stg_erp__order_lines'),
] %}
with

rejected as (

    select * from {{ ref('int_rejected_rows') }}

),

{% for entity, base, staging in entities %}
    {{ entity }}_parsed as (

        select
            _batch_date,
            count(*)::integer as rows_in,
            count(*) filter (where rejection_reason is not null)::integer as rows_rejected
        from {{ ref(base) }}
        group by _batch_date

    ),

    -- A silver row carries the batch of the version that won, so counting silver by batch
    -- counts each batch's rows still accepted without joining every row back.
    {{ entity }}_accepted as (

        select
            _batch_date,
            count(*)::integer as rows_accepted
        from {{ ref(staging) }}
        group by _batch_date

    ),

    {{ entity }}_batches as (

        select
            '{{ entity }}' as entity,
            parsed._batch_date as batch_date,
            parsed.rows_in,
            coalesce(accepted.rows_accepted, 0) as rows_accepted,
            parsed.rows_rejected
        from {{ entity }}_parsed as parsed
        left join {{ entity }}_accepted as accepted
            on parsed._batch_date = accepted._batch_date

    ),

{% endfor %}
batches as (

    {% for entity, base, staging in entities %}
        select * from {{ entity }}_batches
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

rules as (

    select
        entity,
        _batch_date as batch_date,
        jsonb_object_agg(rejection_reason, rejected_rows) as rejected_by_rule
    from (
        select
            entity,
            _batch_date,
            rejection_reason,
            count(*) as rejected_rows
        from rejected
        group by entity, _batch_date, rejection_reason
    ) as counted
    group by entity, _batch_date

),

final as (

    select
        batches.entity,
        batches.batch_date,
        batches.rows_in,
        batches.rows_accepted,
        batches.rows_rejected,
        (batches.rows_in - batches.rows_accepted - batches.rows_rejected)::integer
            as rows_collapsed,
        coalesce(rules.rejected_by_rule, '{}'::jsonb) as rejected_by_rule,
        round(1 - batches.rows_rejected::numeric / batches.rows_in, 4)::numeric(5, 4)
            as quality_score
    from batches
    left join rules
        on batches.entity = rules.entity
            and batches.batch_date = rules.batch_date

)

select * from final
