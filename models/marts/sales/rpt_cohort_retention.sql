-- Monthly cohort retention: customers grouped by the month of their first order; for each
-- later month, how many of them ordered again and what share of the cohort that is.
-- Counted from the customer-month activity, which carries each customer's first month.
with

activity as (

    select * from {{ ref('agg_customer_activity_monthly') }}

),

cohort_sizes as (

    select
        first_order_month as cohort_month,
        count(*)::integer as cohort_size
    from activity
    where activity_month = first_order_month
    group by first_order_month

),

cohort_activity as (

    select
        first_order_month as cohort_month,
        (
            (extract(year from activity_month) - extract(year from first_order_month)) * 12
            + extract(month from activity_month)
            - extract(month from first_order_month)
        )::integer as months_since_first_order,
        count(*)::integer as active_customers_in_month
    from activity
    group by first_order_month, months_since_first_order

),

final as (

    select
        cohort_activity.cohort_month,
        cohort_activity.months_since_first_order,
        cohort_sizes.cohort_size,
        cohort_activity.active_customers_in_month,
        round(
            cohort_activity.active_customers_in_month::numeric / cohort_sizes.cohort_size, 4
        )::numeric(7, 4) as retention_rate
    from cohort_activity
    inner join cohort_sizes
        on cohort_activity.cohort_month = cohort_sizes.cohort_month

)

select * from final
