{#-
    What a late batch changed, for the incremental models. `runner build` applies a batch
    that arrived after newer ones by re-deriving only the snapshot keys it brought rows for
    (macros/snapshots/replay_snapshots.sql, record_late_batches), and records in `audit`:
    late_batches (each late batch and the lowest load order of the order lines it can let
    in), late_keys (the order and product ids its rows name) and rederived_keys (each
    snapshot key whose versions changed, and the time from which they did). The runner
    empties them after a build that succeeded, so a failed build's successor rewrites the
    same rows again. With no late batch (or no table, as in a plain `dbt build`) the
    filters here render `false` or nothing.
-#}
{% macro late_changes() %}
    {%- if not execute %}{{ return(none) }}{% endif %}
    {%- set schema = generate_schema_name('audit', none) %}
    {%- if adapter.get_relation(target.database, schema, 'late_batches') is none %}
        {{ return(none) }}
    {%- endif %}
    {%- set found = run_query(
        'select count(*), min(first_line_load_order) from ' ~ schema ~ '.late_batches'
    ).rows[0] %}
    {{ return({'schema': schema, 'first_line_load_order': found[1]} if found[0] else none) }}
{% endmacro %}

{#- Keys of `snapshot_name` re-derived from `at` on: a condition on `key` and `at` (SQL). -#}
{% macro rederived_since(changes, snapshot_name, key, at) -%}
    exists (
        select from {{ changes.schema }}.rederived_keys as rederived
        where
            rederived.snapshot_name = '{{ snapshot_name }}'
            and rederived.key_value = {{ key }}::text
            and {{ at }} >= rederived.changed_since
    )
{%- endmacro %}

{#- The customer ids whose versions a late batch changed (a subquery), or nothing. -#}
{% macro rederived_customers() -%}
    {%- set changes = late_changes() %}
    {%- if changes -%}
        (select rederived.key_value from {{ changes.schema }}.rederived_keys as rederived
        where rederived.snapshot_name = 'snp_crm__customers')
    {%- endif -%}
{%- endmacro %}

{#- The `key_name` ids (order_id, product_id) the late batches' rows name, as `type`. -#}
{% macro late_keys(changes, key_name, type) -%}
    select late.key_value::{{ type }} from {{ changes.schema }}.late_keys as late
    where late.key_name = '{{ key_name }}'
{%- endmacro %}

{#-
    A condition on an order line (alias `row`, or none for bare columns) naming an order or
    product of a late batch, or nothing without one: its order or product may have arrived
    within the lateness window after all, so its rule's outcome can change.
-#}
{% macro late_order_or_product(row) -%}
    {%- set changes = late_changes() %}
    {%- set prefix = row ~ '.' if row else '' %}
    {%- if changes -%}
        ({{ prefix }}order_id in ({{ late_keys(changes, 'order_id', 'bigint') }})
        or {{ prefix }}product_id in ({{ late_keys(changes, 'product_id', 'text') }}))
    {%- endif -%}
{%- endmacro %}

{#-
    True for a line of fct_order_lines (alias `row`) that a late batch may have changed:
    keyed to a customer, product or store whose versions changed at or before its order,
    or naming an order or product of a late batch and loaded no earlier than the first
    line that could have waited for it (a line accepted now).
-#}
{% macro late_lines_filter(row) -%}
    {%- set changes = late_changes() %}
    {%- if not changes -%}
        false
    {%- else -%}
        (
            {{ rederived_since(changes, 'snp_crm__customers', row ~ '.customer_id', row ~ '.ordered_at') }}
            or {{ rederived_since(changes, 'snp_erp__products', row ~ '.product_id', row ~ '.ordered_at') }}
            or {{ rederived_since(changes, 'snp_erp__stores', row ~ '.store_id', row ~ '.ordered_at') }}
            or (
                {{ late_order_or_product(row) }}
                and {{ row }}.line_load_order >= {{ changes.first_line_load_order }}
            )
        )
    {%- endif -%}
{%- endmacro %}

{#-
    True for an order of fct_orders (alias `row`) that a late batch may have changed:
    keyed to a customer or store whose versions changed at or before it, or with a line
    late_lines_filter picks in `order_lines` (fct_order_lines).
-#}
{% macro late_orders_filter(row, order_lines) -%}
    {%- set changes = late_changes() %}
    {%- if not changes -%}
        false
    {%- else -%}
        (
            {{ rederived_since(changes, 'snp_crm__customers', row ~ '.customer_id', row ~ '.ordered_at') }}
            or {{ rederived_since(changes, 'snp_erp__stores', row ~ '.store_id', row ~ '.ordered_at') }}
            or {{ row }}.order_id in (
                select late_lines.order_id from {{ order_lines }} as late_lines
                where {{ late_lines_filter('late_lines') }}
            )
        )
    {%- endif -%}
{%- endmacro %}
