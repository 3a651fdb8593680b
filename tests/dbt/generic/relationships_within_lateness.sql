{#-
    Referential integrity with a tolerance for late data: every value of the column must
    exist in to.field, except in rows newer than the latest `timestamp_column` minus
    `lateness` (their parent may still be on its way). Nulls pass.
-#}
{% test relationships_within_lateness(model, column_name, to, field, timestamp_column, lateness="interval '3 days'") %}

with

children as (

    select
        {{ column_name }} as child_key,
        {{ timestamp_column }} as arrived_at
    from {{ model }}
    where {{ column_name }} is not null

),

cutoff as (

    select max(arrived_at) - {{ lateness }} as settled_before
    from children

),

parents as (

    select {{ field }} as parent_key from {{ to }}

)

select children.child_key, children.arrived_at
from children
cross join cutoff
left join parents
    on children.child_key = parents.parent_key
where parents.parent_key is null
    and children.arrived_at <= cutoff.settled_before

{% endtest %}
