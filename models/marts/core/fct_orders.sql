{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[
            {'columns': ['order_date']},
            {'columns': ['customer_key']},
            {'columns': ['source_load_order']},
        ],
        pre_hook=[
            "{% if not is_incremental() %}
                {{ planner_hint('one_pass_sorted_aggregate') }}
            {% endif %}",
            "{{ delete_groups_left_by_changed_lines(ref('base_erp__order_lines'),
                ref('base_erp__orders'), 'order_id', 'orders.order_id',
                'greatest(max(order_load_order), max(max_line_load_order))') }}",
        ]
    )
}}
-- One row per order (with at least one accepted line) and its line totals, keyed like
-- fct_order_lines. Orders whose header or lines changed since the last run are rebuilt
-- in place. A full build sums the lines once, in the order of the line fact's order_id
-- index (planner hint; DECISIONS.md).
with

-- Import CTEs not materialized: each is read more than once, and inlining lets the
-- planner filter and use indexes instead of copying whole tables.
orders as not materialized (

    select * from {{ ref('stg_erp__orders') }}

),

order_lines as not materialized (

    select * from {{ ref('fct_order_lines') }}

),

dim_customers as not materialized (

    select * from {{ ref('dim_customers') }}

),

dim_stores as not materialized (

    select * from {{ ref('dim_stores') }}

),

{% if is_incremental() %}
    -- Orders to rebuild: new or changed orders, orders with new, changed or late lines, orders
    -- a changed line left (the pre-hook deleted them), and orders keyed to an unknown member
    -- ('-1') whose customer or store has since arrived.
    changed_orders as (

        select order_id from orders
        where _load_order > {{ previous_run_value('max(order_load_order)') }}
        union
        -- lines touched by any source row loaded since (new lines, lines accepted late)
        select order_id from order_lines
        where source_load_order > {{ previous_run_value(
            'greatest(max(order_load_order), max(max_line_load_order))'
        ) }}
        union
        {{ groups_left_by_changed_lines(ref('base_erp__order_lines'), ref('base_erp__orders'),
            'orders.order_id', 'greatest(max(order_load_order), max(max_line_load_order))') }}
        union
        select previous_run.order_id from {{ this }} as previous_run
        where
            {{ unknown_member_arrived('dim_customers', 'customer', 'customer_id') }}
            or {{ unknown_member_arrived('dim_stores', 'store', 'store_id') }}
        {{ late_line_groups('late_lines.order_id') }}

    ),

{% endif %}
-- Incremental runs find the few changed orders first (materialized), then total and key
-- them; a full build reads every order straight through.
changed as {{ 'materialized' if is_incremental() else 'not materialized' }} (

    select orders.*
    from orders
    {% if is_incremental() %}
        inner join changed_orders
            on orders.order_id = changed_orders.order_id
    {% endif %}

),

line_totals as (

    select
        order_lines.order_id,
        count(*)::integer as line_count,
        sum(order_lines.quantity)::integer as quantity,
        sum(order_lines.gross_amount)::numeric(18, 2) as gross_amount,
        sum(order_lines.discount_amount)::numeric(18, 2) as discount_amount,
        sum(order_lines.net_amount)::numeric(18, 2) as net_amount,
        sum(order_lines.gross_amount_eur)::numeric(18, 2) as gross_amount_eur,
        sum(order_lines.discount_amount_eur)::numeric(18, 2) as discount_amount_eur,
        sum(order_lines.net_amount_eur)::numeric(18, 2) as net_amount_eur,
        max(order_lines.line_load_order) as max_line_load_order,
        max(order_lines.source_load_order) as max_line_source_load_order
    from order_lines
    {% if is_incremental() %}
        inner join changed_orders
            on order_lines.order_id = changed_orders.order_id
    {% endif %}
    group by order_lines.order_id

),

keyed as (

    select
        changed.order_id,
        changed.customer_id,
        changed.store_id,
        changed.order_status,
        changed.currency_code,
        changed.promo_code,
        changed.order_date,
        changed.ordered_at,
        changed._load_order as order_load_order,
        coalesce(customer.customer_key, customer_first.customer_key, '-1') as customer_key,
        coalesce(store.store_key, store_first.store_key, '-1') as store_key,
        to_char(changed.order_date, 'YYYYMMDD')::integer as date_key,
        line_totals.line_count,
        line_totals.quantity,
        line_totals.gross_amount,
        line_totals.discount_amount,
        line_totals.net_amount,
        line_totals.gross_amount_eur,
        line_totals.discount_amount_eur,
        line_totals.net_amount_eur,
        changed.order_status = 'cancelled' as is_cancelled,
        line_totals.max_line_load_order,
        -- Changes whenever this row is written with new content: the order's version, or
        -- any of its lines (a line accepted late keeps its old load order, but not its
        -- source_load_order). The watermark of the per-customer report.
        greatest(changed._load_order, line_totals.max_line_source_load_order)
            as source_load_order
    from changed
    -- An order is an order with at least one accepted line (docs/querying.md,
    -- "Definitions"): a header whose lines were all rejected is not one.
    inner join line_totals
        on changed.order_id = line_totals.order_id
    {{ point_in_time_join('dim_customers', 'customer', 'customer_id',
        'changed.customer_id', 'changed.ordered_at') }}
    {{ point_in_time_join('dim_stores', 'store', 'store_id',
        'changed.store_id', 'changed.ordered_at') }}

),

final as (

    select * from keyed

)

select * from final
