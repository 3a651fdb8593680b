with

source as (

    {{ unparsed_bronze_rows(source('erp', 'erp_stores')) }}

),

country_codes as (

    select * from {{ ref('country_codes') }}

),

renamed as (

    select
        {{ clean_text('source.store_id') }} as store_id,
        {{ clean_text('source.store_name') }} as store_name,
        lower({{ clean_text('source.channel') }}) as channel,
        initcap(lower({{ clean_text('city') }})) as city,
        country_codes.country_code,
        country_codes.region,
        {{ safe_date('btrim(source.opened_date)') }} as opened_date,
        source as _source_row,
        source._source_file,
        source._batch_date,
        source._loaded_at,
        source._load_order
    from source
    left join country_codes
        on lower({{ clean_text('source.country') }}) = country_codes.country_alias

),

checked as (

    select
        *,
        case
            when store_id is null then 'missing_key'
            when store_name is null or channel is null then 'missing_required_field'
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
