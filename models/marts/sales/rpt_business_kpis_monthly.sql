-- The business in one row per month: revenue (EUR), orders, average order value, and
-- active, new and repeat customers (a repeat customer ordered in an earlier month too),
-- as docs/querying.md defines them. Counted from the customer-month activity, where each
-- customer is one row per month.
with

activity as (

    select * from {{ ref('agg_customer_activity_monthly') }}

),

monthly as (

    select
        activity_month as kpi_month,
        sum(net_revenue_amount_eur)::numeric(18, 2) as net_revenue_amount_eur,
        sum(order_count)::integer as order_count,
        count(*)::integer as active_customers_in_month,
        count(*) filter (where first_order_month = activity_month)::integer as new_customers,
        count(*) filter (where first_order_month < activity_month)::integer
            as repeat_customers_in_month
    from activity
    group by activity_month

),

final as (

    select
        kpi_month,
        net_revenue_amount_eur,
        order_count,
        active_customers_in_month,
        new_customers,
        repeat_customers_in_month,
        (net_revenue_amount_eur / nullif(order_count, 0))::numeric(18, 2)
            as average_order_value_amount_eur
    from monthly

)

select * from final
