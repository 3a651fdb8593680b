{#-
    var('accepted_values')[name] as an SQL list, e.g. ('store', 'online'): the base models'
    quarantine rules and the staging contracts' checks read the same list.
-#}
{% macro accepted_values_list(name) -%}
    {%- set values = var('accepted_values')[name] -%}
    ({% for value in values %}'{{ value | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor %})
{%- endmacro %}
