"""The warehouse's health as a Prometheus text file, for node_exporter's textfile
collector: the last daily run per step, the last success, rows loaded, tests, source
freshness, the newest verified backup and the database's size. Read from the database
(audit.job_runs, bronze.load_log, the catalog), so `runner metrics` and `runner daily`
write the same file."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
from psycopg2 import sql

from runner.core import backup as backups
from runner.core import embedded
from runner.core.daily import job_runs
from runner.settings import Settings

LAYERS = ("bronze", "silver", "gold", "snapshots", "audit", "elementary")


def default_path(settings: Settings) -> Path:
    return Path(os.environ.get("WAREHOUSE_METRICS_FILE")
                or settings.home / "metrics" / "warehouse.prom")


def _gauge(registry, name, text, labels=()):
    return Gauge(name, text, labelnames=labels, registry=registry)


def collect(settings: Settings, backup_dest: Path) -> CollectorRegistry:
    registry = CollectorRegistry()
    now = dt.datetime.now(dt.timezone.utc)
    step_ok = _gauge(registry, "warehouse_daily_step_ok",
                     "1 when the step of the last daily run ended ok, warned or skipped", ["step"])
    step_seconds = _gauge(registry, "warehouse_daily_step_duration_seconds",
                          "Duration of each step of the last daily run", ["step"])
    last_run = _gauge(registry, "warehouse_daily_last_run_timestamp_seconds",
                      "When the last daily run started (Unix time)")
    last_ok = _gauge(registry, "warehouse_daily_success",
                     "1 when every step of the last daily run succeeded")
    last_success = _gauge(registry, "warehouse_daily_last_success_timestamp_seconds",
                          "When the last fully successful daily run finished (Unix time)")
    rows = _gauge(registry, "warehouse_daily_rows_loaded",
                  "Rows loaded by the last daily run, per source entity", ["source"])
    tests = _gauge(registry, "warehouse_daily_tests", "Tests of the last daily build", ["result"])
    lag = _gauge(registry, "warehouse_source_freshness_lag_seconds",
                 "Seconds since the newest file of each source entity was loaded", ["source"])
    backup_age = _gauge(registry, "warehouse_backup_newest_verified_age_seconds",
                        "Age of the newest verified backup")
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
                    step_ok.labels(step).set(status != "failed")
                    step_seconds.labels(step).set(float(seconds))
                    if step == "build":
                        tests.labels("failed").set(failed or 0)
                        tests.labels("warned").set(warned or 0)
                last_run.set(min(float(row[3]) for row in steps))
                last_ok.set(all(row[1] != "failed" for row in steps))
            cur.execute(sql.SQL("""
                select extract(epoch from max(finished_at)) from (
                    select run_id, max(finished_at) as finished_at from {}
                    group by run_id having bool_and(status <> 'failed')
                ) as succeeded""").format(runs))
            success = cur.fetchone()[0]
            if success is not None:
                last_success.set(float(success))
        if embedded.relation_exists(cur, "bronze.load_log"):
            cur.execute("""
                select source_system || '__' || entity, extract(epoch from now() - max(started_at))
                from bronze.load_log where status = 'loaded' group by 1""")
            for source, seconds in cur.fetchall():
                lag.labels(source).set(float(seconds))
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
    verified = [b for b in backups.list_backups(backup_dest) if b.status == "verified"]
    if verified:
        backup_age.set((now - verified[0].created_at).total_seconds())
    return registry


def write(settings: Settings, path: Path, backup_dest: Path) -> Path:
    """Write the metrics file atomically (write_to_textfile renames a temporary file)."""
    registry = collect(settings, backup_dest)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
    return path
