-- Row rules in silver and gold are constraints in enforced contracts, not tests:
-- PostgreSQL rejects a duplicate or null key, a null in a not-null column and a value
-- breaking a check (a negative amount, a status outside its list) when the row is
-- written, instead of a test scanning every row again on every build. This checks the
-- catalog that every declared constraint exists. An incremental model built before a
-- constraint was declared lacks it: `runner build --full-refresh -s <model>` adds it. A
-- contracted model missing from `contracted` below (its ref makes this test run after
-- the model) stops the test with an error naming it.
{% set contracted = [
    ref('stg_crm__customers'), ref('stg_erp__products'), ref('stg_erp__stores'),
    ref('stg_erp__orders'), ref('stg_erp__order_lines'), ref('int_rejected_rows'),
    ref('int_quality__customers_by_batch'), ref('int_quality__products_by_batch'),
    ref('int_quality__stores_by_batch'), ref('int_quality__orders_by_batch'),
    ref('int_quality__order_lines_by_batch'),
    ref('dim_date'), ref('dim_customers'), ref('dim_products'), ref('dim_stores'),
    ref('fct_orders'), ref('fct_order_lines'),
    ref('agg_sales_daily'), ref('agg_sales_monthly'), ref('agg_sales_product_monthly'),
    ref('agg_customer_activity_monthly'),
    ref('rpt_business_kpis_monthly'), ref('rpt_cohort_retention'),
    ref('rpt_customer_lifetime_value'), ref('rpt_data_quality_batches'),
] %}
{#- (schema, table, what, column or '', how many) for each declared constraint kind -#}
{% set declared = [] %}
{% if execute %}
    {#- The schema each ref resolves to: under `--defer` (runner ci) an unbuilt model's is
        production's, not the node's own. -#}
    {% set listed = {} %}
    {% for relation in contracted %}
        {% do listed.update({relation.identifier: relation.schema}) %}
    {% endfor %}
    {% for node in graph.nodes.values()
        if node.resource_type == 'model' and node.package_name == project_name
        and node.config.contract.enforced %}
        {% if node.alias not in listed %}
            {% do exceptions.raise_compiler_error(
                node.schema ~ "." ~ node.alias ~ " has an enforced contract: add ref('"
                ~ node.alias ~ "') to `contracted` in assert_contract_constraints_exist.sql") %}
        {% endif %}
        {% set schema = listed[node.alias] %}
        {% set constraints = node.constraints | list %}
        {% for column in node.columns.values() %}
            {% for constraint in column.constraints %}
                {% if constraint.type == 'not_null' %}
                    {% do declared.append((schema, node.alias, 'not_null', column.name, 1)) %}
                {% else %}
                    {% do constraints.append(constraint) %}
                {% endif %}
            {% endfor %}
        {% endfor %}
        {% for kind in ['primary_key', 'check'] %}
            {% set count = constraints | selectattr('type', 'equalto', kind) | list | length %}
            {% if count %}
                {% do declared.append((schema, node.alias, kind, '', count)) %}
            {% endif %}
        {% endfor %}
    {% endfor %}
{% endif %}
with

declared as (

    select *
    from (
        values
        {% for schema_name, table_name, kind, column_name, how_many in declared %}
            (
                '{{ schema_name }}',
                '{{ table_name }}',
                '{{ kind }}',
                '{{ column_name }}',
                {{ how_many }}
            ),
        {% endfor %}
        (null, null, null, null, 0)
    ) as declared_constraints (schema_name, table_name, kind, column_name, how_many)
    where table_name is not null

),

existing as (

    select
        namespaces.nspname as schema_name,
        catalog_tables.relname as table_name,
        case table_constraints.contype when 'p' then 'primary_key' else 'check' end as kind,
        '' as column_name,
        count(*) as how_many
    from pg_catalog.pg_constraint as table_constraints
    inner join pg_catalog.pg_class as catalog_tables
        on table_constraints.conrelid = catalog_tables.oid
    inner join pg_catalog.pg_namespace as namespaces
        on catalog_tables.relnamespace = namespaces.oid
    where table_constraints.contype in ('p', 'c')
    group by namespaces.nspname, catalog_tables.relname, table_constraints.contype

    union all

    select
        namespaces.nspname as schema_name,
        catalog_tables.relname as table_name,
        'not_null' as kind,
        table_columns.attname::text as column_name,
        1 as how_many
    from pg_catalog.pg_attribute as table_columns
    inner join pg_catalog.pg_class as catalog_tables
        on table_columns.attrelid = catalog_tables.oid
    inner join pg_catalog.pg_namespace as namespaces
        on catalog_tables.relnamespace = namespaces.oid
    where table_columns.attnotnull and table_columns.attnum > 0

),

missing as (

    select
        declared.schema_name,
        declared.table_name,
        case declared.kind
            when 'primary_key' then 'declared primary key missing in the database'
            when 'not_null' then 'declared not-null constraint missing on ' || declared.column_name
            else declared.how_many || ' declared check constraint(s), '
                || coalesce(existing.how_many, 0) || ' in the database'
        end as problem
    from declared
    left join existing
        on
            declared.schema_name = existing.schema_name
            and declared.table_name = existing.table_name
            and declared.kind = existing.kind
            and declared.column_name = existing.column_name
    where coalesce(existing.how_many, 0) < declared.how_many

)

select * from missing
