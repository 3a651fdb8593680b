-- One row per product: latest version by update time, then load order.
with

products as (

    select * from {{ ref('base_erp__products') }}

),

latest as (

    {{ latest_versions(
        'products', 'product_id', 'updated_at desc, _batch_date desc, _load_order desc',
        'rejection_reason is null'
    ) }}

),

final as (

    select
        product_id,
        sku,
        product_name,
        category,
        subcategory,
        brand,
        currency_code,
        unit_price_amount,
        updated_at,
        _source_file,
        _batch_date,
        _load_order
    from latest

)

select * from final
