"""`runner build`: freshness, then `dbt build` with the snapshot replay of new batches as one
of its nodes, in one dbt session (see runner/core/session.py)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from psycopg2 import sql

from runner.core import ci, citus, dbt, embedded, observe
from runner.core.backup import die_with_parent
from runner.errors import WarehouseError
from runner.settings import Settings


# The audit tables that say what late batches changed until a build succeeds.
LATE_CHANGES = ("late_batches", "late_keys", "rederived_keys", "late_lines")


@dataclass
class BuildOutcome:
    freshness_ok: bool
    replayed: list[str]
    build_returncode: int
    # Seconds the build's replay node spent applying the batches to the snapshots.
    replay_s: float = 0.0
    # Batches that arrived after newer ones: the history was re-derived, gold rebuilt.
    late: list[str] = field(default_factory=list)
    # Per dbt invocation (freshness, build): seconds, and of them Elementary's hooks.
    invocations: dict = field(default_factory=dict)


@dataclass
class BatchPlan:
    audit_schema: str
    # Loaded batches with a file the snapshots have not seen, oldest first.
    pending: list[str]
    # Whether the snapshots have seen any batch before.
    applied_before: bool
    # Pending batches older than the newest batch applied, or applied without a file
    # loaded since.
    late: list[str]
    # Every loaded batch, and the months retention dropped from bronze.
    loaded: list[str]
    retired: list[str]


def plan_batches(settings: Settings) -> BatchPlan:
    """Create the audit tables of applied batches and files if needed and read what the
    replay must do, on one connection.

    A batch is pending while any file loaded for its date is not among the files the
    snapshots applied: a file loaded after its date was built (a late file, or a fixed
    re-delivery of one that failed) makes its date late, so the history is re-derived."""
    schema = settings.layer_schema("audit")
    applied = sql.Identifier(schema, "snapshot_batches")
    applied_files = sql.Identifier(schema, "snapshot_files")
    with embedded.cursor(settings) as cur:
        cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        cur.execute(sql.SQL(
            """create table if not exists {} (
                batch_date date primary key,
                applied_at timestamptz not null default now()
            )""").format(applied))
        # What a late batch changed, for the incremental models; emptied after a build
        # that succeeded (macros/incremental/late_batches.sql).
        cur.execute(sql.SQL(
            """create table if not exists {} (
                batch_date date primary key,
                first_line_load_order bigint not null
            );
            create table if not exists {} (
                key_name text not null,
                key_value text not null,
                primary key (key_name, key_value)
            );
            create table if not exists {} (
                snapshot_name text not null,
                key_value text not null,
                changed_since timestamptz not null,
                primary key (snapshot_name, key_value)
            );
            create table if not exists {} (
                order_line_id bigint primary key,
                order_id bigint not null,
                customer_id text not null,
                product_id text not null,
                store_id text not null,
                order_date date not null
            )""").format(*(sql.Identifier(schema, name) for name in LATE_CHANGES)))
        has_loads = embedded.relation_exists(cur, "bronze.load_log")
        if not embedded.relation_exists(cur, f"{schema}.snapshot_files"):
            cur.execute(sql.SQL(
                """create table {} (
                    file_name text primary key,
                    checksum_sha256 text not null,
                    batch_date date not null,
                    applied_at timestamptz not null default now()
                )""").format(applied_files))
            if has_loads:
                # Built before files were tracked: a file loaded before its batch was
                # applied was applied with it; one loaded later never was.
                cur.execute(sql.SQL(
                    """insert into {files} (file_name, checksum_sha256, batch_date, applied_at)
                    select log.file_name, log.checksum_sha256, log.batch_date, batch.applied_at
                    from bronze.load_log as log
                    inner join {applied} as batch on batch.batch_date = log.batch_date
                    where log.status = 'loaded' and log.started_at <= batch.applied_at
                    """).format(files=applied_files, applied=applied))
        cur.execute(sql.SQL("select exists (select from {})").format(applied))
        applied_before = cur.fetchone()[0]
        if not has_loads:
            return BatchPlan(schema, [], applied_before, [], [], [])
        cur.execute(sql.SQL(
            """
            select
                log.batch_date::text,
                bool_and(applied_file.file_name is not null) as is_applied,
                log.batch_date <= (select max(batch_date) from {applied}) as is_late
            from bronze.load_log as log
            left join {files} as applied_file
                on
                    applied_file.file_name = log.file_name
                    and applied_file.checksum_sha256 = log.checksum_sha256
            where log.status = 'loaded'
            group by log.batch_date
            order by 1
            """).format(applied=applied, files=applied_files))
        found = cur.fetchall()
        retired = []
        if embedded.relation_exists(cur, "bronze.retired_partitions"):
            cur.execute("select partition_name from bronze.retired_partitions order by 1")
            retired = [row[0] for row in cur.fetchall()]
    pending = [batch for batch, is_applied, _ in found if not is_applied]
    # Late: older than the newest batch applied, or that batch itself with a file it lacked.
    late = [batch for batch, is_applied, is_late in found if not is_applied and is_late]
    return BatchPlan(schema, pending, applied_before, late, [row[0] for row in found], retired)


def _split_vars(dbt_args: list[str]) -> tuple[list[str], list[str]]:
    """(the --vars given by the user, the other arguments)."""
    rest, given = [], []
    args = iter(dbt_args)
    for arg in args:
        if arg == "--vars":
            given = [arg, next(args, "{}")]
        elif arg.startswith("--vars="):
            given = ["--vars", arg.split("=", 1)[1]]
        else:
            rest.append(arg)
    return given, rest


def _with_var(vars_args: list[str], name: str, value) -> list[str]:
    """``--vars`` with ``name`` set to ``value`` unless the user set it."""
    given = yaml.safe_load(vars_args[1]) if vars_args else {}
    if not isinstance(given, dict):
        raise WarehouseError(f"--vars {vars_args[1]!r} is not a mapping, e.g. '{{key: value}}'.")
    return ["--vars", json.dumps({name: value, **given})]


def _given(args: list[str], *options: str) -> bool:
    """Whether the user passed any of ``options`` (as ``--opt value`` or ``--opt=value``)."""
    return any(arg.split("=", 1)[0] in options for arg in args)


def run_build(settings: Settings, dbt_args: list[str], *, freshness: bool = True,
              verbose: bool = False) -> BuildOutcome:
    dbt.dbt_executable()  # a clear error when dbt is not installed
    plan = plan_batches(settings)
    audit_schema, batches, applied_before, late = (
        plan.audit_schema, plan.pending, plan.applied_before, plan.late)
    # A late batch changes the history from its day on. With --full-refresh the snapshots
    # are re-derived from every loaded batch and gold is rebuilt; else only the keys, lines
    # and groups it touches are (macros/incremental/late_batches.sql).
    rebuild = bool(late) and _given(dbt_args, "--full-refresh")
    if late:
        retired = plan.retired
        if retired:
            raise WarehouseError(
                f"batch(es) {', '.join(late)} arrived after newer ones were applied, and "
                f"applying them means re-deriving history from bronze, which no longer holds "
                f"the retired partitions ({', '.join(retired)}). Restore those with `runner "
                "partitions restore`, then run `runner build` again."
            )
        if rebuild:
            batches = plan.loaded
    # Parse, freshness, the replay and the build all get the user's vars (a changed var
    # forces dbt to parse the whole project again).
    vars_args, build_args = _split_vars(dbt_args)
    if late and not rebuild:
        record_late_batches(settings, audit_schema, late, _lateness_days(settings, vars_args))
    observing = observe.status(settings).enabled
    if observing and plan.loaded:
        # Elementary's anomaly tests look at the days before "now": the data's now is the
        # end of its newest batch, not the machine's clock (the demo's data is in the past).
        # Midnight after it, so the newest batch's own day is a complete bucket.
        data_now = dt.date.fromisoformat(plan.loaded[-1]) + dt.timedelta(days=1)
        vars_args = _with_var(vars_args, "custom_run_started_at", f"{data_now}T00:00:00")
    excluded = []
    user_selected = _given(build_args, "-s", "--select", "--exclude", "--selector",
                           "-m", "--models")
    if not user_selected:
        if batches or applied_before:
            # The replay (the build's int_snapshot_replay node) applies every loaded batch,
            # so dbt's snapshot step would find nothing new, after comparing every current
            # version with its source.
            excluded.append("resource_type:snapshot")
        if observing:
            # Elementary's own models only create the tables its hooks fill; `runner
            # observe install` builds them once, and rebuilding them in every build costs
            # more than the rest of its work.
            excluded.append("package:elementary")
    if excluded:
        # `empty`: leave out these nodes, not the tests on them (the snapshots' tests run).
        build_args = [*build_args, "--exclude", *excluded, "--indirect-selection", "empty"]
    if not _given(build_args, "--resource-type", "--resource-types",
                  "--exclude-resource-type", "--exclude-resource-types"):
        # Unit tests check model logic on fixed inputs, so data arriving cannot change their
        # result: dbt advises running them in development and CI, not in every production
        # build. `make test` runs them (tests/python/test_gold_history.py); so does plain
        # `dbt build`.
        build_args = [*build_args, "--exclude-resource-type", "unit_test"]
    with tempfile.TemporaryDirectory(prefix="runner-build-") as scratch:
        spec_path = Path(scratch) / "spec.json"
        result_path = Path(scratch) / "result.json"
        spec_path.write_text(json.dumps({
            "audit_schema": audit_schema, "batches": batches, "freshness": freshness,
            "late": late, "rebuild": rebuild, "verbose": verbose,
            # A selection of the user's own may leave the replay out: it runs first then.
            "replay_first": user_selected and bool(batches),
            "vars_args": vars_args, "build_args": build_args, "result_path": str(result_path),
            # What the build's replay node applies (macros/snapshots/snapshot_replay_materialization.sql).
            "build_vars_args": (_with_var(vars_args, "snapshot_replay", {
                "batches": batches, "audit_schema": audit_schema, "rebuild": rebuild,
                "late": late, "loaded": plan.loaded})
                if batches else vars_args),
            # Elementary uploads the project's artifacts after every invocation; the build
            # at the end uploads them, so freshness and the replay's inputs skip it.
            "early_vars_args": (_with_var(vars_args, "disable_dbt_artifacts_autoupload", True)
                                if observing else vars_args),
        }))
        with dbt.parse_state_per_connection(settings) as parse_env:
            env = dbt.dbt_environment(settings, {
                **parse_env,
                "WAREHOUSE_PROJECT_DIR_RESOLVED": str(settings.project_dir),
                # `--select` picks a test only when every model it reads is selected or
                # upstream of the selection: a partial build does not run, say, the
                # conservation test against a quarantine it did not rebuild.
                "DBT_INDIRECT_SELECTION": os.environ.get("DBT_INDIRECT_SELECTION", "buildable"),
            })
            # The dbt session ends with the runner: it must never build on without the lock.
            returncode = subprocess.run(
                [sys.executable, "-m", "runner.core.session", str(spec_path)],
                cwd=settings.project_dir, env=env, preexec_fn=die_with_parent,
            ).returncode
        outcome = json.loads(result_path.read_text()) if result_path.exists() else {}
    if not outcome:
        raise WarehouseError(
            f"the dbt session ended without a result (exit code {returncode}); the message "
            "above says why. Nothing after that point ran; run `runner build` again once fixed."
        )
    if not outcome.get("parsed"):
        raise WarehouseError(
            f"dbt could not parse the project (exit code {returncode}); its message above "
            "names the file. Fix it and run `runner build` again."
        )
    if outcome.get("replay_ok") is False:
        raise WarehouseError(
            "replaying the new batches into the snapshots failed (see dbt's message above); "
            "the snapshots are as they were. Fix the cause and run `runner build` again."
        )
    # Freshness fails when a source is late beyond its error threshold (or the check
    # itself failed); the build still ran so analysts get what did arrive.
    freshness_ok = outcome.get("freshness_ok") is not False
    if outcome.get("build_returncode") == 0 and not _given(build_args, "--target-path"):
        # What production now runs: `runner ci` builds a change against it (--defer).
        ci.save_production_state(settings)
        if not user_selected:
            forget_late_changes(settings, audit_schema)
    return BuildOutcome(freshness_ok, batches, outcome.get("build_returncode", returncode),
                        outcome.get("replay_s", 0.0), late, outcome.get("invocations", {}))


def record_late_batches(settings: Settings, audit_schema: str, late: list[str],
                        lateness_days: int) -> None:
    """Record the late batches, each with the lowest load order of the order lines that
    could have waited for its orders or products (from its date minus the lateness window),
    before the build: silver reads them (macros/incremental/late_batches.sql)."""
    with embedded.cursor(settings) as cur:
        cur.execute(sql.SQL(
            """insert into {} (batch_date, first_line_load_order)
            select
                late.batch_date,
                coalesce((
                    select min(lines._load_order) from bronze.erp_order_lines as lines
                    where lines._batch_date >= late.batch_date - %s
                ), 0)
            from unnest(%s::date[]) as late (batch_date)
            on conflict (batch_date) do update set
                first_line_load_order = least(
                    late_batches.first_line_load_order, excluded.first_line_load_order)
            """).format(sql.Identifier(audit_schema, "late_batches")), (lateness_days, late))


def _lateness_days(settings: Settings, vars_args: list[str]) -> int:
    """var('order_lateness_days') as the build will see it: the user's --vars, else
    dbt_project.yml's."""
    given = yaml.safe_load(vars_args[1]) if vars_args else {}
    project = yaml.safe_load((Path(settings.project_dir) / "dbt_project.yml").read_text())
    merged = {**(project.get("vars") or {}), **(given if isinstance(given, dict) else {})}
    return int(merged.get("order_lateness_days", 3))


