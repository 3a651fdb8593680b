{#-
    Uniqueness the database enforces: passes when the model's table has a valid unique
    index (or primary key) on exactly this column, so PostgreSQL rejects a duplicate when
    it is written. A catalog look-up instead of scanning the whole table on every build:
    for incremental silver models that carry such an index. Fails, naming the column, when
    the index is missing (a model built before the index was declared:
    `runner build --full-refresh -s <model>` adds it).
-#}
{% test enforced_unique(model, column_name) %}

select
    '{{ model.schema }}.{{ model.identifier }}' as relation_name,
    '{{ column_name }}' as column_name,
    'no valid unique index on the column' as problem
where not exists (
    select
    from pg_catalog.pg_index as indexes
    inner join pg_catalog.pg_class as tables
        on indexes.indrelid = tables.oid
    inner join pg_catalog.pg_namespace as namespaces
        on tables.relnamespace = namespaces.oid
    inner join pg_catalog.pg_attribute as attributes
        on indexes.indrelid = attributes.attrelid
        and indexes.indkey[0] = attributes.attnum
    where
        namespaces.nspname = '{{ model.schema }}'
        and tables.relname = '{{ model.identifier }}'
        and indexes.indisunique
        and indexes.indisvalid
        and indexes.indnkeyatts = 1
        and indexes.indpred is null
        and attributes.attname = '{{ column_name }}'
)

{% endtest %}
