-- One row per store. The ERP sends no update time for stores, so the latest load wins.
with

stores as (

    select * from {{ ref('base_erp__stores') }}

),

latest as (

    {{ latest_versions(
        'stores', 'store_id', '_batch_date desc, _load_order desc', 'rejection_reason is null'
    ) }}

),

final as (

    select
        store_id,
        store_name,
        channel as sales_channel,
        city,
        country_code,
        region,
        opened_date,
        _source_file,
        _batch_date,
        _load_order
    from latest

)

select * from final
