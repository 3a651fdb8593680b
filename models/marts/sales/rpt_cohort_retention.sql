-- Monthly cohort retention: customers grouped by the month of their first order; for each
-- later month, how many of them ordered again and what share of the cohort that is.
with

orders as (

    select * from {{ ref('fct_orders') }}
    where not is_cancelled

),

customer_months as (

    select distinct
        customer_id,
        date_trunc('month', order_date)::date as activity_month
    from orders

),

cohorts as (

    select
        customer_id,
        min(activity_month) as cohort_month
    from customer_months
    group by customer_id

),

cohort_sizes as (

    select
        cohort_month,
        count(*)::integer as cohort_size
    from cohorts
    group by cohort_month

),

activity as (

    select
        cohorts.cohort_month,
        (
            (
                extract(year from customer_months.activity_month)
                - extract(year from cohorts.cohort_month)
            ) * 12
            + extract(month from customer_months.activity_month)
            - extract(month from cohorts.cohort_month)
        )::integer as months_since_first_order,
        count(*)::integer as active_customers
    from customer_months
    inner join cohorts
        on customer_months.customer_id = cohorts.customer_id
    group by cohorts.cohort_month, months_since_first_order

),

final as (

    select
        activity.cohort_month,
        activity.months_since_first_order,
        cohort_sizes.cohort_size,
        activity.active_customers,
        round(activity.active_customers::numeric / cohort_sizes.cohort_size, 4)::numeric(7, 4)
            as retention_rate
    from activity
    inner join cohort_sizes
        on activity.cohort_month = cohort_sizes.cohort_month

)

select * from final
