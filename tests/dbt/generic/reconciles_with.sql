{#-
    The model and `compare_to` agree on every measure's total, overall or per group:
    one failing row per group whose totals differ by more than `tolerance`.
    Use for conservation and reconciliation (facts against silver, to the cent).
-#}
{% test reconciles_with(model, compare_to, measures, group_by=[], tolerance=0, model_filter='true', compare_filter='true') %}

{% set keys = group_by if group_by else [] %}
with

model_totals as (

    select
        {% for key in keys %}{{ key }}, {% endfor %}
        {% for measure in measures %}
            coalesce(sum({{ measure }}), 0) as {{ measure }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from {{ model }}
    where {{ model_filter }}
    {% if keys %}group by {{ keys | join(', ') }}{% endif %}

),

compare_totals as (

    select
        {% for key in keys %}{{ key }}, {% endfor %}
        {% for measure in measures %}
            coalesce(sum({{ measure }}), 0) as {{ measure }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from {{ compare_to }}
    where {{ compare_filter }}
    {% if keys %}group by {{ keys | join(', ') }}{% endif %}

)

select
    {% for key in keys %}coalesce(model_totals.{{ key }}, compare_totals.{{ key }}) as {{ key }}, {% endfor %}
    {% for measure in measures %}
        model_totals.{{ measure }} as model_{{ measure }},
        compare_totals.{{ measure }} as compare_{{ measure }}{% if not loop.last %},{% endif %}
    {% endfor %}
from model_totals
full outer join compare_totals
    on {% for key in keys %}model_totals.{{ key }} is not distinct from compare_totals.{{ key }}{% if not loop.last %} and {% endif %}{% else %}true{% endfor %}
where
    {% for measure in measures %}
        abs(coalesce(model_totals.{{ measure }}, 0) - coalesce(compare_totals.{{ measure }}, 0)) > {{ tolerance }}
        {% if not loop.last %}or{% endif %}
    {% endfor %}

{% endtest %}
