{% snapshot snp_erp__stores %}
{{
    config(
        unique_key='store_id',
        strategy='check',
        check_cols=['store_name', 'sales_channel', 'city', 'country_code', 'region', 'opened_date'],
        hard_deletes='invalidate'
    )
}}
    -- After the runner's replay of new batches, when there is one:
    -- depends_on: {{ ref('int_snapshot_replay') }}
    -- State after every loaded batch: macros/snapshots/snapshot_states.sql (shared with
    -- the replay of older batches, macros/snapshots/replay_snapshots.sql).
    {{ erp_stores_as_of("'infinity'::date") }}

{% endsnapshot %}
