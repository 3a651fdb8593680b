-- Gold keys are primary-key constraints in enforced contracts, not unique/not_null tests:
-- PostgreSQL rejects a duplicate or null key when the row is written. This checks the
-- catalog that each declared key exists. An incremental model built before its key was
-- declared has none: `runner build --full-refresh -s <model>` adds it. A model declaring
-- a key but missing from `keyed` below (its ref makes this test run after the model)
-- stops the test with an error naming it.
{% set keyed = [
    ref('dim_date'), ref('dim_customers'), ref('dim_products'), ref('dim_stores'),
    ref('fct_orders'), ref('fct_order_lines'),
    ref('agg_sales_daily'), ref('agg_sales_monthly'), ref('agg_sales_product_monthly'),
    ref('rpt_business_kpis_monthly'), ref('rpt_cohort_retention'),
    ref('rpt_customer_lifetime_value'), ref('rpt_data_quality_batches'),
] %}
{% set declared = [] %}
{% if execute %}
    {% for node in graph.nodes.values()
        if node.resource_type == 'model' and node.package_name == project_name
        and node.config.contract.enforced %}
        {% set column_keys = node.columns.values() | map(attribute='constraints')
            | sum(start=[]) | selectattr('type', 'equalto', 'primary_key') | list %}
        {% set model_keys = node.constraints
            | selectattr('type', 'equalto', 'primary_key') | list %}
        {% if column_keys or model_keys %}
            {% do declared.append((node.schema, node.alias)) %}
        {% endif %}
    {% endfor %}
    {% set listed = [] %}
    {% for relation in keyed %}
        {% do listed.append((relation.schema, relation.identifier)) %}
    {% endfor %}
    {% for schema_name, table_name in declared if (schema_name, table_name) not in listed %}
        {% do exceptions.raise_compiler_error(
            schema_name ~ "." ~ table_name ~ " declares a primary key: add ref('" ~ table_name
            ~ "') to `keyed` in assert_gold_primary_keys_exist.sql") %}
    {% endfor %}
{% endif %}
with

declared as (

    select *
    from (
        values
        {% for schema_name, table_name in declared %}
            ('{{ schema_name }}', '{{ table_name }}'),
        {% endfor %}
        (null, null)
    ) as declared_keys (schema_name, table_name)
    where table_name is not null

),

primary_keys as (

    select
        namespaces.nspname as schema_name,
        catalog_tables.relname as table_name
    from pg_catalog.pg_constraint as key_constraints
    inner join pg_catalog.pg_class as catalog_tables
        on key_constraints.conrelid = catalog_tables.oid
    inner join pg_catalog.pg_namespace as namespaces
        on catalog_tables.relnamespace = namespaces.oid
    where key_constraints.contype = 'p'

),

missing as (

    select
        declared.schema_name,
        declared.table_name,
        'declared primary key missing in the database' as problem
    from declared
    where not exists (
            select from primary_keys
            where primary_keys.schema_name = declared.schema_name
                and primary_keys.table_name = declared.table_name
        )

)

select * from missing
