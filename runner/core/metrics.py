"""The warehouse's health as a Prometheus text file, for node_exporter's textfile
collector: the last daily run per step, the last success, rows loaded, tests, when each
source last sent a file and how late it may be (dbt's own freshness settings), the newest
verified backup and the database's size. Read from the database (audit.job_runs,
bronze.load_log, the catalog) and the sources' YAML, so `runner metrics` and `runner daily`
write the same file.

Moments are Unix timestamps, never ages: a file's ages would freeze until its next write,
while the rules and panels compute `time() - x`. "Never" is 0, which every age rule reads
as infinitely old."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
from psycopg2 import sql

from runner.core import backup as backups
from runner.core import embedded
from runner.core.daily import RUN_ROW, job_runs
from runner.errors import WarehouseError
from runner.settings import Settings

LAYERS = ("bronze", "silver", "gold", "snapshots", "audit", "elementary")
PERIOD_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def freshness_thresholds(project_dir: Path) -> dict[tuple[str, str], float]:
    """{(source entity, "warn"|"error"): seconds} from dbt's freshness settings in
    models/staging/*/_*__sources.yml (a table's own setting wins over its source's), so an
    alert is late exactly when `dbt source freshness` says so. Tables are named
    <system>_<entity>; the metrics label them <system>__<entity>, as bronze.load_log does."""
    found = {}
    for path in sorted((project_dir / "models" / "staging").glob("*/_*__sources.yml")):
        for source in (yaml.safe_load(path.read_text()) or {}).get("sources", []):
            default = (source.get("config") or {}).get("freshness") or source.get("freshness")
            for table in source.get("tables", []):
                own = (table.get("config") or {}).get("freshness") or table.get("freshness")
                freshness = own or default or {}
                entity = table["name"].removeprefix(f"{source['name']}_")
                for level in ("warn", "error"):
                    after = freshness.get(f"{level}_after")
                    if after:
                        found[(f"{source['name']}__{entity}", level)] = (
                            after["count"] * PERIOD_SECONDS[after["period"]])
    return found


def default_path(settings: Settings) -> Path:
    return Path(os.environ.get("WAREHOUSE_METRICS_FILE")
                or settings.home / "metrics" / "warehouse.prom")


def _gauge(registry, name, text, labels=()):
    return Gauge(name, text, labelnames=labels, registry=registry)