def forget_late_changes(settings: Settings, audit_schema: str) -> None:
    """Empty the record of what late batches changed once a whole build has used it."""
    with embedded.cursor(settings) as cur:
        for name in LATE_CHANGES:
            cur.execute(sql.SQL("delete from {}").format(sql.Identifier(audit_schema, name)))


# The loader's own tables in bronze, not source data.
BRONZE_BOOKKEEPING = ("load_log", "load_refusals", "retired_partitions")


def layer_rows(settings: Settings) -> dict[str, int]:
    """Rows per layer schema, from the planner's statistics (exact for tables analyzed
    whole; the build analyzes what it rebuilds), counted where a table has none yet."""
    rows = {}
    with embedded.cursor(settings) as cur:
        # On Citus the coordinator's statistics do not cover the rows on the workers.
        sharded = set()
        if citus.extension_version(cur):
            cur.execute("select logicalrelid::regclass::text from pg_dist_partition")
            sharded = {row[0] for row in cur.fetchall()}
        for layer in ("bronze", "silver", "snapshots", "gold"):
            schema = settings.layer_schema(layer)
            cur.execute(
                """select c.relname, c.reltuples from pg_class as c
                   join pg_namespace as n on n.oid = c.relnamespace
                   where n.nspname = %s and c.relkind = 'r'""", (schema,))
            total = 0
            for name, estimate in cur.fetchall():
                if layer == "bronze" and name in BRONZE_BOOKKEEPING:
                    continue
                if estimate < 0 or f"{schema}.{name}" in sharded:  # never analyzed, or sharded
                    cur.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema, name)))
                    estimate = cur.fetchone()[0]
                total += int(estimate)
            rows[layer] = total
    return rows
