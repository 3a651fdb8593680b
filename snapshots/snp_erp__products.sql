{% snapshot snp_erp__products %}
{{
    config(
        unique_key='product_id',
        strategy='timestamp',
        updated_at='updated_at',
        hard_deletes='invalidate'
    )
}}
    -- State after every loaded batch: macros/snapshots/snapshot_states.sql (shared with
    -- the replay of older batches, macros/snapshots/replay_snapshots.sql).
    {{ erp_products_as_of("'infinity'::date") }}

{% endsnapshot %}
