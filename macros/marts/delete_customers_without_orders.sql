{#-
    Post-hook of a per-customer incremental model: delete the customers left without an
    order that was not cancelled. delete+insert replaces the customers the model selects
    again, but one whose every order has since been cancelled yields no row, so nothing
    would replace (or remove) the row it had.
-#}
{% macro delete_customers_without_orders(orders) -%}
    delete from {{ this }} as report
    where not exists (
        select from {{ orders }} as orders
        where orders.customer_id = report.customer_id and not orders.is_cancelled
    )
{%- endmacro %}
