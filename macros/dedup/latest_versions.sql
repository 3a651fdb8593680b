{#-
    The latest version of each business key: one row per key from `relation`, chosen by
    `order_by` (newest first). Used by the staging models and, with an as-of filter, by the
    snapshots, so "which version wins" is decided in one place.
-#}
{% macro latest_versions(relation, key, order_by, where='true') -%}
    select ranked.*
    from (
        select
            candidates.*,
            row_number() over (partition by {{ key }} order by {{ order_by }}) as version_rank
        from {{ relation }} as candidates
        where {{ where }}
    ) as ranked
    where ranked.version_rank = 1
{%- endmacro %}

{#-
    Filter for the batch a snapshot should see: everything when var('as_of_batch') is not
    set, otherwise only rows loaded in batches up to that date (see `runner build`).
-#}
{% macro as_of_batch_filter(column='_batch_date') -%}
    {%- if var('as_of_batch', none) -%}
        {{ column }} <= '{{ var("as_of_batch") }}'::date
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#-
    Incremental window on the batch watermark: on an incremental run, the batches of the
    last var('order_lateness_days') days before the newest one already built, and anything
    newer; on a full build, everything.
-#}
{% macro batch_lookback_filter(column='_batch_date') -%}
    {%- if is_incremental() -%}
        {{ column }} >= {{ previous_run_value('max(' ~ column ~ ')') }}
        - {{ var('order_lateness_days') }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
