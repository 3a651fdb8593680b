-- Stores and online shops, one row per version (SCD Type 2 from the snapshot), plus the
-- unknown member.
with

versions as (

    {{ scd2_versions(ref('snp_erp__stores'), 'store_key', 'store_id', [
        'store_name', 'sales_channel', 'city', 'country_code', 'region', 'opened_date',
        'source_load_order',
    ]) }}

),

unknown_member as (

    {{ unknown_member('store_key', 'store_id', [
        ('store_name', 'label'),
        ('sales_channel', 'label'),
        ('city', 'label'),
        ('country_code', 'text'),
        ('region', 'label'),
        ('opened_date', 'date'),
    ]) }}

),

final as (

    select * from versions
    union all
    select * from unknown_member

)

select * from final
