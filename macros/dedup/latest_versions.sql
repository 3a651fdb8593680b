{#-
    The latest version of each business key: one row per key from `relation`, chosen by
    `order_by` (newest first). Used by the staging models and, with an as-of filter, by the
    snapshots, so "which version wins" is decided in one place. `keys` (SQL: a subquery of
    key values) ranks only those keys' rows.
-#}
{% macro latest_versions(relation, key, order_by, where='true', keys=none) -%}
    select ranked.*
    from (
        select
            candidates.*,
            row_number() over (partition by {{ key }} order by {{ order_by }}) as version_rank
        from {{ relation }} as candidates
        where {{ where }}
        {%- if keys %} and ({{ key }}) in {{ keys }}{% endif %}
    ) as ranked
    where ranked.version_rank = 1
{%- endmacro %}

{#-
    The accepted rows a staging model must merge on an incremental run: base rows loaded
    since its newest merged row (by load order), plus rows of the last
    var('order_lateness_days') days of batches that are newer than the version merged for
    their key (or whose key is missing): lines accepted late, once their order or product
    arrived, keep their old load order; `also` (SQL on `parsed`) adds older rows the same
    way (lines a late batch accepted). Every row on a full build. Reading the batch
    window whole instead re-merged a full monthly batch on the first day after a backfill.
-#}
{% macro unmerged_rows(relation, key, where='true', also=none) -%}
    select * from {{ relation }} as parsed
    where {{ where }}
    {%- if is_incremental() %}
        {%- set merged_up_to = previous_run_value('max(_load_order)', default='0') %}
        and parsed._load_order > {{ merged_up_to }}
    union all
    select * from {{ relation }} as parsed
    where {{ where }}
        and parsed._load_order <= {{ merged_up_to }}
        and (
            parsed._batch_date
            >= {{ previous_run_value('max(_batch_date)') }} - {{ var('order_lateness_days') }}
            {%- if also %}
            or {{ also }}
            {%- endif %}
        )
        and not exists (
            select from {{ this }} as merged
            where
                merged.{{ key }} = parsed.{{ key }}
                and (merged.updated_at, merged._load_order)
                >= (parsed.updated_at, parsed._load_order)
        )
    {%- endif %}
{%- endmacro %}
