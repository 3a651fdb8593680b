{#-
    dbt stamps invalidated (deleted) rows and check-strategy versions with the snapshot's
    current time. When `runner build` replays batches one by one it sets
    var('as_of_batch'); the time is then the end of that batch day, so replaying five
    batches at once writes exactly the history that five daily builds would have.
-#}
{% macro postgres__snapshot_get_time() -%}
    {%- if var('as_of_batch', none) -%}
        ('{{ var("as_of_batch") }}'::date + interval '1 day' - interval '1 microsecond')::timestamp
    {%- else -%}
        now()::timestamp without time zone
    {%- endif -%}
{%- endmacro %}
