-- Products, one row per version (SCD Type 2 from the snapshot), plus a missing member.
with

versions as (

    {{ scd2_versions(ref('snp_erp__products'), 'product_key', 'product_id', [
        'sku', 'product_name', 'category', 'subcategory', 'brand', 'currency_code',
        'unit_price_amount',
        'source_load_order',
    ]) }}

),

missing_member as (

    select
        '-1' as product_key,
        '-1' as product_id,
        null as sku,
        'Unknown product' as product_name,
        'Unknown' as category,
        'Unknown' as subcategory,
        null as brand,
        null as currency_code,
        null::numeric(18, 2) as unit_price_amount,
        {{ missing_member_validity() }}

),

final as (

    select * from versions
    union all
    select * from missing_member

)

select * from final
