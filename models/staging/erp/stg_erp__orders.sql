{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['order_id'], 'unique': True}]
    )
}}
-- One row per order, incremental on the batch watermark: each run re-reads the batches
-- of the last var('order_lateness_days') days plus anything newer, and merges them with
-- the versions already here, so the latest version wins exactly as in a full refresh.
with

orders as (

    select * from {{ ref('base_erp__orders') }}
    where rejection_reason is null and {{ batch_lookback_filter() }}

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
            order by updated_at desc, _load_order desc
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
