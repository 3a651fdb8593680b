{#-
    Apply new load batches to every snapshot in one set-based pass, as if `dbt snapshot`
    had run after each of them (`runner build` calls this with every batch the snapshots
    have not seen, then builds without the snapshot nodes; a `dbt snapshot` run afterwards
    finds nothing new). dbt records only the state it sees, so several batches
    snapshotted at once would merge their changes into one version; running dbt once per
    batch kept the history right but cost about a second per batch.

    For each snapshot and each batch, the state is the snapshot's own SQL as of that batch
    (macros/snapshots/snapshot_states.sql). Walking each key through the batches in order,
    with its current version in the snapshot first, gives dbt's rules exactly:
    - a run is a stretch of consecutive batches in which the key is present; a key that
      goes missing (deleted) closes its open version at the end of that batch's day
      (hard_deletes='invalidate'), and a key that comes back starts a new version;
    - timestamp strategy: a new version when `updated_at` is newer than every state seen
      in the run so far (dbt: dbt_valid_from < updated_at), valid from `updated_at`;
    - check strategy: a new version when a check column differs from the previous batch's
      state, valid from the end of the batch day;
    - a version is valid until the next version of its run starts, or its run ends.
    dbt_scd_id is dbt's own hash of the key and the version's start. Everything, and the
    batches and loaded files recorded in `audit_schema`.snapshot_batches and
    .snapshot_files, commits in one transaction: a failed replay leaves the snapshots as
    they were. A file loaded for a batch already applied is not in snapshot_files, so the
    runner replays every batch again (`rebuild`), as for a late batch.
-#}
{% macro replay_snapshots(batches, audit_schema, rebuild=false) %}
    {#- rebuild: start from empty snapshots and replay every batch (late batches). -#}
    {%- if rebuild %}
        {%- call statement('forget_replayed_batches') %}
            delete from {{ audit_schema }}.snapshot_batches;
            delete from {{ audit_schema }}.snapshot_files
        {%- endcall %}
    {%- endif %}
    {#- Each snapshot's state, and the rows it reads: a key's state can change only in a
        batch that brings rows for that key, so only those (key, batch) pairs are walked. -#}
    {%- set replayed = {
        'snp_crm__customers': {'state': crm_customers_as_of, 'rows': ref('base_crm__customers')},
        'snp_erp__products': {'state': erp_products_as_of, 'rows': ref('base_erp__products')},
        'snp_erp__stores': {'state': erp_stores_as_of, 'rows': ref('base_erp__stores')},
    } -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'snapshot' and node.package_name == project_name %}
        {%- if node.name not in replayed %}
            {{ exceptions.raise_compiler_error(
                "snapshot " ~ node.name ~ " has no state macro for the replay: write one in "
                "macros/snapshots/snapshot_states.sql and add it to replay_snapshots") }}
        {%- endif %}
        {%- set started = modules.datetime.datetime.now() %}
        {%- set existing = adapter.get_relation(node.database, node.schema, node.alias) %}
        {%- if rebuild and existing is not none %}
            {%- call statement('empty_' ~ node.name) %}
                truncate table {{ existing }}
            {%- endcall %}
        {%- endif %}
        {%- set counts = replay_snapshot(
            node, replayed[node.name].state, replayed[node.name].rows, batches) %}
        {{ log(node.name ~ ": " ~ counts.inserted ~ " versions added, " ~ counts.closed
               ~ " current versions closed, over " ~ batches | length ~ " batches in "
               ~ (modules.datetime.datetime.now() - started).total_seconds() | round(1)
               ~ " s", info=true) }}
    {%- endfor %}
    {%- call statement('record_replayed_batches') %}
        insert into {{ audit_schema }}.snapshot_batches (batch_date)
        values {% for batch in batches %}({{ batch_literal(batch) }}){{ ", " if not loop.last }}{% endfor %};

        insert into {{ audit_schema }}.snapshot_files (file_name, checksum_sha256, batch_date)
        select file_name, checksum_sha256, batch_date
        from bronze.load_log
        where
            status = 'loaded'
            and batch_date in (
                {%- for batch in batches %}{{ batch_literal(batch) }}{{ ", " if not loop.last }}{% endfor -%}
            )
        on conflict (file_name) do update set
            checksum_sha256 = excluded.checksum_sha256,
            batch_date = excluded.batch_date,
            applied_at = now()
    {%- endcall %}
    {%- do adapter.commit() %}
{% endmacro %}

{% macro batch_literal(batch) -%}
    {%- do modules.datetime.date.fromisoformat(batch) -%}  {#- raises on anything but a date -#}
    '{{ batch }}'::date
{%- endmacro %}

{% macro replay_snapshot(node, state_sql, source_rows, batches) %}
    {%- set target = api.Relation.create(
        database=node.database, schema=node.schema, identifier=node.alias, type='table') %}
    {%- set key = node.config.unique_key %}
    {%- set by_time = node.config.strategy == 'timestamp' %}
    {%- set batch_rows %}
        (values
        {%- for batch in batches %}
            ({{ loop.index }}, {{ batch_literal(batch) }}){{ "," if not loop.last }}
        {%- endfor %}
        ) as replayed (step, batch_date)
    {%- endset %}

    {%- if adapter.get_relation(target.database, target.schema, target.identifier) is none %}
        {%- call statement('create_snapshot_table') %}
            create schema if not exists {{ target.schema }};
            -- dbt's own layout: the state's columns, then dbt_scd_id, dbt_updated_at,
            -- dbt_valid_from and dbt_valid_to, typed like the version start.
            create table {{ target }} as
            select
                state.*,
                null::text as dbt_scd_id,
                {%- for column in ['dbt_updated_at', 'dbt_valid_from', 'dbt_valid_to'] %}
                {{ version_start(node, 'state', batch_end_time('replayed.batch_date')) }} as {{ column }}
                {{- "," if not loop.last }}
                {%- endfor %}
            from {{ batch_rows }}
            cross join lateral ({{ state_sql('replayed.batch_date') }}) as state
            with no data
        {%- endcall %}
    {%- endif %}

    {%- set columns = adapter.get_columns_in_relation(target)
        | map(attribute='name') | reject('in', ['dbt_scd_id', 'dbt_updated_at',
            'dbt_valid_from', 'dbt_valid_to']) | list %}
    {%- set column_list = columns | join(', ') %}
    {%- set changed = node.config.check_cols | join(', ') if not by_time %}
    {%- set result_table = 'replay_' ~ node.name %}

    {%- call statement(result_table, fetch_result=True) %}
        -- Each key with rows in a replayed batch, at that batch's step. A table with
        -- statistics: the base model's are older than the batch just parsed, and the
        -- planner would take its keys for one row (a nested loop over every version).
        create temporary table {{ result_table }}_keys on commit drop as
        select distinct rows.{{ key }}, replayed.step, replayed.batch_date
        from {{ source_rows }} as rows
        inner join {{ batch_rows }} on rows._batch_date = replayed.batch_date;

        analyze {{ result_table }}_keys;

        create temporary table {{ result_table }} on commit drop as
        with

        touched as (

            select * from {{ result_table }}_keys

        ),

        states as (

            -- Each batch's state of the keys it touched only: the cost follows the rows
            -- of those keys, not every row loaded up to the batch.
            select replayed.step, state.*
            from {{ batch_rows }}
            cross join lateral ({{ state_sql('replayed.batch_date',
                '(select touched.' ~ key ~ ' from touched where touched.step = replayed.step)'
            ) }}) as state

        ),

        steps as (

            -- The key's current version is step 0; then its state at each batch that
            -- touched it, missing (deleted) when the state has no row for it. A key no
            -- replayed batch touched keeps its state, so it is left out altogether.
            select
                {{ key }}, 0 as step, null::timestamp as batch_time, true as present,
                dbt_scd_id as current_scd_id
                {%- for column in columns if column != key %}, {{ column }}{% endfor %}
            from {{ target }}
            where
                dbt_valid_to is null
                and {{ key }} in (select touched.{{ key }} from touched)
            union all
            select
                touched.{{ key }}, touched.step, {{ batch_end_time('touched.batch_date') }},
                states.{{ key }} is not null, null
                {%- for column in columns if column != key %}, states.{{ column }}{% endfor %}
            from touched
            left join states using ({{ key }}, step)

        ),

        boundaries as (

            -- A run: consecutive steps in which the key is present. It ends, closing its
            -- open version, at the first step the key is missing.
            select
                *,
                present and lag(present) over by_key is distinct from true as starts_run,
                case when present and not lead(present) over by_key
                    then lead(batch_time) over by_key end as run_closed_at
            from steps
            window by_key as (partition by {{ key }} order by step)

        ),

        runs as (

            select
                *,
                sum(starts_run::int) over (
                    partition by {{ key }} order by step rows unbounded preceding
                ) as run_number
            from boundaries

        ),

        changes as (

            select
                *,
                step = 0 or lag(step) over earlier_in_run is null or (
                {%- if by_time %}
                    {{ node.config.updated_at }} > max({{ node.config.updated_at }}) over earlier_in_run
                {%- else %}
                    row({{ changed }}) is distinct from lag(row({{ changed }})) over earlier_in_run
                {%- endif %}
                ) as is_version,
                max(run_closed_at) over (partition by {{ key }}, run_number) as run_ends_at
            from runs
            where present
            window earlier_in_run as (
                partition by {{ key }}, run_number order by step
                rows between unbounded preceding and 1 preceding
            )

        ),

        versions as (

            select
                *,
                {{ version_start(node, 'changes', 'changes.batch_time') }} as valid_from
            from changes
            where is_version

        )

        select
            *,
            coalesce(lead(valid_from) over (
                partition by {{ key }}, run_number order by step
            ), run_ends_at) as valid_to
        from versions;

        update {{ target }} as snapshot
        set dbt_valid_to = {{ result_table }}.valid_to
        from {{ result_table }}
        where
            {{ result_table }}.step = 0
            and {{ result_table }}.valid_to is not null
            and snapshot.dbt_scd_id = {{ result_table }}.current_scd_id
            and snapshot.dbt_valid_to is null;

        insert into {{ target }} ({{ column_list }}, dbt_scd_id, dbt_updated_at, dbt_valid_from,
            dbt_valid_to)
        select
            {{ column_list }},
            {{ snapshot_hash_arguments([key, 'valid_from']) }},
            valid_from,
            valid_from,
            valid_to
        from {{ result_table }}
        where step > 0;

        -- Fresh statistics for the models that read the snapshot and for the next replay
        -- (autovacuum has not seen the rows just written).
        analyze {{ target }};

        select
            count(*) filter (where step > 0) as inserted,
            count(*) filter (where step = 0 and valid_to is not null) as closed
        from {{ result_table }}
    {%- endcall %}
    {%- set counts = load_result(result_table).table.rows[0] %}
    {{ return({'inserted': counts['inserted'], 'closed': counts['closed']}) }}
{% endmacro %}

{#- Where a version starts: its updated_at (timestamp strategy) or the batch's end (check). -#}
{% macro version_start(node, row, batch_time) -%}
    {%- if node.config.strategy == 'timestamp' -%}
        {{ row }}.{{ node.config.updated_at }}
    {%- else -%}
        {{ batch_time }}
    {%- endif -%}
{%- endmacro %}
