{#-
    SCD Type 2 integrity, one failing row per problem: a window that does not start before
    it ends, two windows of one key that overlap, a key with more than one open window, or
    an is_current flag that disagrees with an open window.
-#}
{% test scd2_valid_windows(model, business_key, valid_from='valid_from', valid_to='valid_to', current_flag='is_current') %}

with

versions as (

    select
        {{ business_key }} as business_key,
        {{ valid_from }} as valid_from,
        {{ valid_to }} as valid_to,
        {{ current_flag }} as is_current,
        lead({{ valid_from }}) over (
            partition by {{ business_key }} order by {{ valid_from }}
        ) as next_valid_from
    from {{ model }}

),

problems as (

    select business_key::text, valid_from, 'empty or inverted window' as problem
    from versions
    where valid_to is not null and valid_to <= valid_from

    union all

    select business_key::text, valid_from, 'overlaps the next version' as problem
    from versions
    where next_valid_from is not null
        and (valid_to is null or valid_to > next_valid_from)

    union all

    select business_key::text, null, 'more than one open version' as problem
    from versions
    where valid_to is null
    group by business_key
    having count(*) > 1

    union all

    select business_key::text, valid_from, 'is_current disagrees with valid_to' as problem
    from versions
    where is_current is distinct from (valid_to is null)

)

select * from problems

{% endtest %}
