{#-
    The source rows a base_ model must parse: on an incremental run, the bronze rows loaded
    since the last run (by the load-order sequence) plus the rows already parsed that match
    `recheck` (rules whose answer can still change); on a full build, every row. So each
    bronze row is typed and checked once, not once per consumer.
    The re-checked rows are looked up only in the partitions from their oldest batch on.
-#}
{% macro unparsed_bronze_rows(relation, recheck=none) -%}
    select * from {{ relation }}
    {%- if is_incremental() %}
        where _load_order > {{ previous_run_value('max(_load_order)', default='0') }}
        {%- if recheck %}
            union all
            select * from {{ relation }}
            where
                _batch_date >= {{ previous_run_value(
                    'min(_batch_date) filter (where ' ~ recheck ~ ')'
                ) }}
                and _load_order in (
                    select parsed._load_order from {{ this }} as parsed where {{ recheck }}
                )
        {%- endif %}
    {%- endif %}
{%- endmacro %}
