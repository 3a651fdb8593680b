-- Monthly sales by store, region, channel and product category, rolled up from the
-- daily aggregate (every measure is additive across days: an order has one date).
with

daily as (

    select * from {{ ref('agg_sales_daily') }}

),

final as (

    select
        date_trunc('month', order_date)::date as sales_month,
        store_id,
        store_name,
        region,
        sales_channel,
        product_category,
        sum(order_count)::integer as order_count,
        sum(line_count)::integer as line_count,
        sum(quantity)::integer as quantity,
        sum(gross_amount)::numeric(18, 2) as gross_amount,
        sum(discount_amount)::numeric(18, 2) as discount_amount,
        sum(net_revenue_amount)::numeric(18, 2) as net_revenue_amount,
        sum(cancelled_order_count)::integer as cancelled_order_count,
        sum(cancelled_amount)::numeric(18, 2) as cancelled_amount
    from daily
    group by
        date_trunc('month', order_date),
        store_id,
        store_name,
        region,
        sales_channel,
        product_category

)

select * from final
