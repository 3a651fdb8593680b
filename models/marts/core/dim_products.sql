-- Products, one row per version (SCD Type 2 from the snapshot), plus the unknown member.
with

versions as (

    {{ scd2_versions(ref('snp_erp__products'), 'product_key', 'product_id', [
        'sku', 'product_name', 'category', 'subcategory', 'brand', 'currency_code',
        'unit_price_amount',
        'source_load_order',
    ]) }}

),

unknown_member as (

    {{ unknown_member('product_key', 'product_id', [
        ('sku', 'text'),
        ('product_name', 'label'),
        ('category', 'label'),
        ('subcategory', 'label'),
        ('brand', 'label'),
        ('currency_code', 'text'),
        ('unit_price_amount', 'numeric(18, 2)'),
    ]) }}

),

final as (

    select * from versions
    union all
    select * from unknown_member

)

select * from final
