{% snapshot snp_erp__products %}
{{
    config(
        unique_key='product_id',
        strategy='timestamp',
        updated_at='updated_at',
        hard_deletes='invalidate'
    )
}}
-- Products as they stood after var('as_of_batch') (all batches when unset).
    with

    products as (

        select * from {{ ref('base_erp__products') }}

    ),

    latest as (

    {{ latest_versions(
        'products', 'product_id', 'updated_at desc, _load_order desc',
        'rejection_reason is null and ' ~ as_of_batch_filter()
    ) }}

    )

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
        _load_order as source_load_order
    from latest

{% endsnapshot %}
