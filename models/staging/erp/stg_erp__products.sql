-- One row per product: latest version by update time, then load order.
with

products as (

    select * from {{ ref('base_erp__products') }}
    where rejection_reason is null

),

ranked as (

    select
        *,
        row_number() over (
            partition by product_id
            order by updated_at desc, _load_order desc
        ) as version_rank
    from products

),

final as (

    select
        product_id,
        sku,
        initcap(lower(product_name_raw)) as product_name,
        category,
        subcategory,
        brand,
        currency_code,
        unit_price::numeric(18, 2) as unit_price_amount,
        updated_at,
        _source_file,
        _batch_date,
        _load_order
    from ranked
    where version_rank = 1

)

select * from final
