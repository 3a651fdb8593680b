-- Row conservation, per entity: every bronze row was parsed into its base_ model, and
-- every parsed row is in silver, in the quarantine, or a duplicate collapsed into the
-- winning version (valid rows minus distinct valid keys).
-- "Parsed" compares each batch still in bronze with the base_ model's rows of that batch:
-- the same count and the same sum of load orders (unique per row). A per-batch aggregate
-- on each side costs a fraction of joining every bronze row to its parsed row, and rows
-- whose bronze partition was retired (`runner partitions retire`) stay out of it.
{% set entities = [
    ('customer', source('crm', 'crm_customers'), 'base_crm__customers', 'stg_crm__customers', 'customer_id'),
    ('product', source('erp', 'erp_products'), 'base_erp__products', 'stg_erp__products', 'product_id'),
    ('store', source('erp', 'erp_stores'), 'base_erp__stores', 'stg_erp__stores', 'store_id'),
    ('order', source('erp', 'erp_orders'), 'base_erp__orders', 'stg_erp__orders', 'order_id'),
    ('order_line', source('erp', 'erp_order_lines'), 'base_erp__order_lines', 'stg_erp__order_lines', 'order_line_id'),
] %}
with

{% for entity, bronze, base, staging, key in entities %}
    {{ entity }}_counts as (

        select
            '{{ entity }}' as entity,
            (
                select count(*)
                from (
                    select
                        _batch_date,
                        count(*) as row_count,
                        sum(_load_order) as load_order_sum
                    from {{ bronze }}
                    group by _batch_date
                ) as bronze_batch
                left join (
                    select
                        _batch_date,
                        count(*) as row_count,
                        sum(_load_order) as load_order_sum
                    from {{ ref(base) }}
                    group by _batch_date
                ) as parsed_batch
                    on bronze_batch._batch_date = parsed_batch._batch_date
                where
                    parsed_batch.row_count is distinct from bronze_batch.row_count
                    or parsed_batch.load_order_sum is distinct from bronze_batch.load_order_sum
            ) as batches_not_fully_parsed,
            (select count(*) from {{ ref(base) }}) as parsed_rows,
            (select count(*) from {{ ref(staging) }}) as silver_rows,
            (
                select count(*) from {{ ref('int_rejected_rows') }}
                where entity = '{{ entity }}'
            ) as rejected_rows,
            (
                select count(*) - count(distinct {{ key }}) from {{ ref(base) }}
                where rejection_reason is null
            ) as collapsed_rows

    ),

{% endfor %}
all_counts as (

    {% for entity, bronze, base, staging, key in entities %}
        select * from {{ entity }}_counts
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select *
from all_counts
where batches_not_fully_parsed > 0 or parsed_rows != silver_rows + rejected_rows + collapsed_rows
