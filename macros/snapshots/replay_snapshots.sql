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
{% macro replay_snapshots(batches, audit_schema, rebuild=false, late=none, loaded=none) %}
    {#- rebuild: start from empty snapshots and replay every batch (`runner build
        --full-refresh` with late batches). late (with loaded, every loaded batch): re-derive
        only the keys the late batches bring rows for (rederive_snapshot_keys). -#}
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
        {%- if late and not rebuild %}
            {%- set counts = rederive_snapshot_keys(node, replayed[node.name].state,
                replayed[node.name].rows, batches, late, loaded, audit_schema) %}
        {%- else %}
            {%- set counts = replay_snapshot(
                node, replayed[node.name].state, replayed[node.name].rows, batches) %}
        {%- endif %}
        {{ log(node.name ~ ": " ~ counts.inserted ~ " versions added, " ~ counts.closed
               ~ " current versions closed, over " ~ batches | length ~ " batches in "
               ~ (modules.datetime.datetime.now() - started).total_seconds() | round(1)
               ~ " s", info=true) }}
    {%- endfor %}
    {%- call statement('record_replayed_batches') %}
        {%- if late and not rebuild %}
        {{ record_late_batches(late, audit_schema) }};
        {%- endif %}

        insert into {{ audit_schema }}.snapshot_batches (batch_date)
        values {% for batch in batches %}({{ batch_literal(batch) }}){{ ", " if not loop.last }}{% endfor %}
        on conflict (batch_date) do update set applied_at = now();

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

{% macro replay_snapshot(node, state_sql, source_rows, batches, keys=none, label='',
                         before='', after='') %}
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
    {%- set result_table = 'replay_' ~ node.name ~ label %}

    {%- call statement(result_table, fetch_result=True) %}
        {{ before }}

        -- Each key with rows in a replayed batch, at that batch's step. A table with
        -- statistics: the base model's are older than the batch just parsed, and the
        -- planner would take its keys for one row (a nested loop over every version).
        create temporary table {{ result_table }}_keys on commit drop as
        select distinct rows.{{ key }}, replayed.step, replayed.batch_date
        from {{ source_rows }} as rows
        inner join {{ batch_rows }} on rows._batch_date = replayed.batch_date
        {%- if keys %}
        where rows.{{ key }} {{ keys }}
        {%- endif %};

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

        {{ after }}

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

{#-
    A late batch re-derives only the keys it brought rows for: their versions are deleted
    and every loaded batch is replayed for them alone (the walk is per key, so this is the
    history a replay from empty would give them); the other keys take the pending batches
    that are not late as usual. Each re-derived key whose versions changed is recorded in
    `audit_schema`.rederived_keys with the earliest time from which a fact's point-in-time
    join can pick another version: the start of the first version that differs, or the
    earlier end of a version that only ends at another time; minus infinity when the first
    version itself differs (a fact older than every version takes the first). gold rewrites
    those keys from that time on (macros/incremental/late_batches.sql).
-#}
{% macro rederive_snapshot_keys(node, state_sql, source_rows, batches, late, loaded,
                                audit_schema) %}
    {#- One statement (with the replay's): temporary tables live until it commits. -#}
    {%- set target = api.Relation.create(
        database=node.database, schema=node.schema, identifier=node.alias, type='table') %}
    {%- set key = node.config.unique_key %}
    {%- set keys_table = 'rederive_' ~ node.name %}
    {%- set late_keys -%}
        select distinct late_rows.{{ key }}
        from {{ source_rows }} as late_rows
        where
            late_rows._batch_date in (
                {%- for batch in late %}{{ batch_literal(batch) }}{{ ", " if not loop.last }}{% endfor -%}
            )
            and late_rows.{{ key }} is not null
    {%- endset %}
    {%- set before -%}
        create temporary table {{ keys_table }} on commit drop as {{ late_keys }};

        analyze {{ keys_table }};

        create temporary table {{ keys_table }}_before on commit drop as
        select * from {{ target }}
        where {{ key }} in (select {{ keys_table }}.{{ key }} from {{ keys_table }});

        delete from {{ target }}
        where {{ key }} in (select {{ keys_table }}.{{ key }} from {{ keys_table }});
    {%- endset %}
    {%- set after -%}
        insert into {{ audit_schema }}.rederived_keys (snapshot_name, key_value, changed_since)
        with

        after as (

            select * from {{ target }}
            where {{ key }} in (select {{ keys_table }}.{{ key }} from {{ keys_table }})

        ),

        differing as (

            select 'before' as side, * from (
                select * from {{ keys_table }}_before
                except all
                select * from after
            ) as only_before
            union all
            select 'after' as side, * from (
                select * from after
                except all
                select * from {{ keys_table }}_before
            ) as only_after

        ),

        earliest as (

            -- A version both sides hold, differing in its end alone, changes from the
            -- earlier end on; any other difference from the version's start.
            select
                differing.{{ key }},
                min(case
                    when to_jsonb(differing) - 'dbt_valid_to' - 'side'
                        = to_jsonb(counterpart) - 'dbt_valid_to' - 'side'
                        then least(
                            coalesce(differing.dbt_valid_to, 'infinity'),
                            coalesce(counterpart.dbt_valid_to, 'infinity'))
                    else differing.dbt_valid_from
                end) as changed_from
            from differing
            left join differing as counterpart
                on
                    differing.dbt_scd_id = counterpart.dbt_scd_id
                    and differing.side != counterpart.side
            group by differing.{{ key }}

        ),

        first_versions as (

            select {{ key }}, min(dbt_valid_from) as first_from
            from (
                select {{ key }}, dbt_valid_from from {{ keys_table }}_before
                union all
                select {{ key }}, dbt_valid_from from after
            ) as versions
            group by {{ key }}

        )

        select
            '{{ node.name }}',
            earliest.{{ key }}::text,
            case
                when earliest.changed_from <= first_versions.first_from
                    then '-infinity'::timestamptz
                else {{ as_utc('earliest.changed_from') }}
            end
        from earliest
        inner join first_versions using ({{ key }})
        on conflict (snapshot_name, key_value) do update set
            changed_since = least(rederived_keys.changed_since, excluded.changed_since);
    {%- endset %}
    {%- set counts = replay_snapshot(node, state_sql, source_rows, loaded,
        keys='in (select ' ~ keys_table ~ '.' ~ key ~ ' from ' ~ keys_table ~ ')',
        before=before, after=after) %}
    {%- set on_time = batches | reject('in', late) | list %}
    {%- if on_time %}
        {%- set more = replay_snapshot(node, state_sql, source_rows, on_time,
            keys='not in (' ~ late_keys ~ ')', label='_on_time') %}
        {%- set counts = {'inserted': counts.inserted + more.inserted,
                          'closed': counts.closed + more.closed} %}
    {%- endif %}
    {{ return(counts) }}
{% endmacro %}

{#-
    For the incremental models (macros/incremental/late_batches.sql): the order and product
    ids the late batches' rows name (the runner recorded the batches themselves).
-#}
{% macro record_late_batches(late, audit_schema) -%}
    {%- set dates -%}
        {%- for batch in late %}{{ batch_literal(batch) }}{{ ", " if not loop.last }}{% endfor -%}
    {%- endset %}
    insert into {{ audit_schema }}.late_keys (key_name, key_value)
    select distinct 'order_id', ({{ safe_integer('orders.order_id') }})::text
    from {{ source('erp', 'erp_orders') }} as orders
    where orders._batch_date in ({{ dates }}) and {{ safe_integer('orders.order_id') }} is not null
    union
    select distinct 'product_id', products.product_id
    from {{ ref('base_erp__products') }} as products
    where products._batch_date in ({{ dates }}) and products.product_id is not null
    on conflict do nothing
{%- endmacro %}
