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

parents as (

    select {{ field }} as parent_key from {{ to }}

)

-- The cutoff is a scalar subquery, computed once. As a joined one-row CTE the planner
-- could put its aggregate inside a nested loop and recompute it for every orphan row.
select children.child_key, children.arrived_at
from children
where
    not exists (
        select from parents
        where parents.parent_key = children.child_key
    )
    and children.arrived_at <= (
        select max(latest.arrived_at) - {{ lateness }} from children as latest
    )

{% endtest %}
