{#-
    The model and `compare_to` agree on every measure's total, overall or per group:
    one failing row per group whose totals differ by more than `tolerance`.
    Use for conservation and reconciliation (facts against silver, to the cent).
    `compare_measures` (same length as `measures`) names the expressions to sum on the
    compare side when they differ, e.g. ['1'] to count rows.
-#}
{% test reconciles_with(model, compare_to, measures, group_by=[], tolerance=0, model_filter='true', compare_filter='true', compare_measures=none) %}
{% set compare_expressions = compare_measures or measures %}

with

-- Each side is summed on its own first, so the union and the final grouping see one row
-- per group instead of every row of both models.
both_sides as (

    select
        {% for key in group_by %}{{ key }}, {% endfor %}
        {% for measure in measures %}
            sum(coalesce({{ measure }}, 0)) as model_{{ measure }},
            0 as compare_{{ measure }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from {{ model }}
    where {{ model_filter }}
    {% if group_by %}group by {{ group_by | join(', ') }}{% endif %}

    union all

    select
        {% for key in group_by %}{{ key }}, {% endfor %}
        {% for measure in measures %}
            0 as model_{{ measure }},
            sum(coalesce({{ compare_expressions[loop.index0] }}, 0)) as compare_{{ measure }}
            {%- if not loop.last %},{% endif %}
        {% endfor %}
    from {{ compare_to }}
    where {{ compare_filter }}
    {% if group_by %}group by {{ group_by | join(', ') }}{% endif %}

),

totals as (

    select
        {% for key in group_by %}{{ key }}, {% endfor %}
        {% for measure in measures %}
            sum(model_{{ measure }}) as model_{{ measure }},
            sum(compare_{{ measure }}) as compare_{{ measure }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from both_sides
    {% if group_by %}group by {{ group_by | join(', ') }}{% endif %}

)

select *
from totals
where
    {% for measure in measures %}
        abs(model_{{ measure }} - compare_{{ measure }}) > {{ tolerance }}
        {% if not loop.last %}or{% endif %}
    {% endfor %}

{% endtest %}
