-- The quarantine: every bronze row that breaks a hard rule, with the rule and the raw
-- record, so nothing is dropped silently. Rebuilt on every run, so rows 'awaiting' a
-- late order leave it once the order arrives.
{% set entities = [
    ('customer', 'base_crm__customers', 'customer_id'),
    ('product', 'base_erp__products', 'product_id'),
    ('store', 'base_erp__stores', 'store_id'),
    ('order', 'base_erp__orders', 'order_id'),
    ('order_line', 'base_erp__order_lines', 'order_line_id'),
] %}
with

{% for entity, model, key in entities %}
    {{ model }} as (

        select
            '{{ entity }}' as entity,
            {{ key }}::text as business_key,
            rejection_reason,
            raw_record,
            _source_file,
            _batch_date,
            _load_order
        from {{ ref(model) }}
        where rejection_reason is not null

    ),

{% endfor %}
unioned as (

    {% for entity, model, key in entities %}
        select * from {{ model }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select * from unioned

)

select * from final
