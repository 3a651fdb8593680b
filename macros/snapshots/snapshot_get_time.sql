{#-
    dbt stamps invalidated (deleted) rows and check-strategy versions with the snapshot's
    current time. Here that time is the end of a batch day, not the wall clock, so the
    history does not depend on when builds ran: replaying five batches at once writes
    exactly the history that five daily builds would have.
    While `runner build` replays older batches one by one it sets var('as_of_batch').
    Otherwise (the newest batch, applied by the build itself, or a plain `dbt build`) it is
    the newest batch the loader recorded in bronze.load_log; now() when there is none.
-#}
{% macro postgres__snapshot_get_time() -%}
    {%- set load_log = adapter.get_relation(target.database, 'bronze', 'load_log') if execute -%}
    {%- if var('as_of_batch', none) -%}
        ('{{ var("as_of_batch") }}'::date + interval '1 day' - interval '1 microsecond')::timestamp
    {%- elif load_log -%}
        coalesce(
            (select max(batch_date) from {{ load_log }} where status = 'loaded')
            + interval '1 day' - interval '1 microsecond',
            localtimestamp
        )
    {%- else -%}
        localtimestamp
    {%- endif -%}
{%- endmacro %}
