with

source as (

    select * from {{ source('erp', 'erp_stores') }}

),

renamed as (

    select
        {{ clean_text('store_id') }} as store_id,
        {{ clean_text('store_name') }} as store_name,
        lower({{ clean_text('channel') }}) as channel,
        {{ clean_text('city') }} as city,
        lower({{ clean_text('country') }}) as country_alias,
        {{ safe_date('btrim(opened_date)') }} as opened_date,
        to_jsonb(source) - array['_source_file', '_batch_date', '_loaded_at', '_load_order']
        as raw_record,
        _source_file,
        _batch_date,
        _loaded_at,
        _load_order
    from source

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

    select * from checked

)

select * from final
