{% snapshot snp_crm__customers %}
{{
    config(
        unique_key='customer_id',
        strategy='timestamp',
        updated_at='updated_at',
        hard_deletes='invalidate'
    )
}}
    -- After the runner's replay of new batches, when there is one:
    -- depends_on: {{ ref('int_snapshot_replay') }}
    -- State after every loaded batch: macros/snapshots/snapshot_states.sql (shared with
    -- the replay of older batches, macros/snapshots/replay_snapshots.sql).
    {{ crm_customers_as_of("'infinity'::date") }}

{% endsnapshot %}
