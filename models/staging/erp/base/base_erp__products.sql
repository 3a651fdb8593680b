with

source as (

    {{ unparsed_bronze_rows(source('erp', 'erp_products')) }}

),

-- Computed once per row and in parallel workers: `offset 0` is a fence against inlining
-- into the checks below, not paging (AM09 off; see DECISIONS.md, build speed).
renamed as (

    select
        {{ clean_text('product_id') }} as product_id,
        {{ clean_text('sku') }} as sku,
        {{ clean_text('product_name') }} as product_name_raw,
        {{ title_case(clean_text('product_name')) }} as product_name,
        {{ clean_text('category') }} as category,
        {{ clean_text('subcategory') }} as subcategory,
        {{ clean_text('brand') }} as brand,
        unit_price as unit_price_raw,
        {{ fold_upper(clean_text('currency')) }} as currency_code,
        {{ safe_numeric('unit_price') }} as unit_price,
        ({{ safe_numeric('unit_price') }})::numeric(18, 2) as unit_price_amount,
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
            -- The category is part of the sales aggregates' primary keys.
            when octet_length(product_id) > {{ var('max_key_length') }}
                or octet_length(category) > {{ var('max_key_length') }}
                then 'value_too_long'
            when product_id is null then 'missing_key'
            when product_id = '{{ var("missing_member_key") }}' then 'reserved_key'
            when product_name_raw is null or category is null
                or nullif(btrim(unit_price_raw), '') is null
                then 'missing_required_field'
            -- Checked after rounding to the cent: 0.004 would be stored as 0.00.
            when unit_price is null
                or unit_price_amount < {{ var('min_unit_price_amount') }}
                then 'invalid_price'
            when unit_price > {{ var('max_unit_price_amount') }} then 'value_out_of_range'
            when updated_at is null then 'unparseable_date'
        end as rejection_reason
    from renamed

),

final as (

    select
        product_id,
        sku,
        product_name_raw,
        product_name,
        category,
        subcategory,
        brand,
        unit_price_raw,
        currency_code,
        unit_price,
        unit_price_amount,
        updated_at,
        {{ checked_row_columns() }}
    from checked

)

select * from final
