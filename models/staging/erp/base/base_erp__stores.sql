with

source as (

    {{ unparsed_bronze_rows(source('erp', 'erp_stores')) }}

),

country_aliases as (

    {{ country_aliases() }}

),

renamed as (

    select
        {{ clean_text('source.store_id') }} as store_id,
        {{ clean_text('source.store_name') }} as store_name,
        {{ fold_lower(clean_text('source.channel')) }} as channel,
        {{ title_case(clean_text('source.city')) }} as city,
        country_aliases.country_code,
        country_aliases.region,
        {{ safe_date('btrim(source.opened_date)') }} as opened_date,
        source as _source_row,
        source._source_file,
        source._batch_date,
        source._loaded_at,
        source._load_order
    from source
    left join country_aliases
        on {{ lookup_key('source.country') }} = country_aliases.alias_key

),

checked as (

    select
        *,
        case
            when octet_length(store_id) > {{ var('max_key_length') }} then 'value_too_long'
            when store_id is null then 'missing_key'
            when store_id = '{{ var("missing_member_key") }}' then 'reserved_key'
            when store_name is null or channel is null then 'missing_required_field'
            when channel not in {{ accepted_values_list('sales_channel') }} then 'unknown_channel'
            when country_code is null then 'unknown_country'
        end as rejection_reason
    from renamed

),

final as (

    select
        store_id,
        store_name,
        channel,
        city,
        country_code,
        region,
        opened_date,
        {{ checked_row_columns() }}
    from checked

)

select * from final
