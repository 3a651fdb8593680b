{#-
    Tests that check only the rows changed since they last passed.

    A data test configured with `where: "$changed_since_last_pass(<column>)"` reads only the
    rows of its model whose <column> (a load-order watermark that grows whenever a row is
    written or rewritten) is above the value it had when this test last passed. The
    on-run-end hook `record_test_watermarks` stores that value for every such test that
    passed; a test that failed, warned or did not run keeps its old one, so it looks at
    its failing rows again next time.

    The test reads every row instead when there is no watermark yet, when the code of a
    model it reads changed since the watermark was stored, on `--full-refresh`, and with
    `--vars '{full_tests: true}'`.

    The hook reads the maximum after the tests ran, so it assumes no other writer adds
    rows to the tested model in between: `runner build` holds the writer lock for the
    whole invocation (two plain `dbt build`s on the same schemas would race anyway).

    dbt renders a test's `where` when it parses the project, where project macros are not
    available; dbt's documented way around that is a placeholder that
    `get_where_subquery` expands when the test runs, as here.
-#}
{% macro ensure_test_watermarks() %}
    {% set schema = generate_schema_name('audit', none) %}
    create schema if not exists {{ schema }};
    create table if not exists {{ schema }}.test_watermarks (
        test_id text primary key,
        watermark bigint not null,
        inputs_checksum text not null,
        invocation_id text not null,
        recorded_at timestamptz not null default now()
    );
{% endmacro %}

{#- The watermark column named by a test's `where` placeholder, or none. -#}
{% macro changed_rows_column(where) %}
    {% set match = modules.re.fullmatch(
        '\s*\$changed_since_last_pass\(\s*(\w+)\s*\)\s*', where or ''
    ) %}
    {{ return(match.group(1) if match else none) }}
{% endmacro %}

{#- A fingerprint of the code of every model the test reads. -#}
{% macro test_inputs_checksum(depends_on_nodes) %}
    {% set parts = [] %}
    {% for unique_id in depends_on_nodes | sort %}
        {% set node = graph.nodes.get(unique_id) %}
        {% do parts.append(unique_id ~ ':' ~ (node.checksum.checksum if node else '')) %}
    {% endfor %}
    {{ return(local_md5(parts | join(','))) }}
{% endmacro %}

{% macro postgres__get_where_subquery(relation) -%}
    {% set column = changed_rows_column(config.get('where', '')) %}
    {% if column is none %}
        {{ return(dbt.default__get_where_subquery(relation)) }}
    {% endif %}
    {% if not execute or flags.FULL_REFRESH or var('full_tests', false) %}
        {{ return(relation) }}
    {% endif %}
    {% set table = generate_schema_name('audit', none) ~ '.test_watermarks' %}
    {#- `dbt compile` runs no hooks: the table may not exist yet. -#}
    {% if run_query("select to_regclass('" ~ table ~ "')").rows[0][0] is none %}
        {{ return(relation) }}
    {% endif %}
    {% set found = run_query(
        'select watermark, inputs_checksum from ' ~ table
        ~ " where test_id = '" ~ model.unique_id ~ "'"
    ) %}
    {% if found.rows | length == 0
        or found.rows[0][1] != test_inputs_checksum(model.depends_on.nodes) %}
        {{ return(relation) }}
    {% endif %}
    {#- A literal, not a subquery: the planner then expects a few rows and uses the
        watermark column's index. -#}
    {{ return(
        '(select * from ' ~ relation ~ ' where ' ~ column ~ ' > '
        ~ found.rows[0][0] ~ ') as changed_rows'
    ) }}
{%- endmacro %}

{% macro record_test_watermarks(results) %}
    {% if execute %}
        {% set schema = generate_schema_name('audit', none) %}
        {% for result in results
            if result.node.resource_type == 'test' and result.status == 'pass' %}
            {% set column = changed_rows_column(result.node.config.where) %}
            {% set tested = graph.nodes.get(result.node.attached_node) %}
            {% if column is not none and tested %}
                insert into {{ schema }}.test_watermarks as stored
                    (test_id, watermark, inputs_checksum, invocation_id)
                select
                    '{{ result.node.unique_id }}',
                    coalesce(max({{ column }}), 0),
                    '{{ test_inputs_checksum(result.node.depends_on.nodes) }}',
                    '{{ invocation_id }}'
                from {{ tested.relation_name }}
                on conflict (test_id) do update set
                    watermark = excluded.watermark,
                    inputs_checksum = excluded.inputs_checksum,
                    invocation_id = excluded.invocation_id,
                    recorded_at = now();
            {% endif %}
        {% endfor %}
    {% endif %}
{% endmacro %}
