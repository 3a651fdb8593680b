{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns'
    )
}}
-- One row per order, incremental: each run merges the base rows not merged yet (see
-- macros/dedup/latest_versions.sql, unmerged_rows) with the versions already here, so
-- the latest version wins exactly as in a full refresh.
with

orders as (

    {{ unmerged_rows(ref('base_erp__orders'), 'order_id', 'rejection_reason is null') }}

),

cleaned as (

    select
        order_id,
        customer_id,
        store_id,
        order_status,
        currency_code,
        promo_code,
        ordered_at,
        (ordered_at at time zone 'UTC')::date as order_date,
        updated_at,
        _source_file,
        _batch_date,
        _load_order
    from orders

),

candidates as (

    select * from cleaned
    {% if is_incremental() %}
        union all
        select * from {{ this }}
        where order_id in (select cleaned.order_id from cleaned)
    {% endif %}

),

ranked as (

    select
        *,
        row_number() over (
            partition by order_id
            order by updated_at desc, _batch_date desc, _load_order desc
        ) as version_rank
    from candidates

),

final as (

    select
        order_id,
        customer_id,
        store_id,
        order_status,
        currency_code,
        promo_code,
        ordered_at,
        order_date,
        updated_at,
        _source_file,
        _batch_date,
        _load_order
    from ranked
    where version_rank = 1

)

select * from final
