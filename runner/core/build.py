"""`runner build`: freshness, snapshot replay per batch, then `dbt build`."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

from runner.core import dbt, embedded
from runner.errors import WarehouseError
from runner.settings import Settings


@dataclass
class BuildOutcome:
    freshness_ok: bool
    replayed: list[str]
    build_returncode: int


def ensure_audit(settings: Settings) -> str:
    schema = settings.layer_schema("audit")
    conn = embedded.connect(settings)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"create schema if not exists {schema}")
            cur.execute(
                f"""create table if not exists {schema}.snapshot_batches (
                    batch_date date primary key,
                    applied_at timestamptz not null default now()
                )"""
            )
    finally:
        conn.close()
    return schema


def pending_batches(settings: Settings, audit_schema: str) -> list[str]:
    """Loaded batches newer than the last one the snapshots have seen, oldest first."""
    conn = embedded.connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute("select to_regclass('bronze.load_log') is not null")
            if not cur.fetchone()[0]:
                return []
            cur.execute(
                f"""
                select distinct batch_date::text
                from bronze.load_log
                where status = 'loaded'
                    and batch_date > coalesce(
                        (select max(batch_date) from {audit_schema}.snapshot_batches),
                        '-infinity'::date)
                order by 1
                """
            )
            return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


def latest_batch(settings: Settings, audit_schema: str) -> str | None:
    conn = embedded.connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute(f"select max(batch_date)::text from {audit_schema}.snapshot_batches")
            return cur.fetchone()[0]
    finally:
        conn.close()


def replay_snapshots(settings: Settings, audit_schema: str, batches: list[str]) -> None:
    if not batches:
        return
    env = dbt.dbt_environment(
        settings, {"WAREHOUSE_PROJECT_DIR_RESOLVED": str(settings.project_dir)}
    )
    result = subprocess.run(
        [sys.executable, "-m", "runner.core.replay", audit_schema, *batches],
        cwd=settings.project_dir,
        env=env,
    )
    if result.returncode != 0:
        raise WarehouseError(
            "applying the snapshots batch by batch failed (see dbt's messages above). Fix "
            "the cause and run `runner build` again: it resumes at the first batch not applied."
        )


def run_build(settings: Settings, dbt_args: list[str], *, freshness: bool = True) -> BuildOutcome:
    freshness_ok = True
    if freshness:
        # Exit code 1 means a source is late beyond its error threshold (or the check
        # failed); the build still runs so analysts get what did arrive.
        freshness_ok = dbt.run_dbt(settings, ["source", "freshness"]).returncode == 0
    audit_schema = ensure_audit(settings)
    batches = pending_batches(settings, audit_schema)
    replay_snapshots(settings, audit_schema, batches)
    args = ["build", *dbt_args]
    as_of = latest_batch(settings, audit_schema)
    if as_of and "--vars" not in dbt_args:
        # Snapshots inside the build then see the same state as the last replayed batch:
        # a no-op, and deterministic.
        args += ["--vars", json.dumps({"as_of_batch": as_of})]
    result = dbt.run_dbt(settings, args)
    return BuildOutcome(freshness_ok, batches, result.returncode)
