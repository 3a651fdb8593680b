{#-
    dbt stamps invalidated (deleted) rows and check-strategy versions with the snapshot's
    current time. Here that time is the end of a batch day, not the wall clock, so the
    history does not depend on when builds ran: replaying five batches at once
    (`replay_snapshots`) writes exactly the history that five daily builds would have.
    A snapshot run applies the newest batch the loader recorded in bronze.load_log; now()
    when there is none.
-#}
{% macro postgres__snapshot_get_time() -%}
    {%- set load_log = adapter.get_relation(target.database, 'bronze', 'load_log') if execute -%}
    {%- if load_log -%}
        coalesce(
            {{ batch_end_time('(select max(batch_date) from ' ~ load_log ~ " where status = 'loaded')") }},
            localtimestamp
        )
    {%- else -%}
        localtimestamp
    {%- endif -%}
{%- endmacro %}

{#- The snapshot clock for a batch: the last microsecond of its day. -#}
{% macro batch_end_time(batch_date) -%}
    ({{ batch_date }} + interval '1 day' - interval '1 microsecond')::timestamp
{%- endmacro %}
