{#-
    What a late batch changed, for the incremental models. `runner build` applies a batch
    that arrived after newer ones by re-deriving only the snapshot keys it brought rows for
    (macros/snapshots/replay_snapshots.sql, record_late_batches), and records in `audit`:
    late_batches (each late batch and the lowest load order of the order lines it can let
    in; the runner writes it before the build starts, so silver, which does not wait for
    the replay, sees it), late_keys (the order and product ids its rows name) and
    rederived_keys (each
    snapshot key whose versions changed, and the time from which they did); then
    fct_order_lines records the lines it rewrote for them in late_lines. The runner
    empties them after a build that succeeded, so a failed build's successor rewrites the
    same rows again. With no late batch (or no table, as in a plain `dbt build`) the
    macros here render nothing.
-#}
{% macro late_changes() %}
    {%- if not execute %}{{ return(none) }}{% endif %}
    {%- set schema = generate_schema_name('audit', none) %}
    {%- if adapter.get_relation(target.database, schema, 'late_batches') is none %}
        {{ return(none) }}
    {%- endif %}
    {%- set found = run_query(
        'select count(*), min(first_line_load_order), min(batch_date)::text from '
        ~ schema ~ '.late_batches'
    ).rows[0] %}
    {{ return({'schema': schema, 'first_line_load_order': found[1],
               'first_batch': found[2]} if found[0] else none) }}
{% endmacro %}

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
    A condition on an order line's `_batch_date` (SQL) true from the first late batch's
    date minus var('order_lateness_days') on, or nothing without a late batch: only lines
    of those batches can have waited for an order or product the late batch brings, so
    only their 'unknown_*' outcome can change.
-#}
{% macro within_reach_of_late_batches(batch_date) -%}
    {%- set changes = late_changes() %}
    {%- if changes -%}
        {{ batch_date }} >= {{ batch_literal(changes.first_batch) }} - {{ var('order_lateness_days') }}
    {%- endif -%}
{%- endmacro %}

{#-
    Select of the order_line_id of the lines of `lines` (fct_order_lines, its previous
    run or its new rows) a late batch may have changed: keyed to a customer, product or
    store whose versions changed at or before the order, or naming an order or product of
    a late batch and loaded no earlier than the first line that could have waited for it
    (a line accepted now). Nothing without a late batch. One join per cause, so each can
    use the fact's indexes.
-#}
{% macro late_fact_lines(lines) -%}
    {%- set changes = late_changes() %}
    {%- if changes -%}
        {%- for snapshot_name, key in [('snp_crm__customers', 'customer_id'),
                                      ('snp_erp__products', 'product_id'),
                                      ('snp_erp__stores', 'store_id')] %}
        select late_lines.order_line_id
        from {{ lines }} as late_lines
        inner join {{ changes.schema }}.rederived_keys as rederived
            on
                rederived.snapshot_name = '{{ snapshot_name }}'
                and late_lines.{{ key }} = rederived.key_value
                and late_lines.ordered_at >= rederived.changed_since
        union
        {%- endfor %}
        {%- for key, type in [('order_id', 'bigint'), ('product_id', 'text')] %}
        select late_lines.order_line_id
        from {{ lines }} as late_lines
        where
            late_lines.{{ key }} in ({{ late_keys(changes, key, type) }})
            and late_lines.line_load_order >= {{ changes.first_line_load_order }}
        {{- " union" if not loop.last }}
        {%- endfor %}
    {%- endif -%}
{%- endmacro %}

{#-
    Post-hook of fct_order_lines: after a run that applied a late batch, record the lines
    it may have changed (late_fact_lines) in `audit`.late_lines, so fct_orders and the
    aggregates find their orders and groups without reading the fact again.
-#}
{% macro record_late_lines() -%}
    {%- set found = late_fact_lines(this) if is_incremental() else none %}
    {%- if found -%}
        delete from {{ late_changes().schema }}.late_lines;
        insert into {{ late_changes().schema }}.late_lines
        select order_line_id, order_id, customer_id, product_id, store_id, order_date
        from {{ this }}
        where order_line_id in ({{ found }})
    {%- endif -%}
{%- endmacro %}

{#-
    `union` a select of `columns` (over alias late_lines) of the lines a late batch
    changed, recorded by fct_order_lines (record_late_lines): the groups, orders or
    customers an incremental model downstream of the fact must recompute. Nothing without
    a late batch.
-#}
{% macro late_line_groups(columns) -%}
    {%- set changes = late_changes() %}
    {%- if changes %}
        union
        -- What a late batch changed (macros/incremental/late_batches.sql).
        select distinct {{ columns }}
        from {{ changes.schema }}.late_lines as late_lines
    {%- endif %}
{%- endmacro %}
