{{
    config(indexes=[
        {'columns': ['_load_order'], 'unique': True},
        {'columns': ['_batch_date']},
        {'columns': ['customer_id']},
    ])
}}
-- Every bronze customer row, typed and cleaned row by row, with the hard rule it breaks.
-- No window functions here: the staging model and the snapshot pick versions from it.
-- Incremental like every base_ model: each bronze row is parsed once, however many
-- consumers (staging, quarantine, quality report, snapshot replay per batch) read it.
-- The customer_id index serves the snapshot replay, which asks each batch for the rows of
-- the customers it touched (macros/snapshots/replay_snapshots.sql).
with

source as (

    {{ unparsed_bronze_rows(source('crm', 'crm_customers')) }}

),

country_aliases as (

    {{ country_aliases() }}

),

renamed as (

    select
        -- An over-long id is kept out of the indexed column (its row is rejected below).
        case
            when octet_length({{ clean_text("record ->> 'customer_id'") }})
                <= {{ var('max_key_length') }}
                then {{ clean_text("record ->> 'customer_id'") }}
        end as customer_id,
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

standardised as (

    select
        renamed.*,
        {{ fold_lower('btrim(renamed.email_raw)') }} as email_candidate,
        regexp_replace(renamed.phone_raw, '[^0-9]', '', 'g') as phone_digits,
        country_aliases.country_code,
        country_aliases.calling_code,
        {{ safe_timestamp('renamed.created_at_raw') }} as created_at,
        {{ safe_timestamp('renamed.updated_at_raw') }} as updated_at
    from renamed
    left join country_aliases
        on {{ lookup_key('renamed.country_raw') }} = country_aliases.alias_key

),

-- Computed once per row and in parallel workers: `offset 0` is a fence against inlining
-- into the checks below, not paging (AM09 off; see DECISIONS.md, "Base models").
cleaned as (

    select
        *,
        {{ title_case(clean_text('first_name_raw')) }} as first_name,
        {{ title_case(clean_text('last_name_raw')) }} as last_name,
        case
            when email_candidate ~ '^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$'
                then email_candidate
        end as email,
        -- E.164: keep an explicit +, turn 00 into +, and a national 0 into the country code.
        case
            when btrim(phone_raw) like '+%' then '+' || phone_digits
            when phone_digits like '00%' then '+' || substr(phone_digits, 3)
            when phone_digits like '0%' then '+' || calling_code || substr(phone_digits, 2)
        end as phone_candidate,
        {{ clean_text('address_line1_raw') }} as address_line1,
        {{ title_case(clean_text('city_raw')) }} as city,
        {{ clean_text('postal_code_raw') }} as postal_code,
        {{ fold_lower(clean_text('segment_raw')) }} as customer_segment,
        {{ fold_lower(clean_text('loyalty_tier_raw')) }} as loyalty_tier
    from standardised
    offset 0  -- noqa: AM09

),

checked as (

    select
        *,
        case when phone_candidate ~ '^\+[1-9][0-9]{7,14}$' then phone_candidate end as phone_number,
        email is not null as has_valid_email,
        coalesce(phone_candidate ~ '^\+[1-9][0-9]{7,14}$', false) as has_valid_phone,
        case
            when octet_length({{ clean_text("raw_record ->> 'customer_id'") }})
                > {{ var('max_key_length') }}
                then 'value_too_long'
            when customer_id is null then 'missing_key'
            when customer_id = '{{ var("missing_member_key") }}' then 'reserved_key'
            when updated_at is null then 'unparseable_date'
            -- A deletion's attributes can become the customer's last ones: checked too.
            when customer_segment not in {{ accepted_values_list('customer_segment') }}
                then 'unknown_segment'
            when is_tombstone then null
            when created_at_raw is null then 'missing_required_field'
            when created_at is null then 'unparseable_date'
            when created_at < '{{ var("company_founded_date") }}'::date
                or created_at > _batch_date + interval '1 day'
                then 'date_out_of_range'
        end as rejection_reason
    from cleaned

),

final as (

    select * from checked

)

select * from final
