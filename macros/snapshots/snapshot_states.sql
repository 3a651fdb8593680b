{#-
    What each snapshot records: every key's latest accepted version among the rows loaded
    in batches up to `as_of` (a SQL date expression). The snapshots pass 'infinity' (every
    loaded batch); `replay_snapshots` passes each batch it replays, so the daily snapshot
    and the replay read the same SQL. `keys` (SQL: a subquery of business keys) limits the
    state to those keys: the replay asks each batch only for the keys it brought rows for,
    so it ranks those keys' rows, not every row loaded up to the batch.
-#}
{% macro crm_customers_as_of(as_of, keys=none) -%}
    -- A customer whose newest record is a deletion is absent, so its history closes.
    with

    customers as (

        select * from {{ ref('base_crm__customers') }}

    ),

    latest as (

        {{ latest_versions(
            'customers', 'customer_id', 'updated_at desc, _batch_date desc, _load_order desc',
            'rejection_reason is null and _batch_date <= ' ~ as_of, keys=keys
        ) }}

    )

    select
        customer_id,
        first_name,
        last_name,
        email,
        phone_number,
        address_line1,
        city,
        postal_code,
        country_code,
        customer_segment,
        loyalty_tier,
        has_valid_email,
        has_valid_phone,
        created_at,
        updated_at,
        _load_order as source_load_order
    from latest
    where not is_tombstone
{%- endmacro %}

{% macro erp_products_as_of(as_of, keys=none) -%}
    with

    products as (

        select * from {{ ref('base_erp__products') }}

    ),

    latest as (

        {{ latest_versions(
            'products', 'product_id', 'updated_at desc, _batch_date desc, _load_order desc',
            'rejection_reason is null and _batch_date <= ' ~ as_of, keys=keys
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
{%- endmacro %}

{% macro erp_stores_as_of(as_of, keys=none) -%}
    -- The ERP sends no reliable update time for stores: the newest load wins.
    with

    stores as (

        select * from {{ ref('base_erp__stores') }}

    ),

    latest as (

        {{ latest_versions(
            'stores', 'store_id', '_batch_date desc, _load_order desc',
            'rejection_reason is null and _batch_date <= ' ~ as_of, keys=keys
        ) }}

    )

    select
        store_id,
        store_name,
        channel as sales_channel,
        city,
        country_code,
        region,
        opened_date,
        _load_order as source_load_order
    from latest
{%- endmacro %}
