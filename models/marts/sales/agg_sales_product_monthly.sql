{{
    config(
        materialized='incremental',
        unique_key=['sales_month', 'product_id'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook=[
            "{{ delete_groups_left_by_changed_lines(ref('base_erp__order_lines'),
                ref('base_erp__orders'), '(sales_month, product_id)',
                'orders.order_month, line_versions.product_id', 'max(max_source_load_order)') }}",
        ]
    )
}}
-- Monthly sales per product, named as the product is now: "top products" and product
-- trends without scanning the line fact. Incremental by (month, product): a pair is
-- recomputed whole when one of its fact rows changed, or when the product's current name
-- or category changed.
with

-- Not materialized: read twice on incremental runs.
order_lines as not materialized (

    select * from {{ ref('fct_order_lines') }}

),

dim_products as (

    select * from {{ ref('dim_products') }}

),

latest_products as (

    select distinct on (product_id)
        product_id,
        product_name,
        category
    from dim_products
    where product_key != '-1'
    order by product_id asc, valid_from desc

),

{% if is_incremental() %}
    changed_pairs as (

        select distinct
            date_trunc('month', order_date)::date as sales_month,
            product_id
        from order_lines
        where source_load_order > {{ previous_run_value('max(max_source_load_order)') }}

        union

        select
            previous_run.sales_month,
            previous_run.product_id
        from {{ this }} as previous_run
        left join latest_products
            on previous_run.product_id = latest_products.product_id
        where previous_run.product_name is distinct from latest_products.product_name
            or previous_run.product_category is distinct from latest_products.category

        union

        {{ groups_left_by_changed_lines(ref('base_erp__order_lines'), ref('base_erp__orders'),
            'orders.order_month, line_versions.product_id', 'max(max_source_load_order)') }}
        {{ late_line_groups(
            "date_trunc('month', late_lines.order_date)::date, late_lines.product_id") }}

    ),

{% endif %}
lines_to_aggregate as (

    select
        order_lines.*,
        date_trunc('month', order_lines.order_date)::date as sales_month
    from order_lines
    {% if is_incremental() %}
        inner join changed_pairs
            on
                order_lines.product_id = changed_pairs.product_id
                and order_lines.order_date >= changed_pairs.sales_month
                and order_lines.order_date
                < (changed_pairs.sales_month + interval '1 month')::date
    {% endif %}

),

monthly as (

    select
        sales_month,
        product_id,
        -- Distinct within the product: an order with two products counts for each.
        count(distinct order_id) filter (
            where not is_cancelled
        )::integer as distinct_orders_with_product,
        count(*) filter (where not is_cancelled)::integer as line_count,
        coalesce(sum(quantity) filter (where not is_cancelled), 0)::integer as quantity,
        coalesce(sum(net_amount_eur) filter (where not is_cancelled), 0)::numeric(18, 2)
            as net_revenue_amount_eur,
        coalesce(sum(net_amount_eur) filter (where is_cancelled), 0)::numeric(18, 2)
            as cancelled_amount_eur,
        max(source_load_order) as max_source_load_order
    from lines_to_aggregate
    group by sales_month, product_id

),

final as (

    select
        monthly.sales_month,
        monthly.product_id,
        latest_products.product_name,
        latest_products.category as product_category,
        monthly.distinct_orders_with_product,
        monthly.line_count,
        monthly.quantity,
        monthly.net_revenue_amount_eur,
        monthly.cancelled_amount_eur,
        monthly.max_source_load_order
    from monthly
    left join latest_products
        on monthly.product_id = latest_products.product_id

)

select * from final
