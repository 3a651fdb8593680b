{{
    config(
        materialized='incremental',
        unique_key='order_line_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[
            {'columns': ['order_date', 'store_id']},
            {'columns': ['product_id', 'order_date']},
            {'columns': ['order_id']},
            {'columns': ['source_load_order']},
        ],
        post_hook=["{{ record_late_lines() }}"]
    )
}}
-- One row per order line, keyed to the customer, product and store versions valid when
-- the order was placed. Incremental: lines or orders that changed since the last run are
-- rebuilt in place (late lines, corrected orders). The indexes let the incremental
-- aggregates find their changed groups and fct_orders its lines without reading the
-- whole fact; the dimension keys have none, as no build step reads by them.
with

-- Import CTEs not materialized: each is read more than once, and inlining lets the
-- planner filter and use indexes instead of copying whole tables.
order_lines as not materialized (

    select * from {{ ref('stg_erp__order_lines') }}

),

orders as not materialized (

    select * from {{ ref('stg_erp__orders') }}

),

dim_customers as not materialized (

    select * from {{ ref('dim_customers') }}

),

dim_products as not materialized (

    select * from {{ ref('dim_products') }}

),

dim_stores as not materialized (

    select * from {{ ref('dim_stores') }}

),

exchange_rates as (

    select * from {{ ref('exchange_rates') }}

),

-- Each rate holds until its currency's next one.
exchange_rate_windows as (

    select
        currency_code,
        units_per_eur,
        valid_from,
        coalesce(
            lead(valid_from) over (partition by currency_code order by valid_from),
            'infinity'::date
        ) as valid_to
    from exchange_rates

),

{% if is_incremental() %}
    -- Lines to rebuild: new or changed lines, lines of new or changed orders, lines
    -- accepted late because their product arrived after them, and lines keyed to an
    -- unknown member ('-1') whose customer, product or store has since arrived.
    changed_ids as (

        select order_lines.order_line_id
        from order_lines
        where order_lines._load_order > {{ previous_run_value('max(line_load_order)') }}
        union
        select order_lines.order_line_id
        from order_lines
        inner join orders
            on order_lines.order_id = orders.order_id
        where orders._load_order > {{ previous_run_value('max(order_load_order)') }}
        union
        -- An anti-join rather than `not exists`: Citus cannot correlate a local table
        -- with a distributed one; PostgreSQL plans both the same.
        select order_lines.order_line_id
        from order_lines
        left join {{ this }} as previous_run
            on order_lines.order_line_id = previous_run.order_line_id
        where
            order_lines.product_id in (
                select dim_products.product_id from dim_products
                where
                    dim_products.source_load_order
                    > {{ previous_run_value('max(source_load_order)') }}
            )
            and previous_run.order_line_id is null
        union
        select previous_run.order_line_id
        from {{ this }} as previous_run
        where
            {{ unknown_member_arrived('dim_customers', 'customer', 'customer_id') }}
            or {{ unknown_member_arrived('dim_products', 'product', 'product_id') }}
            or {{ unknown_member_arrived('dim_stores', 'store', 'store_id') }}
        {%- set within_reach = within_reach_of_late_batches('order_lines._batch_date') %}
        {%- if within_reach %}
        union
        -- Lines a late batch changed (macros/incremental/late_batches.sql): keyed to a
        -- re-derived version, and lines it let in (their order or product came in time).
        {{ late_fact_lines(this) }}
        union
        select order_lines.order_line_id
        from order_lines
        left join {{ this }} as previous_run
            on order_lines.order_line_id = previous_run.order_line_id
        where {{ within_reach }} and previous_run.order_line_id is null
        {%- endif %}

    ),

{% endif %}
-- Incremental runs find the few changed lines first (materialized), then key them to the
-- dimensions; a full build reads every line straight through.
changed_lines as {{ 'materialized' if is_incremental() else 'not materialized' }} (

    select
        order_lines.*,
        orders.customer_id,
        orders.store_id,
        orders.order_status,
        orders.currency_code,
        orders.ordered_at,
        orders.order_date,
        orders._load_order as order_load_order
    from order_lines
    inner join orders
        on order_lines.order_id = orders.order_id
    {% if is_incremental() %}
        where order_lines.order_line_id in (select changed_ids.order_line_id from changed_ids)
    {% endif %}

),

keyed as (

    select
        changed_lines.order_line_id,
        changed_lines.order_id,
        coalesce(customer.customer_key, customer_first.customer_key, '-1') as customer_key,
        coalesce(product.product_key, product_first.product_key, '-1') as product_key,
        coalesce(store.store_key, store_first.store_key, '-1') as store_key,
        to_char(changed_lines.order_date, 'YYYYMMDD')::integer as date_key,
        changed_lines.customer_id,
        changed_lines.product_id,
        changed_lines.store_id,
        changed_lines.order_status,
        changed_lines.currency_code,
        changed_lines.line_number::integer as line_number,
        changed_lines.quantity::integer as quantity,
        changed_lines.unit_price_amount,
        changed_lines.gross_amount,
        changed_lines.discount_amount,
        changed_lines.net_amount,
        -- Gold's reporting currency: each line converted once at its order date's rate;
        -- net = gross - discount holds in euros too.
        round(changed_lines.gross_amount / rates.units_per_eur, 2)::numeric(18, 2)
            as gross_amount_eur,
        round(changed_lines.discount_amount / rates.units_per_eur, 2)::numeric(18, 2)
            as discount_amount_eur,
        (
            round(changed_lines.gross_amount / rates.units_per_eur, 2)
            - round(changed_lines.discount_amount / rates.units_per_eur, 2)
        )::numeric(18, 2) as net_amount_eur,
        changed_lines.order_status = 'cancelled' as is_cancelled,
        changed_lines.order_date,
        changed_lines.ordered_at,
        changed_lines._load_order as line_load_order,
        changed_lines.order_load_order,
        -- Changes when the line, its order or any joined dimension version does: the
        -- watermark of the aggregates.
        greatest(
            changed_lines._load_order,
            changed_lines.order_load_order,
            coalesce(customer.source_load_order, customer_first.source_load_order, 0),
            coalesce(product.source_load_order, product_first.source_load_order, 0),
            coalesce(store.source_load_order, store_first.source_load_order, 0)
        ) as source_load_order
    from changed_lines
    left join exchange_rate_windows as rates
        on
            changed_lines.currency_code = rates.currency_code
            and changed_lines.order_date >= rates.valid_from
            and changed_lines.order_date < rates.valid_to
    {{ point_in_time_join('dim_customers', 'customer', 'customer_id',
        'changed_lines.customer_id', 'changed_lines.ordered_at') }}
    {{ point_in_time_join('dim_products', 'product', 'product_id',
        'changed_lines.product_id', 'changed_lines.ordered_at') }}
    {{ point_in_time_join('dim_stores', 'store', 'store_id',
        'changed_lines.store_id', 'changed_lines.ordered_at') }}

),

final as (

    select * from keyed

)

select * from final
