{% snapshot snp_erp__stores %}
{{
    config(
        unique_key='store_id',
        strategy='check',
        check_cols=['store_name', 'sales_channel', 'city', 'country_code', 'region', 'opened_date'],
        hard_deletes='invalidate'
    )
}}
-- Stores as they stood after var('as_of_batch'). The ERP sends no reliable update time
-- for stores, hence the check strategy.
    with

    stores as (

        select * from {{ ref('base_erp__stores') }}

    ),

    latest as (

    {{ latest_versions(
        'stores', 'store_id', '_load_order desc',
        'rejection_reason is null and ' ~ as_of_batch_filter()
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

{% endsnapshot %}
