{{
    config(
        materialized='incremental',
        unique_key='customer_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook=["{{ delete_customers_with_new_orders(ref('fct_orders'),
            ref('base_erp__order_lines'), ref('base_erp__orders')) }}"]
    )
}}
-- Customer lifetime value: one row per customer who ever placed a (not cancelled) order.
-- Incremental by customer: a customer with an order written since the last run, or whose
-- current CRM version changed, is worked out again from all of their orders. A customer
-- whose orders have all been cancelled since leaves the table (pre-hook).
with

-- Not materialized: the customer filter then reads only those customers' orders.
orders as not materialized (

    select * from {{ ref('fct_orders') }}

),

dim_customers as not materialized (

    select * from {{ ref('dim_customers') }}

),

current_customers as not materialized (

    select * from dim_customers
    where is_current

),

unknown_customer as (

    select * from dim_customers
    where is_unknown_member

),

-- Customers the CRM once sent: the others were never in it.
customers_ever_in_crm as (

    select distinct customer_id from dim_customers
    where not is_unknown_member

),

{% if is_incremental() %}
    changed_customers as (

        {{ customers_with_new_orders('orders', ref('base_erp__order_lines'),
            ref('base_erp__orders')) }}
        union
        -- A new current version, a deletion, or a first arrival in the CRM.
        select previous_run.customer_id
        from {{ this }} as previous_run
        left join current_customers
            on previous_run.customer_id = current_customers.customer_id
        where previous_run.current_customer_key
            is distinct from coalesce(current_customers.customer_key, '-1')

    ),

{% endif %}
per_customer as (

    select
        orders.customer_id,
        min(orders.order_date) filter (where not orders.is_cancelled) as first_order_date,
        max(orders.order_date) filter (where not orders.is_cancelled) as last_order_date,
        count(*) filter (where not orders.is_cancelled)::integer as order_count,
        sum(orders.net_amount_eur) filter (where not orders.is_cancelled)::numeric(18, 2)
            as lifetime_revenue_amount_eur,
        max(orders.source_load_order) as max_source_load_order
    from orders
    {% if is_incremental() %}
        inner join changed_customers
            on orders.customer_id = changed_customers.customer_id
    {% endif %}
    group by orders.customer_id
    having count(*) filter (where not orders.is_cancelled) > 0

),

-- A customer with no current CRM version gets the unknown member's attributes, as a
-- fact keyed to it would.
final as (

    select
        per_customer.customer_id,
        coalesce(current_customers.customer_key, unknown_customer.customer_key)
            as current_customer_key,
        coalesce(current_customers.country_code, unknown_customer.country_code)
            as country_code,
        per_customer.order_count,
        per_customer.lifetime_revenue_amount_eur,
        per_customer.first_order_date,
        per_customer.last_order_date,
        per_customer.max_source_load_order,
        coalesce(current_customers.customer_segment, unknown_customer.customer_segment)
            as customer_segment,
        (per_customer.last_order_date - per_customer.first_order_date)::integer
            as customer_tenure_days,
        (per_customer.lifetime_revenue_amount_eur / per_customer.order_count)::numeric(18, 2)
            as average_order_value_amount_eur,
        per_customer.order_count > 1 as is_repeat_customer,
        current_customers.customer_key is null
        and customers_ever_in_crm.customer_id is not null as is_no_longer_in_crm
    from per_customer
    left join current_customers
        on per_customer.customer_id = current_customers.customer_id
    left join customers_ever_in_crm
        on per_customer.customer_id = customers_ever_in_crm.customer_id
    cross join unknown_customer

)

select * from final
