{{
    config(
        materialized='incremental',
        unique_key=['sales_month', 'store_id'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook=[
            "{{ delete_groups_left_by_changed_lines(ref('base_erp__order_lines'),
                ref('base_erp__orders'), '(sales_month, store_id)',
                'orders.order_month, orders.store_id', 'max(max_source_load_order)') }}",
        ]
    )
}}
-- Monthly sales by store, region, channel and product category, rolled up from the
-- daily aggregate (every measure is additive across days: an order has one date). A store
-- whose name, region or channel changed during the month is named as it was on its last
-- day of sales in the month: one row per (month, store, category), whatever the versions.
-- Incremental by (month, store), like the daily aggregate by (day, store): each pair with
-- a changed daily row is recomputed from that month's daily rows.
with

-- Not materialized: the month filter on incremental runs then uses the daily key.
daily as not materialized (

    select * from {{ ref('agg_sales_daily') }}

),

{% if is_incremental() %}
    changed_groups as (

        select distinct
            date_trunc('month', order_date)::date as sales_month,
            store_id
        from daily
        where max_source_load_order > {{ previous_run_value('max(max_source_load_order)') }}

        union

        {{ groups_left_by_changed_lines(ref('base_erp__order_lines'), ref('base_erp__orders'),
            'orders.order_month, orders.store_id', 'max(max_source_load_order)') }}
        {{ late_line_groups(
            "date_trunc('month', late_lines.order_date)::date, late_lines.store_id") }}

    ),

{% endif %}
days_to_roll_up as (

    select daily.*
    from daily
    {% if is_incremental() %}
        inner join changed_groups
            on
                daily.order_date >= changed_groups.sales_month
                and daily.order_date < (changed_groups.sales_month + interval '1 month')::date
                and daily.store_id = changed_groups.store_id
    {% endif %}

),

final as (

    select
        date_trunc('month', order_date)::date as sales_month,
        store_id,
        (array_agg(store_name order by order_date desc))[1] as store_name,
        (array_agg(region order by order_date desc))[1] as region,
        (array_agg(sales_channel order by order_date desc))[1] as sales_channel,
        product_category,
        -- Additive across days (an order has one date), not across categories.
        sum(distinct_orders_in_category)::integer as distinct_orders_in_category,
        sum(line_count)::integer as line_count,
        sum(quantity)::integer as quantity,
        sum(gross_amount_eur)::numeric(18, 2) as gross_amount_eur,
        sum(discount_amount_eur)::numeric(18, 2) as discount_amount_eur,
        sum(net_revenue_amount_eur)::numeric(18, 2) as net_revenue_amount_eur,
        sum(distinct_cancelled_orders_in_category)::integer
            as distinct_cancelled_orders_in_category,
        sum(cancelled_amount_eur)::numeric(18, 2) as cancelled_amount_eur,
        max(max_source_load_order) as max_source_load_order
    from days_to_roll_up
    group by date_trunc('month', order_date), store_id, product_category

)

select * from final
