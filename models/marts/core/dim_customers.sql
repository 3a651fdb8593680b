-- Customers, one row per version (SCD Type 2 from the snapshot), plus a missing member.
-- No personal data in clear text: email and phone are salted hashes.
with

versions as (

    {{ scd2_versions(ref('snp_crm__customers'), 'customer_key', 'customer_id', [
        hash_pii('email') ~ ' as email_hash',
        "split_part(email, '@', 2) as email_domain",
        hash_pii('phone_number') ~ ' as phone_hash',
        'city',
        'left(postal_code, 2) as postal_area',
        'country_code',
        'customer_segment',
        'loyalty_tier',
        'has_valid_email',
        'has_valid_phone',
        'created_at',
        'source_load_order',
    ]) }}

),

missing_member as (

    select
        '-1' as customer_key,
        '-1' as customer_id,
        null as email_hash,
        null as email_domain,
        null as phone_hash,
        'Unknown' as city,
        null as postal_area,
        null as country_code,
        'unknown' as customer_segment,
        null as loyalty_tier,
        false as has_valid_email,
        false as has_valid_phone,
        null::timestamptz as created_at,
        {{ missing_member_validity() }}

),

final as (

    select * from versions
    union all
    select * from missing_member

)

select * from final
