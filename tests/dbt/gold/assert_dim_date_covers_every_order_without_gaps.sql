-- The calendar has one row per day from its first to its last, with no gap, and reaches
-- past the latest order (the facts' date keys and MetricFlow's time spine rely on it).
with

calendar as (

    select * from {{ ref('dim_date') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

bounds as (

    select
        min(calendar_date) as first_day,
        max(calendar_date) as last_day,
        count(*) as day_count
    from calendar

),

problems as (

    select 'gap or duplicate day' as problem
    from bounds
    where day_count != last_day - first_day + 1

    union all

    select 'order after the last day' as problem
    from bounds
    where last_day < (select max(orders.order_date) from orders)

    union all

    select 'order before the first day' as problem
    from bounds
    where first_day > (select min(orders.order_date) from orders)

)

select * from problems
