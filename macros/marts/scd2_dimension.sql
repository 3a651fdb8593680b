{#-
    Turn a dbt snapshot into an SCD Type 2 dimension's version rows: surrogate key (the
    snapshot's version id), validity window in UTC, is_current and is_first_version flags.
    `attributes` are the columns to carry over, as SQL expressions with aliases; `keys`, a
    subquery of business keys, limits the rows to those keys' versions (all of them, so
    the flags stay right).
-#}
{% macro scd2_versions(snapshot_relation, key_name, business_key, attributes, keys=none) -%}
    select
        dbt_scd_id as {{ key_name }},
        {{ business_key }},
        {% for attribute in attributes %}{{ attribute }},
        {% endfor -%}
        dbt_valid_to is null as is_current,
        row_number() over (
            partition by {{ business_key }} order by dbt_valid_from
        ) = 1 as is_first_version,
        {{ as_utc('dbt_valid_from') }} as valid_from,
        {{ as_utc('dbt_valid_to') }} as valid_to,
        false as is_unknown_member
    from {{ snapshot_relation }}
    {%- if keys is not none %}
    where {{ business_key }} in {{ keys }}
    {%- endif %}
{%- endmacro %}

{#- A snapshot timestamp as timestamptz (check-strategy snapshots store local timestamps). -#}
{% macro as_utc(column) -%}
    ({{ column }})::timestamp at time zone 'UTC'
{%- endmacro %}

{#-
    Point-in-time join to an SCD2 dimension: the version valid at `at`, or the first
    version when the fact predates it. Select the key with
    coalesce(<alias>.<key>, <alias>_first.<key>, '-1').
-#}
{% macro point_in_time_join(dimension, alias, business_key, fact_business_key, at) -%}
    left join {{ dimension }} as {{ alias }}
        on {{ fact_business_key }} = {{ alias }}.{{ business_key }}
        and {{ at }} >= {{ alias }}.valid_from
        and {{ at }} < coalesce({{ alias }}.valid_to, 'infinity')
    left join {{ dimension }} as {{ alias }}_first
        on {{ fact_business_key }} = {{ alias }}_first.{{ business_key }}
        and {{ alias }}_first.is_first_version
{%- endmacro %}

{#- Hash personal data with a salt so analysts can count and join but not read it. The salt
    is a session setting (the runner passes it in PGOPTIONS), so it never lands in compiled
    SQL, dbt's artifacts or its log; unset, it is the demo's public 'warehouse'. -#}
{% macro hash_pii(expression) -%}
    encode(sha256(convert_to(
        coalesce(current_setting('warehouse.pii_salt', true), 'warehouse') || {{ expression }},
        'UTF8'
    )), 'hex')
{%- endmacro %}

{#-
    A dimension's unknown member ('-1'), the row a fact points at when the source named a
    customer, product or store the warehouse never received. One convention for every
    dimension: `columns` are the attributes as (name, type) pairs in the versions' order;
    type 'label' (a name or category analysts group by) reads 'Unknown', a boolean is
    false, anything else (codes, hashes, numbers, dates) is null. The row is never current
    (`is_current` false), so counts of current members leave it out, and
    `is_unknown_member` marks it.
-#}
{% macro unknown_member(key_name, business_key, columns) -%}
    select
        '-1' as {{ key_name }},
        '-1' as {{ business_key }},
        {% for name, type in columns -%}
        {%- if type == 'label' -%}
        'Unknown'::text as {{ name }},
        {% elif type == 'boolean' -%}
        false as {{ name }},
        {% else -%}
        null::{{ type }} as {{ name }},
        {% endif -%}
        {%- endfor -%}
        0::bigint as source_load_order,
        false as is_current,
        true as is_first_version,
        '1900-01-01'::timestamptz as valid_from,
        null::timestamptz as valid_to,
        true as is_unknown_member
{%- endmacro %}

{#-
    True for a fact row of `previous` keyed to the unknown member ('-1') of `dimension`
    whose member has since arrived there: the rows an incremental fact must key again.
-#}
{% macro unknown_member_arrived(dimension, alias, business_key, previous='previous_run') -%}
    (
        {{ previous }}.{{ alias }}_key = '-1'
        and {{ previous }}.{{ business_key }} in (
            select {{ dimension }}.{{ business_key }} from {{ dimension }}
        )
    )
{%- endmacro %}
