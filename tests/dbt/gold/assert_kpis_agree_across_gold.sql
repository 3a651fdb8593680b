-- Each KPI, per month, as every gold table that shows it counts it, against the facts
-- and the definitions in docs/querying.md. One failing row per month, KPI and table
-- that disagree.
with

orders as (

    select * from {{ ref('fct_orders') }}
    where not is_cancelled

),

by_definition as (

    select
        date_trunc('month', order_date)::date as kpi_month,
        count(*)::numeric as orders,
        sum(net_amount_eur) as net_revenue_eur,
        count(distinct customer_id)::numeric as active_customers
    from orders
    group by 1

),

first_months as (

    select
        customer_id,
        min(date_trunc('month', order_date))::date as kpi_month
    from orders
    group by customer_id

),

new_by_definition as (

    select
        kpi_month,
        count(*)::numeric as new_customers
    from first_months
    group by kpi_month

),

shown as (

    select kpi_month, 'orders' as kpi, 'rpt_business_kpis_monthly' as shown_in,
        order_count::numeric as kpi_value
    from {{ ref('rpt_business_kpis_monthly') }}
    union all
    select activity_month, 'orders', 'agg_customer_activity_monthly', sum(order_count)
    from {{ ref('agg_customer_activity_monthly') }}
    group by activity_month
    union all
    select kpi_month, 'net_revenue_eur', 'rpt_business_kpis_monthly', net_revenue_amount_eur
    from {{ ref('rpt_business_kpis_monthly') }}
    union all
    select activity_month, 'net_revenue_eur', 'agg_customer_activity_monthly',
        sum(net_revenue_amount_eur)
    from {{ ref('agg_customer_activity_monthly') }}
    group by activity_month
    union all
    select sales_month, 'net_revenue_eur', 'agg_sales_monthly', sum(net_revenue_amount_eur)
    from {{ ref('agg_sales_monthly') }}
    group by sales_month
    union all
    select date_trunc('month', order_date)::date, 'net_revenue_eur', 'agg_sales_daily',
        sum(net_revenue_amount_eur)
    from {{ ref('agg_sales_daily') }}
    group by 1
    union all
    select sales_month, 'net_revenue_eur', 'agg_sales_product_monthly',
        sum(net_revenue_amount_eur)
    from {{ ref('agg_sales_product_monthly') }}
    group by sales_month
    union all
    select kpi_month, 'average_order_value_eur', 'rpt_business_kpis_monthly',
        average_order_value_amount_eur
    from {{ ref('rpt_business_kpis_monthly') }}
    union all
    select kpi_month, 'active_customers', 'rpt_business_kpis_monthly',
        active_customers_in_month
    from {{ ref('rpt_business_kpis_monthly') }}
    union all
    select (cohort_month + make_interval(months => months_since_first_order))::date,
        'active_customers', 'rpt_cohort_retention', sum(active_customers_in_month)
    from {{ ref('rpt_cohort_retention') }}
    group by 1
    union all
    select kpi_month, 'new_customers', 'rpt_business_kpis_monthly', new_customers
    from {{ ref('rpt_business_kpis_monthly') }}
    union all
    select cohort_month, 'new_customers', 'rpt_cohort_retention', cohort_size
    from {{ ref('rpt_cohort_retention') }}
    where months_since_first_order = 0
    union all
    select date_trunc('month', first_order_date)::date, 'new_customers',
        'rpt_customer_lifetime_value', count(*)
    from {{ ref('rpt_customer_lifetime_value') }}
    group by 1

),

defined as (

    select kpi_month, 'orders' as kpi, orders as kpi_value from by_definition
    union all
    select kpi_month, 'net_revenue_eur', net_revenue_eur from by_definition
    union all
    select kpi_month, 'average_order_value_eur', round(net_revenue_eur / orders, 2)
    from by_definition
    union all
    select kpi_month, 'active_customers', active_customers from by_definition
    union all
    select kpi_month, 'new_customers', new_customers from new_by_definition

),

-- What each table should show: the definition's value for every month with orders; a
-- month missing on either side is a disagreement too.
expected as (

    select
        tables_showing.kpi,
        tables_showing.shown_in,
        defined.kpi_month,
        defined.kpi_value
    from (select distinct kpi, shown_in from shown) as tables_showing
    inner join defined
        on tables_showing.kpi = defined.kpi

),

final as (

    select
        coalesce(expected.kpi, shown.kpi) as kpi,
        coalesce(expected.shown_in, shown.shown_in) as shown_in,
        coalesce(expected.kpi_month, shown.kpi_month) as kpi_month,
        shown.kpi_value as shown_value,
        expected.kpi_value as defined_value
    from expected
    full join shown
        on
            expected.kpi = shown.kpi
            and expected.shown_in = shown.shown_in
            and expected.kpi_month = shown.kpi_month
    where shown.kpi_value is distinct from expected.kpi_value

)

select * from final
