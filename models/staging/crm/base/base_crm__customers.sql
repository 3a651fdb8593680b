-- Every bronze customer row, typed, with the hard rule it breaks (if any).
-- No window functions here, so filters from incremental parents push down.
with

source as (

    select * from {{ source('crm', 'crm_customers') }}

),

renamed as (

    select
        {{ clean_text("record ->> 'customer_id'") }} as customer_id,
        record ->> 'first_name' as first_name_raw,
        record ->> 'last_name' as last_name_raw,
        record ->> 'email' as email_raw,
        record ->> 'phone' as phone_raw,
        record -> 'address' ->> 'line1' as address_line1_raw,
        record -> 'address' ->> 'city' as city_raw,
        record -> 'address' ->> 'postal_code' as postal_code_raw,
        record -> 'address' ->> 'country' as country_raw,
        record ->> 'segment' as segment_raw,
        record ->> 'loyalty_tier' as loyalty_tier_raw,
        record ->> 'created_at' as created_at_raw,
        record ->> 'updated_at' as updated_at_raw,
        coalesce(record ->> 'is_deleted' = 'true', false) as is_tombstone,
        record as raw_record,
        _source_file,
        _batch_date,
        _loaded_at,
        _load_order
    from source

),

typed as (

    select
        *,
        {{ safe_timestamp('created_at_raw') }} as created_at,
        {{ safe_timestamp('updated_at_raw') }} as updated_at
    from renamed

),

checked as (

    select
        *,
        case
            when customer_id is null then 'missing_key'
            when updated_at is null then 'unparseable_date'
            when is_tombstone then null
            when created_at_raw is null then 'missing_required_field'
            when created_at is null then 'unparseable_date'
            when created_at < '{{ var("company_founded_date") }}'::date
                or created_at > _batch_date + interval '1 day'
                then 'date_out_of_range'
        end as rejection_reason
    from typed

),

final as (

    select * from checked

)

select * from final
