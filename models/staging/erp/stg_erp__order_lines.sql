{{
    config(
        materialized='incremental',
        unique_key='order_line_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['order_id']}]
    )
}}
-- One row per order line, incremental like stg_erp__orders (same watermark and merge).
with

order_lines as (

    {{ unmerged_rows(ref('base_erp__order_lines'), 'order_line_id', 'rejection_reason is null',
        also=within_reach_of_late_batches('parsed._batch_date')) }}

),

priced as (

    select
        order_line_id,
        order_id,
        line_number,
        product_id,
        quantity,
        unit_price::numeric(18, 2) as unit_price_amount,
        (quantity * unit_price)::numeric(18, 2) as gross_amount,
        discount_amount::numeric(18, 2) as discount_amount,
        (quantity * unit_price - discount_amount)::numeric(18, 2) as net_amount,
        updated_at,
        _source_file,
        _batch_date,
        _load_order
    from order_lines

),

candidates as (

    select * from priced
    {% if is_incremental() %}
        union all
        select * from {{ this }}
        where order_line_id in (select priced.order_line_id from priced)
    {% endif %}

),

ranked as (

    select
        *,
        row_number() over (
            partition by order_line_id
            order by updated_at desc, _batch_date desc, _load_order desc
        ) as version_rank
    from candidates

),

final as (

    select
        order_line_id,
        order_id,
        line_number,
        product_id,
        quantity,
        unit_price_amount,
        gross_amount,
        discount_amount,
        net_amount,
        updated_at,
        _source_file,
        _batch_date,
        _load_order
    from ranked
    where version_rank = 1

)

select * from final
