{#-
    One entity's rows per load batch: in (bronze, as parsed by its base model), rejected
    (in the quarantine, with a count per rule) and accepted (a silver row carries the batch
    of the version that won, so counting silver by batch counts each batch's rows still
    accepted without joining every row back).
-#}
{% macro batch_quality(entity, base_model, staging_model) %}
with

parsed as (

    select
        _batch_date,
        count(*)::integer as rows_in,
        count(*) filter (where rejection_reason is not null)::integer as rows_rejected
    from {{ base_model }}
    group by _batch_date

),

accepted as (

    select
        _batch_date,
        count(*)::integer as rows_accepted
    from {{ staging_model }}
    group by _batch_date

),

rules as (

    select
        _batch_date,
        jsonb_object_agg(rejection_reason, rejected_rows) as rejected_by_rule
    from (
        select
            _batch_date,
            rejection_reason,
            count(*) as rejected_rows
        from {{ ref('int_rejected_rows') }}
        where entity = '{{ entity }}'
        group by _batch_date, rejection_reason
    ) as counted
    group by _batch_date

)

select
    '{{ entity }}' as entity,
    parsed._batch_date as batch_date,
    parsed.rows_in,
    coalesce(accepted.rows_accepted, 0) as rows_accepted,
    parsed.rows_rejected,
    coalesce(rules.rejected_by_rule, '{}'::jsonb) as rejected_by_rule
from parsed
left join accepted
    on parsed._batch_date = accepted._batch_date
left join rules
    on parsed._batch_date = rules._batch_date
{% endmacro %}
