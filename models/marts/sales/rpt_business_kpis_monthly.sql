-- The business in one row per month: revenue, orders, average order value, and active,
-- new and repeat customers (a repeat customer ordered in an earlier month too).
with

orders as (

    select * from {{ ref('fct_orders') }}
    where not is_cancelled

),

first_orders as (

    select
        customer_id,
        date_trunc('month', min(order_date))::date as first_order_month
    from orders
    group by customer_id

),

monthly as (

    select
        date_trunc('month', orders.order_date)::date as kpi_month,
        sum(orders.net_amount)::numeric(18, 2) as net_revenue_amount,
        count(*)::integer as order_count,
        count(distinct orders.customer_id)::integer as active_customers,
        count(distinct orders.customer_id) filter (
            where first_orders.first_order_month = date_trunc('month', orders.order_date)
        )::integer as new_customers,
        count(distinct orders.customer_id) filter (
            where first_orders.first_order_month < date_trunc('month', orders.order_date)
        )::integer as repeat_customers
    from orders
    inner join first_orders
        on orders.customer_id = first_orders.customer_id
    group by date_trunc('month', orders.order_date)

),

final as (

    select
        kpi_month,
        net_revenue_amount,
        order_count,
        active_customers,
        new_customers,
        repeat_customers,
        (net_revenue_amount / nullif(order_count, 0))::numeric(18, 2)
            as average_order_value_amount
    from monthly

)

select * from final