def collect(settings: Settings, backup_dest: Path) -> CollectorRegistry:
    registry = CollectorRegistry()
    step_ok = _gauge(registry, "warehouse_daily_step_ok",
                     "1 when the step of the last daily run ended ok, warned or skipped", ["step"])
    step_seconds = _gauge(registry, "warehouse_daily_step_duration_seconds",
                          "Duration of each step of the last daily run", ["step"])
    last_run = _gauge(registry, "warehouse_daily_last_run_timestamp_seconds",
                      "When the last daily run started (Unix time)")
    last_ok = _gauge(registry, "warehouse_daily_success",
                     "1 when the last daily run finished and every step succeeded")
    finished = _gauge(registry, "warehouse_daily_finished",
                      "1 when the last daily run recorded its end (0: still going, or killed)")
    last_success = _gauge(registry, "warehouse_daily_last_success_timestamp_seconds",
                          "When the last fully successful daily run finished (Unix time)")
    rows = _gauge(registry, "warehouse_daily_rows_loaded",
                  "Rows loaded by the last daily run, per source entity", ["source"])
    tests = _gauge(registry, "warehouse_daily_tests", "Tests of the last daily build", ["result"])
    loaded_at = _gauge(registry, "warehouse_source_last_loaded_timestamp_seconds",
                       "When the newest file of each source entity was loaded (Unix time; "
                       "0: never)", ["source"])
    threshold = _gauge(registry, "warehouse_source_freshness_threshold_seconds",
                       "dbt's freshness threshold of each source entity", ["source", "level"])
    backup_at = _gauge(registry, "warehouse_backup_newest_verified_timestamp_seconds",
                       "When the newest verified backup was taken (Unix time; 0: none)")
    database_size = _gauge(registry, "warehouse_database_size_bytes", "Size of the database")
    layer_size = _gauge(registry, "warehouse_layer_size_bytes",
                        "Size of each layer's schema (tables and indexes)", ["layer"])

    runs = job_runs(settings)
    newest = None
    with embedded.cursor(settings) as cur:
        if embedded.relation_exists(cur, f"{settings.layer_schema('audit')}.job_runs"):
            cur.execute(sql.SQL("""
                select run_id from {} group by run_id order by min(started_at) desc limit 1
                """).format(runs))
            newest = cur.fetchone()
            if newest:
                cur.execute(sql.SQL("""
                    select step, status, extract(epoch from finished_at - started_at),
                        extract(epoch from started_at), tests_failed, tests_warned
                    from {} where run_id = %s""").format(runs), newest)
                steps = cur.fetchall()
                for step, status, seconds, _, failed, warned in steps:
                    if step == RUN_ROW:
                        continue
                    step_ok.labels(step).set(status != "failed")
                    step_seconds.labels(step).set(float(seconds))
                    if step == "build":
                        tests.labels("failed").set(failed or 0)
                        tests.labels("warned").set(warned or 0)
                last_run.set(min(float(row[3]) for row in steps))
                # A run older than the `run` row records its end by its steps alone.
                ended = all(row[1] != "running" for row in steps)
                finished.set(ended)
                last_ok.set(ended and all(row[1] != "failed" for row in steps))
            cur.execute(sql.SQL("""
                select extract(epoch from max(finished_at)) from (
                    select run_id, max(finished_at) as finished_at from {}
                    group by run_id having bool_and(status not in ('failed', 'running'))
                ) as succeeded""").format(runs))
            success = cur.fetchone()[0]
            if success is not None:
                last_success.set(float(success))
        if embedded.relation_exists(cur, "bronze.load_log"):
            cur.execute("""
                select source_system || '__' || entity, extract(epoch from max(started_at))
                from bronze.load_log where status = 'loaded' group by 1""")
            for source, seconds in cur.fetchall():
                loaded_at.labels(source).set(float(seconds))
            if newest:
                # The files the last run's load step loaded: those it logged while it ran.
                cur.execute(sql.SQL("""
                    select log.source_system || '__' || log.entity, sum(log.rows_loaded)
                    from bronze.load_log as log
                    join {} as step
                        on step.run_id = %s and step.step = 'load'
                        and log.started_at between step.started_at and step.finished_at
                    where log.status = 'loaded'
                    group by 1""").format(runs), newest)
                for source, count in cur.fetchall():
                    rows.labels(source).set(float(count))
        cur.execute("select pg_database_size(current_database())")
        database_size.set(cur.fetchone()[0])
        cur.execute("""
            select namespace.nspname, coalesce(sum(pg_total_relation_size(class.oid)), 0)
            from pg_namespace as namespace
            left join pg_class as class
                on class.relnamespace = namespace.oid and class.relkind in ('r', 'm')
            where namespace.nspname = any(%s)
            group by 1""", ([settings.layer_schema(layer) for layer in LAYERS],))
        for schema, size in cur.fetchall():
            layer_size.labels(schema).set(float(size))
    thresholds = freshness_thresholds(settings.project_dir)
    for (source, level), seconds in thresholds.items():
        threshold.labels(source, level).set(seconds)
        if level == "warn":
            # Declared but never loaded: 0 ("never"), so the late rule fires for it too.
            loaded_at.labels(source)
    verified = [b for b in backups.list_backups(backup_dest) if b.status == "verified"]
    backup_at.set(max((b.created_at.timestamp() for b in verified), default=0))
    return registry


def write(settings: Settings, path: Path, backup_dest: Path) -> Path:
    """Write the metrics file atomically (write_to_textfile renames a temporary file)."""
    registry = collect(settings, backup_dest)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_to_textfile(str(path), registry)
    except OSError as error:
        raise WarehouseError(
            f"cannot write the metrics file {path} ({error.strerror or error}): choose a "
            "writable --metrics-file (or WAREHOUSE_METRICS_FILE)."
        ) from None
    return path
