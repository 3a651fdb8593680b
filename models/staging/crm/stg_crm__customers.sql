-- One row per customer: the latest version wins (update time, then load order); a
-- deletion in the CRM is kept as is_deleted so the snapshot can close the history.
with

customers as (

    select * from {{ ref('base_crm__customers') }}
    where rejection_reason is null

),

country_codes as (

    select * from {{ ref('country_codes') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by customer_id
            order by is_tombstone, updated_at desc, _load_order desc
        ) as version_rank,
        max(case when is_tombstone then updated_at end)
            over (partition by customer_id) as last_deleted_at
    from customers

),

latest as (

    select * from ranked
    where version_rank = 1

),

standardised as (

    select
        latest.customer_id,
        initcap(lower({{ clean_text('latest.first_name_raw') }})) as first_name,
        initcap(lower({{ clean_text('latest.last_name_raw') }})) as last_name,
        lower(btrim(latest.email_raw)) as email_candidate,
        case
            when btrim(latest.phone_raw) like '+%'
                then '+' || regexp_replace(latest.phone_raw, '\D', '', 'g')
            when regexp_replace(latest.phone_raw, '\D', '', 'g') like '00%'
                then '+' || substr(regexp_replace(latest.phone_raw, '\D', '', 'g'), 3)
            when regexp_replace(latest.phone_raw, '\D', '', 'g') like '0%'
                then '+' || country_codes.calling_code
                || substr(regexp_replace(latest.phone_raw, '\D', '', 'g'), 2)
        end as phone_candidate,
        {{ clean_text('latest.address_line1_raw') }} as address_line1,
        initcap(lower({{ clean_text('latest.city_raw') }})) as city,
        {{ clean_text('latest.postal_code_raw') }} as postal_code,
        country_codes.country_code,
        lower({{ clean_text('latest.segment_raw') }}) as customer_segment,
        lower({{ clean_text('latest.loyalty_tier_raw') }}) as loyalty_tier,
        latest.is_tombstone
        or coalesce(latest.last_deleted_at > latest.updated_at, false) as is_deleted,
        latest.created_at,
        latest.updated_at,
        case
            when latest.is_tombstone then latest.updated_at
            when latest.last_deleted_at > latest.updated_at then latest.last_deleted_at
        end as deleted_at,
        latest._source_file,
        latest._batch_date,
        latest._load_order
    from latest
    left join country_codes
        on lower({{ clean_text('latest.country_raw') }}) = country_codes.country_alias

),

final as (

    select
        customer_id,
        first_name,
        last_name,
        case
            when email_candidate ~ '^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$'
                then email_candidate
        end as email,
        case when phone_candidate ~ '^\+[1-9]\d{7,14}$' then phone_candidate end as phone_number,
        address_line1,
        city,
        postal_code,
        country_code,
        customer_segment,
        loyalty_tier,
        coalesce(
            email_candidate ~ '^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$', false
        ) as has_valid_email,
        coalesce(phone_candidate ~ '^\+[1-9]\d{7,14}$', false) as has_valid_phone,
        is_deleted,
        created_at,
        updated_at,
        deleted_at,
        _source_file,
        _batch_date,
        _load_order
    from standardised

)

select * from final
