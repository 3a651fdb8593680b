{% snapshot snp_crm__customers %}
{{
    config(
        unique_key='customer_id',
        strategy='timestamp',
        updated_at='updated_at',
        hard_deletes='invalidate'
    )
}}
-- Customers as they stood after var('as_of_batch') (all batches when unset). A customer
-- whose newest record is a deletion is absent, so the snapshot closes its history.
    with

    customers as (

        select * from {{ ref('base_crm__customers') }}

    ),

    latest as (

    {{ latest_versions(
        'customers', 'customer_id', 'updated_at desc, _load_order desc',
        'rejection_reason is null and ' ~ as_of_batch_filter()
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

{% endsnapshot %}
