-- Stores and online shops, one row per version (SCD Type 2 from the snapshot), plus a
-- missing member.
with

versions as (

    {{ scd2_versions(ref('snp_erp__stores'), 'store_key', 'store_id', [
        'store_name', 'sales_channel', 'city', 'country_code', 'region', 'opened_date',
        'source_load_order',
    ]) }}

),

missing_member as (

    select
        '-1' as store_key,
        '-1' as store_id,
        'Unknown store' as store_name,
        'unknown' as sales_channel,
        null as city,
        null as country_code,
        'Unknown' as region,
        null::date as opened_date,
        {{ missing_member_validity() }}

),

final as (

    select * from versions
    union all
    select * from missing_member

)

select * from final
