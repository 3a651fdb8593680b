{{ config(materialized='snapshot_replay') }}
-- Replays new load batches into the snapshots
-- (macros/snapshots/snapshot_replay_materialization.sql). It reads the base models the
-- snapshots' states are built from:
-- depends_on: {{ ref('base_crm__customers') }}
-- depends_on: {{ ref('base_erp__products') }}
-- depends_on: {{ ref('base_erp__stores') }}
