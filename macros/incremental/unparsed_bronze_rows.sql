{#-
    Filter for a base_ model's source: on an incremental run, only bronze rows loaded
    since the last run (by the load-order sequence), plus the rows already parsed that
    match `recheck` (rules whose answer can still change); on a full build, every row.
    So each bronze row is typed and checked once, not once per consumer.
-#}
{% macro unparsed_bronze_rows(recheck=none) -%}
    {%- if is_incremental() -%}
        _load_order > (select coalesce(max(parsed._load_order), 0) from {{ this }} as parsed)
        {%- if recheck %}
            or _load_order in (
                select parsed._load_order from {{ this }} as parsed where {{ recheck }}
            )
        {%- endif -%}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
