{{
    config(
        materialized='table' if citus_enabled() else 'incremental',
        unique_key='customer_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}
-- Customers, one row per version (SCD Type 2 from the snapshot), plus the unknown member.
-- No personal data in clear text: email and phone are salted hashes (a new salt needs
-- `runner build --full-refresh`). Incremental by customer: every version of a customer
-- with a new version or a version closed since the last run is written again; the rest
-- of the table (most of it on a daily build) stays.
with

-- Not materialized: the key filter below then reads only those customers' rows.
snapshot_versions as not materialized (

    select * from {{ ref('snp_crm__customers') }}

),

{% if is_incremental() %}
    changed_customers as (

        -- A new version's source row was loaded after every version held here.
        select customer_id from snapshot_versions
        where source_load_order > {{ previous_run_value('max(source_load_order)') }}
        union
        -- A current version closed without a successor: the customer was deleted.
        select previous_run.customer_id
        from {{ this }} as previous_run
        inner join snapshot_versions
            on previous_run.customer_key = snapshot_versions.dbt_scd_id
        where previous_run.is_current and snapshot_versions.dbt_valid_to is not null
        {%- set rederived = rederived_customers() %}
        {%- if rederived %}
        union
        -- Customers whose history a late batch re-derived.
        select customer_id from {{ rederived }} as rederived (customer_id)
        {%- endif %}

    ),

{% endif %}
versions as (

    {{ scd2_versions('snapshot_versions', 'customer_key', 'customer_id', [
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
    ], keys='(select changed_customers.customer_id from changed_customers)'
        if is_incremental() else none) }}

),

unknown_member as (

    {{ unknown_member('customer_key', 'customer_id', [
        ('email_hash', 'text'),
        ('email_domain', 'text'),
        ('phone_hash', 'text'),
        ('city', 'label'),
        ('postal_area', 'text'),
        ('country_code', 'text'),
        ('customer_segment', 'label'),
        ('loyalty_tier', 'label'),
        ('has_valid_email', 'boolean'),
        ('has_valid_phone', 'boolean'),
        ('created_at', 'timestamptz'),
    ]) }}

),

final as (

    select * from versions
    union all
    select * from unknown_member

)

select * from final
