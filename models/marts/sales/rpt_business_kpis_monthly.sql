-- The business in one row per month: revenue, orders, average order value, and active,
-- new and repeat customers (a repeat customer ordered in an earlier month too).
-- Orders are first summed per customer and month, so each customer counts once per month
-- without a count(distinct) (a sort of every order) per measure.
with

orders as (

    select * from {{ ref('fct_orders') }}
    where not is_cancelled

),

customer_months as (

    select
        customer_id,
        date_trunc('month', order_date)::date as kpi_month,
        sum(net_amount) as net_revenue_amount,
        count(*) as order_count
    from orders
    group by customer_id, date_trunc('month', order_date)

),

first_months as (

    select
        customer_id,
        min(kpi_month) as first_order_month
    from customer_months
    group by customer_id

),

monthly as (

    select
        customer_months.kpi_month,
        sum(customer_months.net_revenue_amount)::numeric(18, 2) as net_revenue_amount,
        sum(customer_months.order_count)::integer as order_count,
        count(*)::integer as active_customers,
        count(*) filter (
            where first_months.first_order_month = customer_months.kpi_month
        )::integer as new_customers,
        count(*) filter (
            where first_months.first_order_month < customer_months.kpi_month
        )::integer as repeat_customers
    from customer_months
    inner join first_months
        on customer_months.customer_id = first_months.customer_id
    group by customer_months.kpi_month

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
