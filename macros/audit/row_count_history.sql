{#-
    A small audit trail of gold row counts, read by the row_count_not_shrinking test.
    ensure_row_count_history runs on-run-start; record_row_counts runs on-run-end and
    records every gold model that built successfully in this invocation.
-#}
{% macro ensure_row_count_history() %}
    {% set schema = generate_schema_name('audit', none) %}
    create schema if not exists {{ schema }};
    create table if not exists {{ schema }}.row_count_history (
        relation_name text not null,
        row_count bigint not null,
        invocation_id text not null,
        recorded_at timestamptz not null default now()
    );
{% endmacro %}

{% macro record_row_counts(results) %}
    {% if execute %}
        {% set schema = generate_schema_name('audit', none) %}
        {% for result in results
            if result.node.resource_type == 'model'
            and result.status == 'success'
            and result.node.config.materialized in ('table', 'incremental')
            and result.node.fqn[1] == 'marts' %}
            insert into {{ schema }}.row_count_history (relation_name, row_count, invocation_id)
            select '{{ result.node.alias }}', count(*), '{{ invocation_id }}'
            from {{ result.node.relation_name }};
        {% endfor %}
    {% endif %}
{% endmacro %}
