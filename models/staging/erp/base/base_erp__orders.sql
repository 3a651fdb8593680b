-- Indexed by order too: the incremental marts find every version of a changed order
-- (macros/marts/groups_left_by_changed_lines.sql).
{{ config(indexes=[
    {'columns': ['_load_order'], 'unique': True},
    {'columns': ['order_id']},
]) }}
with

source as (

    {{ unparsed_bronze_rows(source('erp', 'erp_orders')) }}

),

-- Computed once per row and in parallel workers: `offset 0` is a fence against inlining
-- into the checks below, not paging (AM09 off; see DECISIONS.md, build speed).
renamed as (

    select
        {{ safe_integer('order_id') }} as order_id,
        {{ clean_text('customer_id') }} as customer_id,
        {{ clean_text('store_id') }} as store_id,
        {{ fold_lower(clean_text('status')) }} as order_status,
        {{ fold_upper(clean_text('currency')) }} as currency_code,
        {{ clean_text(optional_column(source('erp', 'erp_orders'), 'promo_code')) }}
            as promo_code,
        order_ts as ordered_at_raw,
        {{ safe_timestamp('order_ts') }} as ordered_at,
        {{ safe_timestamp('updated_at') }} as updated_at,
        source as _source_row,
        _source_file,
        _batch_date,
        _loaded_at,
        _load_order
    from source
    offset 0  -- noqa: AM09

),

checked as (

    select
        *,
        case
            when order_id is null then 'missing_key'
            when octet_length(customer_id) > {{ var('max_key_length') }}
                or octet_length(store_id) > {{ var('max_key_length') }}
                then 'value_too_long'
            when customer_id is null or store_id is null then 'missing_required_field'
            when order_status not in {{ accepted_values_list('order_status') }}
                then 'unknown_status'
            when currency_code not in {{ accepted_values_list('currency_code') }}
                then 'unknown_currency'
            when ordered_at is null or updated_at is null then 'unparseable_date'
            when ordered_at < '{{ var("company_founded_date") }}'::date
                or ordered_at > _batch_date + interval '1 day'
                then 'date_out_of_range'
        end as rejection_reason
    from renamed

),

final as (

    select
        order_id,
        customer_id,
        store_id,
        order_status,
        currency_code,
        promo_code,
        ordered_at_raw,
        ordered_at,
        updated_at,
        {{ checked_row_columns() }}
    from checked

)

select * from final
