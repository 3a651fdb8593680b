-- One row per store. The ERP sends no update time for stores, so the latest load wins.
with

stores as (

    select * from {{ ref('base_erp__stores') }}
    where rejection_reason is null

),

country_codes as (

    select * from {{ ref('country_codes') }}

),

ranked as (

    select
        *,
        row_number() over (partition by store_id order by _load_order desc) as version_rank
    from stores

),

final as (

    select
        ranked.store_id,
        ranked.store_name,
        ranked.channel as sales_channel,
        initcap(lower(ranked.city)) as city,
        country_codes.country_code,
        country_codes.region,
        ranked.opened_date,
        ranked._source_file,
        ranked._batch_date,
        ranked._load_order
    from ranked
    left join country_codes
        on ranked.country_alias = country_codes.country_alias
    where ranked.version_rank = 1

)

select * from final
