{#-
    dbt's PostgreSQL adapter builds a table with an enforced contract as `create table`
    with its constraints, then `insert ... select`, which PostgreSQL never runs with
    parallel workers. Here the table is built with `create table ... as select` (each
    column cast to its declared type), which can use them, and then gets every declared
    constraint in one `alter table`: one scan validates the not-null and check
    constraints, and the keys build their indexes. The contract's column check is dbt's
    own. A violating row fails the build either way; PostgreSQL names the constraint and
    table, not the row. Temporary tables and uncontracted models are built as before.
-#}
{% macro postgres__create_table_as(temporary, relation, sql) -%}
    {%- set contracted = config.get('contract').enforced and not temporary -%}
    {%- set sql_header = config.get('sql_header', none) -%}
    {{ sql_header if sql_header is not none }}
    {%- if contracted %}
        {{ get_assert_columns_equivalent(sql) }}
        {%- set hint = planner_hint('cheap_parallel_rows') %}
        {{ hint ~ ';' if hint }}
    {%- endif %}
    create {% if temporary -%}
        temporary
    {%- elif config.get('unlogged', default=false) -%}
        unlogged
    {%- endif %} table {{ relation }} as (
        {%- if contracted %}
            select
            {%- for column in model['columns'].values() %}
                {{ contract_column_name(column) }}::{{ column['data_type'] }}
                as {{ contract_column_name(column) }}{{ ',' if not loop.last }}
            {%- endfor %}
            from ({{ sql }}) as model_subq
        {%- else %}
            {{ sql }}
        {%- endif %}
    );
    {%- if contracted %}
        {%- set clauses = contract_constraint_clauses() %}
        {%- if clauses %}
            alter table {{ relation }}
            {{ clauses | join(',\n') }};
        {%- endif %}
    {%- endif %}
{%- endmacro %}

{% macro contract_column_name(column) -%}
    {{ adapter.quote(column['name']) if column.get('quote') else column['name'] }}
{%- endmacro %}

{#- The `alter table` clauses for the model's declared constraints, columns' then model's. -#}
{% macro contract_constraint_clauses() %}
    {%- set clauses = [] -%}
    {%- set declared = [] -%}
    {%- for column in model['columns'].values() -%}
        {%- for constraint in column.get('constraints', []) -%}
            {%- do declared.append((constraint, [contract_column_name(column)])) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for constraint in model.get('constraints', []) -%}
        {%- do declared.append((constraint, constraint.get('columns', []))) -%}
    {%- endfor -%}
    {%- for constraint, columns in declared -%}
        {%- set named = 'add constraint ' ~ constraint['name'] ~ ' ' if constraint.get('name') else 'add ' -%}
        {%- if constraint['type'] == 'not_null' -%}
            {%- for column in columns -%}
                {%- do clauses.append('alter column ' ~ column ~ ' set not null') -%}
            {%- endfor -%}
        {%- elif constraint['type'] in ('primary_key', 'unique') -%}
            {#- On Citus a sharded table's keys must include its distribution column. -#}
            {%- set sharded_by = distribution_column() -%}
            {%- set columns = [sharded_by] + columns
                if sharded_by and sharded_by not in columns else columns -%}
            {%- do clauses.append(named ~ constraint['type'] | replace('_', ' ')
                ~ ' (' ~ columns | join(', ') ~ ')') -%}
        {%- elif constraint['type'] == 'check' -%}
            {%- do clauses.append(named ~ 'check (' ~ constraint['expression'] ~ ')') -%}
        {%- else -%}
            {%- do exceptions.raise_compiler_error(
                "contract constraint type '" ~ constraint['type'] ~ "' on " ~ model['name']
                ~ " is not supported by macros/contracts/create_table_as.sql: use not_null,"
                ~ " primary_key, unique or check") -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(clauses) }}
{% endmacro %}
