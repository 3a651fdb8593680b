{#-
    The groups an order line changed since a model's last run may have left: `columns`
    (over `line_versions` and `orders`, which adds `order_month`) for every order any
    version of the line named. A newer version can move a line to another order or
    product; the fact row then shows only the new group, so the old one is found here, in
    silver's history. `since` is the model's watermark aggregate (as for
    previous_run_value).
-#}
{% macro groups_left_by_changed_lines(line_versions, orders, columns, since) -%}
    select distinct {{ columns }}
    from {{ line_versions }} as line_versions
    inner join (
        select
            order_id,
            customer_id,
            store_id,
            order_date,
            date_trunc('month', order_date)::date as order_month
        from {{ orders }}
    ) as orders
        on line_versions.order_id = orders.order_id
    where line_versions.order_line_id in (
        select changed_lines.order_line_id from {{ line_versions }} as changed_lines
        where changed_lines._load_order > {{ previous_run_value(since) }}
    )
{%- endmacro %}

{#-
    Pre-hook of an incremental model grouped by an order line's parent: on an incremental
    run, delete the groups_left_by_changed_lines, keyed by `key` (a column or a
    parenthesised list); the model inserts again those that still have a line. delete+insert
    alone replaces only the groups the model selects, so a group a line left empty would
    keep its old row.
-#}
{% macro delete_groups_left_by_changed_lines(line_versions, orders, key, columns, since) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where {{ key }} in (
            {{ groups_left_by_changed_lines(line_versions, orders, columns, since) }}
        )
    {%- endif -%}
{%- endmacro %}
