-- Indexed by line and order too: the incremental marts find every version of a changed
-- line and of its orders (macros/marts/groups_left_by_changed_lines.sql).
{{ config(indexes=[
    {'columns': ['_load_order'], 'unique': True},
    {'columns': ['order_line_id']},
    {'columns': ['order_id']},
]) }}
-- Order lines with their hard rules, including the two that look at other entities: the
-- product and the order must arrive within var('order_lateness_days') of the line.
-- Until that window closes a line without them is 'awaiting_*' and is re-checked on
-- every run; after it, 'unknown_*' is final, unless a late batch may bring its order or
-- product (macros/incremental/late_batches.sql). The rule depends only on arrival dates,
-- so incremental runs and full refreshes agree.
with

source as (

    {%- set late = within_reach_of_late_batches('_batch_date') %}
    {{ unparsed_bronze_rows(
        source('erp', 'erp_order_lines'), recheck="rejection_reason like 'awaiting%'" ~ (
            " or (rejection_reason like 'unknown%' and " ~ late ~ ")" if late else "")
    ) }}

),

-- Not materialized: each reader below filters it differently.
orders as not materialized (

    select * from {{ ref('base_erp__orders') }}

),

products as (

    select * from {{ ref('base_erp__products') }}

),

-- Computed once per row and in parallel workers: `offset 0` is a fence against inlining
-- into the checks below, not paging (AM09 off; see DECISIONS.md, "Base models").
renamed as (

    select
        {{ safe_integer('order_line_id') }} as order_line_id,
        {{ safe_integer('order_id') }} as order_id,
        {{ safe_integer('line_number') }} as line_number,
        {{ clean_text('product_id') }} as product_id,
        {{ safe_integer('quantity') }} as quantity,
        {{ safe_numeric('unit_price') }} as unit_price,
        coalesce({{ safe_numeric('discount_amount') }}, 0) as discount_amount,
        {{ safe_timestamp('updated_at') }} as updated_at,
        source as _source_row,
        _source_file,
        _batch_date,
        _loaded_at,
        _load_order
    from source
    offset 0  -- noqa: AM09

),

order_arrivals as (

    select
        order_id,
        min(_batch_date) as first_batch_date
    from orders
    where rejection_reason is null
    {% if is_incremental() %}
        and order_id in (select renamed.order_id from renamed)
    {% endif %}
    group by order_id

),

product_arrivals as (

    select
        product_id,
        min(_batch_date) as first_batch_date
    from products
    where rejection_reason is null
    group by product_id

),

latest_batch as (

    select max(_batch_date) as batch_date from orders

),

checked as (

    select
        renamed.*,
        case
            when renamed.order_line_id is null then 'missing_key'
            when octet_length(renamed.product_id) > {{ var('max_key_length') }}
                then 'value_too_long'
            when renamed.order_id is null or renamed.product_id is null
                or renamed.quantity is null
                then 'missing_required_field'
            when renamed.quantity <= 0 then 'invalid_quantity'
            when renamed.unit_price is null or renamed.unit_price <= 0
                or renamed.discount_amount < 0
                or renamed.discount_amount > renamed.quantity * renamed.unit_price
                then 'invalid_price'
            -- Beyond what gold's integer and money columns (and a sane order) can hold.
            when renamed.quantity > {{ var('max_line_quantity') }}
                or renamed.unit_price > {{ var('max_unit_price_amount') }}
                or renamed.line_number not between 1 and 32767
                then 'value_out_of_range'
            when renamed.updated_at is null then 'unparseable_date'
            when product_arrivals.first_batch_date is null
                or product_arrivals.first_batch_date
                > renamed._batch_date + {{ var('order_lateness_days') }}
                then case
                        when latest_batch.batch_date
                            < renamed._batch_date + {{ var('order_lateness_days') }}
                            then 'awaiting_product'
                        else 'unknown_product'
                    end
            when order_arrivals.first_batch_date is null
                or order_arrivals.first_batch_date
                > renamed._batch_date + {{ var('order_lateness_days') }}
                then case
                        when latest_batch.batch_date
                            < renamed._batch_date + {{ var('order_lateness_days') }}
                            then 'awaiting_order'
                        else 'unknown_order'
                    end
        end as rejection_reason
    from renamed
    cross join latest_batch
    left join order_arrivals
        on renamed.order_id = order_arrivals.order_id
    left join product_arrivals
        on renamed.product_id = product_arrivals.product_id

),

final as (

    select
        order_line_id,
        order_id,
        line_number,
        product_id,
        quantity,
        unit_price,
        discount_amount,
        updated_at,
        {{ checked_row_columns() }}
    from checked

)

select * from final
