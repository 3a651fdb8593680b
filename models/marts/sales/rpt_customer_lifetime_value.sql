-- Customer lifetime value: one row per customer who ever placed a (not cancelled) order.
with

orders as (

    select * from {{ ref('fct_orders') }}
    where not is_cancelled

),

dim_customers as (

    select * from {{ ref('dim_customers') }}
    where is_current

),

per_customer as (

    select
        customer_id,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        count(*)::integer as order_count,
        sum(net_amount)::numeric(18, 2) as lifetime_revenue_amount
    from orders
    group by customer_id

),

final as (

    select
        per_customer.customer_id,
        dim_customers.customer_key as current_customer_key,
        dim_customers.country_code,
        per_customer.order_count,
        per_customer.lifetime_revenue_amount,
        per_customer.first_order_date,
        per_customer.last_order_date,
        coalesce(dim_customers.customer_segment, 'unknown') as customer_segment,
        (per_customer.last_order_date - per_customer.first_order_date)::integer
            as customer_tenure_days,
        (per_customer.lifetime_revenue_amount / per_customer.order_count)::numeric(18, 2)
            as average_order_value_amount,
        per_customer.order_count > 1 as is_repeat_customer,
        dim_customers.customer_key is null as is_no_longer_in_crm
    from per_customer
    left join dim_customers
        on per_customer.customer_id = dim_customers.customer_id

)

select * from final
