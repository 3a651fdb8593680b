{{
    config(
        materialized='incremental',
        unique_key='customer_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns'
    )
}}
-- One row per customer: the latest version wins (update time, then load order). A
-- customer deleted in the CRM keeps its last attributes with is_deleted, so gold can
-- still describe its past orders; the snapshot closes its history.
-- Incremental: a customer with any base row loaded since the last run (accepted,
-- rejected or a tombstone) is worked out again from all of its rows, exactly as a full
-- build would; the others are left as they are.
with

{% if is_incremental() %}
    -- Tombstones and rejected rows do not raise this watermark, so their customers are
    -- worked out again on the next run too, with the same answer.
    changed_customers as (

        select customer_id from {{ ref('base_crm__customers') }}
        where _load_order > {{ previous_run_value('max(_load_order)', default='0') }}

    ),

{% endif %}
customers as (

    select * from {{ ref('base_crm__customers') }}
    {% if is_incremental() %}
        where customer_id in (select changed_customers.customer_id from changed_customers)
    {% endif %}

),

latest_attributes as (

    {{ latest_versions(
        'customers', 'customer_id', 'is_tombstone, updated_at desc, _batch_date desc, _load_order desc',
        'rejection_reason is null'
    ) }}

),

deletions as (

    select
        customer_id,
        max(updated_at) as last_deleted_at
    from customers
    where rejection_reason is null and is_tombstone
    group by customer_id

),

final as (

    select
        latest_attributes.customer_id,
        latest_attributes.first_name,
        latest_attributes.last_name,
        latest_attributes.email,
        latest_attributes.phone_number,
        latest_attributes.address_line1,
        latest_attributes.city,
        latest_attributes.postal_code,
        latest_attributes.country_code,
        latest_attributes.customer_segment,
        latest_attributes.loyalty_tier,
        latest_attributes.has_valid_email,
        latest_attributes.has_valid_phone,
        latest_attributes.created_at,
        latest_attributes.updated_at,
        latest_attributes._source_file,
        latest_attributes._batch_date,
        latest_attributes._load_order,
        latest_attributes.is_tombstone
        or coalesce(deletions.last_deleted_at > latest_attributes.updated_at, false)
            as is_deleted,
        case
            when latest_attributes.is_tombstone then latest_attributes.updated_at
            when deletions.last_deleted_at > latest_attributes.updated_at
                then deletions.last_deleted_at
        end as deleted_at
    from latest_attributes
    left join deletions
        on latest_attributes.customer_id = deletions.customer_id

)

select * from final
