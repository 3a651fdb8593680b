{{
    config(
        materialized='incremental',
        unique_key='customer_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook=["{{ delete_customers_with_new_orders(ref('fct_orders'),
            ref('base_erp__order_lines'), ref('base_erp__orders')) }}"]
    )
}}
-- One row per customer and month in which they placed an order that was not cancelled,
-- with the month of their first such order: what the monthly KPIs and the cohort report
-- count, kept incrementally so that neither reads every order on every build.
-- Incremental by customer, like rpt_customer_lifetime_value: a customer with an order
-- written since the last run gets all of their months worked out again (a late early
-- order moves their first month; a cancellation can empty a month), and the pre-hook
-- deletes the months of a customer whose every order has since been cancelled.
with

-- Not materialized: the customer filter then reads only those customers' orders.
orders as not materialized (

    select * from {{ ref('fct_orders') }}

),

{% if is_incremental() %}
    changed_customers as (

        {{ customers_with_new_orders('orders', ref('base_erp__order_lines'),
            ref('base_erp__orders')) }}

    ),

{% endif %}
changed_orders as (

    select orders.*
    from orders
    {% if is_incremental() %}
        inner join changed_customers
            on orders.customer_id = changed_customers.customer_id
    {% endif %}

),

-- Over every order, cancelled ones included: a cancellation is a change too.
customer_watermarks as (

    select
        customer_id,
        max(source_load_order) as max_source_load_order
    from changed_orders
    group by customer_id

),

customer_months as (

    select
        customer_id,
        date_trunc('month', order_date)::date as activity_month,
        count(*)::integer as order_count,
        sum(net_amount_eur)::numeric(18, 2) as net_revenue_amount_eur
    from changed_orders
    where not is_cancelled
    group by customer_id, date_trunc('month', order_date)

),

final as (

    select
        customer_months.customer_id,
        customer_months.activity_month,
        customer_months.order_count,
        customer_months.net_revenue_amount_eur,
        customer_watermarks.max_source_load_order,
        min(customer_months.activity_month) over (
            partition by customer_months.customer_id
        ) as first_order_month
    from customer_months
    inner join customer_watermarks
        on customer_months.customer_id = customer_watermarks.customer_id

)

select * from final
