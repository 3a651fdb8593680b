{#-
    The materialization of int_snapshot_replay: the node of `dbt build` that replays the
    batches `runner build` passes in var('snapshot_replay') ({batches, audit_schema,
    rebuild, late, loaded}) into every snapshot (replay_snapshots). As a node of the
    build it runs as soon as the snapshots' inputs are built and tested, beside the
    order models, which do not read the snapshots. Without the var (plain `dbt build`,
    or nothing new) it does nothing: dbt's own snapshot step then keeps the history. It
    writes no relation of its own.
-#}
{% materialization snapshot_replay, default %}
    {%- set plan = var('snapshot_replay', none) -%}
    {%- if plan and plan.batches -%}
        {%- do replay_snapshots(plan.batches, plan.audit_schema, plan.rebuild, plan.late,
            plan.loaded) -%}
    {%- endif -%}
    {%- call noop_statement('main', 'REPLAY ' ~ ((plan or {}).batches or []) | length) -%}{%- endcall -%}
    {{ return({'relations': []}) }}
{% endmaterialization %}
