{#-
    The groups changed source rows may have left, for an incremental model grouped by an
    order line's parent: `columns` (over `orders`, with order_month, and `line_versions`)
    of every version of every order a changed order row or any version of a changed line
    named. A newer version can move a line to another order or product, or an order to
    another day, store or customer; the fact row then shows only the new group, so the old
    one is found here, in silver's history. `since` is the model's watermark aggregate (as
    for previous_run_value).
-#}
{% macro groups_left_by_changed_lines(line_versions, order_versions, columns, since) -%}
    {%- set watermark = previous_run_value(since) -%}
    select distinct {{ columns }}
    from (
        select
            order_id,
            customer_id,
            store_id,
            (ordered_at at time zone 'UTC')::date as order_date,
            date_trunc('month', ordered_at at time zone 'UTC')::date as order_month
        from {{ order_versions }}
    ) as orders
    left join {{ line_versions }} as line_versions
        on orders.order_id = line_versions.order_id
    where orders.order_id in (
        select moved_lines.order_id from {{ line_versions }} as moved_lines
        where moved_lines.order_line_id in (
            select changed_lines.order_line_id from {{ line_versions }} as changed_lines
            where changed_lines._load_order > {{ watermark }}
        )
        union all
        select changed_orders.order_id from {{ order_versions }} as changed_orders
        where changed_orders._load_order > {{ watermark }}
    )
{%- endmacro %}

{#-
    Pre-hook of an incremental model grouped by an order line's parent: on an incremental
    run, delete the groups_left_by_changed_lines, keyed by `key` (a column or a
    parenthesised list); the model inserts again those that still have a line. delete+insert
    alone replaces only the groups the model selects, so a group a line left empty would
    keep its old row.
-#}
{% macro delete_groups_left_by_changed_lines(line_versions, order_versions, key, columns, since) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where {{ key }} in (
            {{ groups_left_by_changed_lines(line_versions, order_versions, columns, since) }}
        )
    {%- endif -%}
{%- endmacro %}
