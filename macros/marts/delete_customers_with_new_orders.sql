{#-
    The customers with an order written since this per-customer model's last run: orders
    whose `source_load_order` is past the model's watermark, and the orders a changed line
    or order left (groups_left_by_changed_lines over `line_versions` and `order_headers`), each
    customer once (a model joins its orders to them). The model recomputes them; its
    pre-hook deletes their rows first.
-#}
{% macro customers_with_new_orders(orders, line_versions, order_headers) -%}
    select customer_id from {{ orders }}
    where source_load_order > {{ previous_run_value('max(max_source_load_order)') }}
    union
    {{ groups_left_by_changed_lines(line_versions, order_headers, 'orders.customer_id',
        'max(max_source_load_order)') }}
    {{ late_line_groups('late_lines.customer_id') }}
{%- endmacro %}

{#-
    Pre-hook of a per-customer incremental model: on an incremental run, delete the rows of
    customers_with_new_orders; the model then inserts again those who still have an order
    that was not cancelled. delete+insert alone replaces only the customers the model
    selects, so a customer whose every order has since been cancelled (or moved away)
    would keep their old row. Runs in the model's transaction, before its SQL (whose
    watermark was read before this).
-#}
{% macro delete_customers_with_new_orders(orders, line_versions, order_headers) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where customer_id in (
            {{ customers_with_new_orders(orders, line_versions, order_headers) }}
        )
    {%- endif -%}
{%- endmacro %}
