-- The business in one row per month: revenue, orders, average order value, and active,
-- new and repeat customers (a repeat customer ordered in an earlier month too). Counted
-- from the customer-month activity, where each customer is one row per month.
with

activity as (

    select * from {{ ref('agg_customer_activity_monthly') }}

),

monthly as (

    select
        activity_month as kpi_month,
        sum(net_revenue_amount)::numeric(18, 2) as net_revenue_amount,
        sum(order_count)::integer as order_count,
        count(*)::integer as active_customers,
        count(*) filter (where first_order_month = activity_month)::integer as new_customers,
        count(*) filter (where first_order_month < activity_month)::integer
            as repeat_customers
    from activity
    group by activity_month

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
