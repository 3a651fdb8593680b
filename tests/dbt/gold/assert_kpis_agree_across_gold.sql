-- Each KPI, per month, as every gold table that shows it counts it, against the facts
-- and the definitions in docs/querying.md. One failing row per month, KPI and table
-- that disagree.
with

orders as (

    select * from {{ ref('fct_orders') }}
    where not is_cancelled

),

kpis as (

    select * from {{ ref('rpt_business_kpis_monthly') }}

),

activity as (

    select * from {{ ref('agg_customer_activity_monthly') }}

),

cohorts as (

    select * from {{ ref('rpt_cohort_retention') }}

),

monthly_orders as (

    select
        date_trunc('month', order_date)::date as kpi_month,
        count(*)::numeric as order_count,
        sum(net_amount_eur) as net_revenue_eur,
        count(distinct customer_id)::numeric as active_customers
    from orders
    group by date_trunc('month', order_date)

),

first_months as (

    select
        customer_id,
        min(date_trunc('month', order_date))::date as kpi_month
    from orders
    group by customer_id

),

defined as (

    select
        kpi_month,
        'orders' as kpi,
        order_count as kpi_value
    from monthly_orders
    union all
    select
        kpi_month,
        'net_revenue_eur' as kpi,
        net_revenue_eur as kpi_value
    from monthly_orders
    union all
    select
        kpi_month,
        'average_order_value_eur' as kpi,
        round(net_revenue_eur / order_count, 2) as kpi_value
    from monthly_orders
    union all
    select
        kpi_month,
        'active_customers' as kpi,
        active_customers as kpi_value
    from monthly_orders
    union all
    select
        kpi_month,
        'new_customers' as kpi,
        count(*)::numeric as kpi_value
    from first_months
    group by kpi_month

),

shown_in_kpis as (

    select
        kpi_month,
        'rpt_business_kpis_monthly' as shown_in,
        'orders' as kpi,
        order_count::numeric as kpi_value
    from kpis
    union all
    select
        kpi_month,
        'rpt_business_kpis_monthly' as shown_in,
        'net_revenue_eur' as kpi,
        net_revenue_amount_eur::numeric as kpi_value
    from kpis
    union all
    select
        kpi_month,
        'rpt_business_kpis_monthly' as shown_in,
        'average_order_value_eur' as kpi,
        average_order_value_amount_eur::numeric as kpi_value
    from kpis
    union all
    select
        kpi_month,
        'rpt_business_kpis_monthly' as shown_in,
        'active_customers' as kpi,
        active_customers_in_month::numeric as kpi_value
    from kpis
    union all
    select
        kpi_month,
        'rpt_business_kpis_monthly' as shown_in,
        'new_customers' as kpi,
        new_customers::numeric as kpi_value
    from kpis

),

shown_in_activity as (

    select
        activity_month as kpi_month,
        'agg_customer_activity_monthly' as shown_in,
        'orders' as kpi,
        sum(order_count)::numeric as kpi_value
    from activity
    group by activity_month
    union all
    select
        activity_month as kpi_month,
        'agg_customer_activity_monthly' as shown_in,
        'net_revenue_eur' as kpi,
        sum(net_revenue_amount_eur)::numeric as kpi_value
    from activity
    group by activity_month
    union all
    select
        activity_month as kpi_month,
        'agg_customer_activity_monthly' as shown_in,
        'active_customers' as kpi,
        count(*)::numeric as kpi_value
    from activity
    group by activity_month

),

revenue_in_sales_aggregates as (

    select
        sales_month as kpi_month,
        'agg_sales_monthly' as shown_in,
        sum(net_revenue_amount_eur) as kpi_value
    from {{ ref('agg_sales_monthly') }}
    group by sales_month
    union all
    select
        date_trunc('month', order_date)::date as kpi_month,
        'agg_sales_daily' as shown_in,
        sum(net_revenue_amount_eur) as kpi_value
    from {{ ref('agg_sales_daily') }}
    group by date_trunc('month', order_date)
    union all
    select
        sales_month as kpi_month,
        'agg_sales_product_monthly' as shown_in,
        sum(net_revenue_amount_eur) as kpi_value
    from {{ ref('agg_sales_product_monthly') }}
    group by sales_month

),

customers_in_reports as (

    select
        (cohort_month + make_interval(months => months_since_first_order))::date
            as kpi_month,
        'rpt_cohort_retention' as shown_in,
        'active_customers' as kpi,
        sum(active_customers_in_month)::numeric as kpi_value
    from cohorts
    group by cohort_month + make_interval(months => months_since_first_order)
    union all
    select
        cohort_month as kpi_month,
        'rpt_cohort_retention' as shown_in,
        'new_customers' as kpi,
        cohort_size::numeric as kpi_value
    from cohorts
    where months_since_first_order = 0
    union all
    select
        date_trunc('month', first_order_date)::date as kpi_month,
        'rpt_customer_lifetime_value' as shown_in,
        'new_customers' as kpi,
        count(*)::numeric as kpi_value
    from {{ ref('rpt_customer_lifetime_value') }}
    group by date_trunc('month', first_order_date)

),

shown as (

    select
        kpi_month,
        shown_in,
        kpi,
        kpi_value
    from shown_in_kpis
    union all
    select
        kpi_month,
        shown_in,
        kpi,
        kpi_value
    from shown_in_activity
    union all
    select
        kpi_month,
        shown_in,
        'net_revenue_eur' as kpi,
        kpi_value
    from revenue_in_sales_aggregates
    union all
    select
        kpi_month,
        shown_in,
        kpi,
        kpi_value
    from customers_in_reports

),

tables_showing as (

    select distinct
        kpi,
        shown_in
    from shown

),

-- What each table should show: the definition's value for every month with orders.
expected as (

    select
        tables_showing.kpi,
        tables_showing.shown_in,
        defined.kpi_month,
        defined.kpi_value
    from tables_showing
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
    full outer join shown
        on
            expected.kpi = shown.kpi
            and expected.shown_in = shown.shown_in
            and expected.kpi_month = shown.kpi_month
    -- A month a table leaves out counts as zero there (a month without new customers has
    -- no cohort): it still fails when the definition counts some.
    where coalesce(shown.kpi_value, 0) != coalesce(expected.kpi_value, 0)

)

select * from final
