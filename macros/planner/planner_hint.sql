{#-
    Planner settings for one statement, named by what they ask of the planner. Tuned on
    the embedded 2-core server (the A/B is in BENCHMARKS.md); on another server set the
    var `planner_hints` to false (all off) or to the list of intents to keep.
-#}
{% macro planner_hint(intent) -%}
    {%- set hints = {
        'one_pass_sorted_aggregate':
            'set local max_parallel_workers_per_gather = 0; set local enable_hashagg = off',
        'sequential_reads': 'set local random_page_cost = 4',
        'cheap_parallel_rows': 'set local parallel_tuple_cost = 0.01',
    } -%}
    {%- if intent not in hints -%}
        {%- do exceptions.raise_compiler_error(
            "planner_hint('" ~ intent ~ "') is not a known intent: use one of "
            ~ hints.keys() | sort | join(', ')) -%}
    {%- endif -%}
    {%- set wanted = var('planner_hints', true) -%}
    {%- if wanted is sameas true or (wanted is iterable and wanted is not string and intent in wanted) -%}
        {{ return(hints[intent]) }}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}
