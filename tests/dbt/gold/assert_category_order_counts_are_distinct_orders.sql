-- distinct_orders_in_category counts each order once per (day, store, category) it has
-- a line in; the documented order count (fct_orders) counts it once overall.
with

order_lines as (

    select * from {{ ref('fct_order_lines') }}
    where not is_cancelled

),

dim_products as (

    select * from {{ ref('dim_products') }}

),

daily as (

    select * from {{ ref('agg_sales_daily') }}

),

from_lines as (

    select
        order_lines.order_date,
        order_lines.store_id,
        dim_products.category as product_category,
        count(distinct order_lines.order_id) as orders
    from order_lines
    inner join dim_products
        on order_lines.product_key = dim_products.product_key
    group by order_lines.order_date, order_lines.store_id, dim_products.category

),

category_problems as (

    select
        coalesce(daily.order_date, from_lines.order_date) as order_date,
        'distinct_orders_in_category differs from the lines' as problem
    from daily
    full join from_lines
        on
            daily.order_date = from_lines.order_date
            and daily.store_id = from_lines.store_id
            and daily.product_category = from_lines.product_category
    where coalesce(daily.distinct_orders_in_category, 0) != coalesce(from_lines.orders, 0)

),

line_orders as (

    select count(distinct order_id) as order_count from order_lines

),

fact_orders as (

    select count(*) as order_count from {{ ref('fct_orders') }}
    where not is_cancelled

),

order_problems as (

    select
        null::date as order_date,
        'fct_orders does not count each order with a line once' as problem
    from line_orders
    cross join fact_orders
    where line_orders.order_count != fact_orders.order_count

)

select * from category_problems
union all
select * from order_problems
