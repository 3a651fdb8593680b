-- One row per customer: the latest version wins (update time, then load order). A
-- customer deleted in the CRM keeps its last attributes with is_deleted, so gold can
-- still describe its past orders; the snapshot closes its history.
with

customers as (

    select * from {{ ref('base_crm__customers') }}

),

latest_attributes as (

    {{ latest_versions(
        'customers', 'customer_id', 'is_tombstone, updated_at desc, _load_order desc',
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
