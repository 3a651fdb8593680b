"""`runner daily`: the night's steps in order, each recorded in audit.job_runs.

load -> build -> backup -> prune -> report -> (metrics, then alerts, by the command). Every
step runs even when an earlier one failed (a failed build still deserves a backup of
bronze), and the job fails when any step did. Idempotent: the loader never loads a file
twice, and a backup is skipped when the data it would hold (every loaded file, every
batch the snapshots applied) is what the last daily backup already holds.

A run records itself before its first step (a `run` row, status `running`) and closes
that row at the end, so a run that was killed shows as never finished. The steps can also
run one per process (`runner daily --step STEP --run-id ID`, as the Airflow DAG does):
they share the run id, and `--step finish` closes the run from what the database holds.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from psycopg2 import sql

from runner.core import backup as backups
from runner.core import build as builder
from runner.core import embedded, locking, names, observe
from runner.core import load as loader
from runner.errors import WarehouseError
from runner.settings import Settings

JOB_RUNS_SQL = """
create schema if not exists {schema};
create table if not exists {job_runs} (
    run_id uuid not null,
    step text not null,
    started_at timestamptz not null,
    finished_at timestamptz not null,
    status text not null,
    rows_loaded bigint,
    files_failed integer,
    tests_failed integer,
    tests_warned integer,
    backup_id text,
    state_fingerprint text,
    detail text,
    error text,
    primary key (run_id, step)
);
alter table {job_runs} add column if not exists tests jsonb;
alter table {job_runs} drop constraint if exists job_runs_status_check;
alter table {job_runs} add constraint job_runs_status_check
    check (status in ('ok', 'warned', 'failed', 'skipped', 'running'));
comment on table {job_runs} is 'One row per step of each `runner daily` run, and a `run` row per run (status running until the run ends): when, how it ended, what it did.';
"""
STEPS = ("load", "build", "backup", "prune", "report")
# The row a run writes before its first step and closes after its last one.
RUN_ROW = "run"
# Outside run ids (Airflow's) become uuids in a namespace of our own.
RUN_ID_NAMESPACE = uuid.UUID("5b0e8f0a-8d44-4c0e-9a51-6b8f3c6f0d2e")


@dataclass
class StepResult:
    step: str
    status: str = "ok"  # ok | warned | failed | skipped
    seconds: float = 0.0
    rows_loaded: int | None = None
    files_failed: int | None = None
    tests_failed: int | None = None
    tests_warned: int | None = None
    backup_id: str | None = None
    state_fingerprint: str | None = None
    detail: str = ""
    error: str | None = None
    failing_tests: list[dict] = field(default_factory=list)


@dataclass
class DailyOptions:
    landing: Path
    backup_dest: Path
    skip_backup: bool = False
    always_backup: bool = False
    report: bool = True
    keep_days: int = 30
    keep_last: int = 7


@dataclass
class DailyRun:
    run_id: str
    started_at: dt.datetime
    steps: list[StepResult]

    @property
    def failed(self) -> list[StepResult]:
        return [step for step in self.steps if step.status == "failed"]

    @property
    def warned(self) -> list[StepResult]:
        return [step for step in self.steps if step.status == "warned"]


def job_runs(settings: Settings) -> sql.Identifier:
    return sql.Identifier(settings.layer_schema("audit"), "job_runs")


def ensure_job_runs(settings: Settings) -> None:
    with embedded.cursor(settings) as cur:
        locking.ddl_lock(cur)
        if embedded.relation_exists(cur, f"{settings.layer_schema('audit')}.job_runs"):
            cur.execute("""
                select pg_get_constraintdef(oid) from pg_constraint
                where conrelid = %s::regclass and conname = 'job_runs_status_check'""",
                        (f"{settings.layer_schema('audit')}.job_runs",))
            found = cur.fetchone()
            if found and "running" in found[0]:
                return
        cur.execute(sql.SQL(JOB_RUNS_SQL).format(
            schema=sql.Identifier(settings.layer_schema("audit")), job_runs=job_runs(settings)))


def run_uuid(run_id: str | None) -> str:
    """A new run id, or ``run_id`` as a uuid (any other text, e.g. Airflow's run id, maps
    to the same uuid every time, so every task of one DAG run shares it)."""
    if not run_id:
        return str(uuid.uuid4())
    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        return str(uuid.uuid5(RUN_ID_NAMESPACE, run_id))


def _record(settings: Settings, run_id: str, step: StepResult, started: dt.datetime) -> None:
    """Write (or, when a step is rerun in the same run, replace) one step's row."""
    with embedded.cursor(settings) as cur:
        cur.execute(sql.SQL(
            """
            insert into {} (run_id, step, started_at, finished_at, status,
                rows_loaded, files_failed, tests_failed, tests_warned, backup_id,
                state_fingerprint, detail, error, tests)
            values (%s, %s, %s, now(), %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            on conflict (run_id, step) do update set
                started_at = excluded.started_at, finished_at = excluded.finished_at,
                status = excluded.status, rows_loaded = excluded.rows_loaded,
                files_failed = excluded.files_failed, tests_failed = excluded.tests_failed,
                tests_warned = excluded.tests_warned, backup_id = excluded.backup_id,
                state_fingerprint = excluded.state_fingerprint, detail = excluded.detail,
                error = excluded.error, tests = excluded.tests
            """).format(job_runs(settings)),
            (run_id, step.step, started, step.status, step.rows_loaded, step.files_failed,
             step.tests_failed, step.tests_warned, step.backup_id, step.state_fingerprint,
             step.detail, step.error, json.dumps(step.failing_tests) if step.step == "build"
             else None),
        )


def _load(settings: Settings, options: DailyOptions, result: StepResult) -> None:
    files = loader.load(settings, options.landing)
    loaded = [f for f in files if f.status == "loaded"]
    failed = [f for f in files if f.status == "failed"]
    result.rows_loaded = sum(f.rows for f in loaded)
    result.files_failed = len(failed)
    result.detail = f"{len(loaded)} file(s) loaded, {len(failed)} failed"
    if failed:
        result.status = "failed"
        result.error = "; ".join(f"{names.shown(f.name)}: {f.error}" for f in failed[:5])


def _test_results(settings: Settings) -> tuple[list[dict], list[dict]]:
    """(failing, warning) tests of the last dbt invocation, from run_results.json."""
    path = settings.project_dir / "target" / "run_results.json"
    try:
        results = json.loads(path.read_text())["results"]
    except (OSError, ValueError, KeyError):
        return [], []
    tests = [r for r in results if r.get("unique_id", "").startswith(("test.", "unit_test."))]

    def describe(result):
        # test.<package>.<name>[.<hash>]
        return {"test": result["unique_id"].split(".")[2], "status": result["status"],
                "rows": result.get("failures"), "message": (result.get("message") or "")[:300]}

    return ([describe(r) for r in tests if r["status"] in ("fail", "error")],
            [describe(r) for r in tests if r["status"] == "warn"])


def _build(settings: Settings, options: DailyOptions, result: StepResult) -> None:
    outcome = builder.run_build(settings, [], freshness=True)
    failing, warning = _test_results(settings)
    result.tests_failed, result.tests_warned = len(failing), len(warning)
    result.failing_tests = failing + warning
    result.detail = (f"{len(outcome.replayed)} batch(es) applied, {len(failing)} test(s) "
                     f"failed, {len(warning)} warned")
    if outcome.build_returncode != 0:
        result.status = "failed"
        result.error = (f"dbt build exited {outcome.build_returncode}: "
                        + ", ".join(t["test"] for t in failing[:5]))
    elif not outcome.freshness_ok:
        result.status = "failed"
        result.error = "a source is late beyond its freshness error threshold"
    elif warning:
        result.status = "warned"


def state_fingerprint(settings: Settings) -> str:
    """What a backup of the warehouse holds, as far as the daily job can change it: every
    loaded file (name and checksum) and every batch the snapshots applied."""
    applied = sql.Identifier(settings.layer_schema("audit"), "snapshot_batches")
    with embedded.cursor(settings) as cur:
        parts = []
        if embedded.relation_exists(cur, "bronze.load_log"):
            cur.execute("select coalesce(md5(string_agg(file_name || ':' || checksum_sha256, ','"
                        " order by file_name)), '') from bronze.load_log where status = 'loaded'")
            parts.append(cur.fetchone()[0])
        if embedded.relation_exists(cur, f"{settings.layer_schema('audit')}.snapshot_batches"):
            cur.execute(sql.SQL("select coalesce(md5(string_agg(batch_date::text, ',' order by "
                                "batch_date)), '') from {}").format(applied))
            parts.append(cur.fetchone()[0])
        return "/".join(parts)


def _last_backup(settings: Settings) -> tuple[str | None, str | None]:
    with embedded.cursor(settings) as cur:
        cur.execute(sql.SQL("""
            select backup_id, state_fingerprint from {}
            where step = 'backup' and status = 'ok' and backup_id is not null
            order by finished_at desc limit 1""").format(job_runs(settings)))
        row = cur.fetchone()
    return row if row else (None, None)


def _backup(settings: Settings, options: DailyOptions, result: StepResult) -> None:
    fingerprint = state_fingerprint(settings)
    result.state_fingerprint = fingerprint
    last_id, last_fingerprint = _last_backup(settings)
    # Only a backup that still checks out stands in for tonight's.
    usable = bool(last_id) and backups.info(options.backup_dest / last_id).status == "verified"
    if not options.always_backup and usable and last_fingerprint == fingerprint:
        result.status = "skipped"
        result.backup_id = last_id
        result.detail = f"nothing changed since backup {last_id} (--always-backup to take one)"
        return
    made = backups.backup(settings.for_role("backup"), options.backup_dest)
    result.backup_id = made.backup_id
    # Checksums and pg_restore --list (seconds); `backup verify --restore-test` goes further.
    problems = backups.verify(None, made)
    if problems:
        raise WarehouseError(f"backup {made.backup_id} failed verification: {problems[0]}")
    result.detail = f"{made.backup_id} verified ({made.size_bytes:,} bytes)"


def _prune(settings: Settings, options: DailyOptions, result: StepResult) -> None:
    removed = backups.prune(options.backup_dest, keep_days=options.keep_days,
                            keep_last=options.keep_last)
    result.detail = f"{len(removed)} backup(s) removed"


def _report(settings: Settings, options: DailyOptions, result: StepResult) -> None:
    if not options.report:
        result.status, result.detail = "skipped", "--no-report"
        return
    if not observe.status(settings).enabled:
        result.status, result.detail = "skipped", "observability is off"
        return
    path = observe.report(settings, settings.project_dir / "report" / "elementary.html")
    result.detail = str(path)


RUNNERS: dict[str, Callable[[Settings, DailyOptions, StepResult], None]] = {
    "load": _load, "build": _build, "backup": _backup, "prune": _prune, "report": _report,
}


def begin(settings: Settings, run_id: str | None = None) -> DailyRun:
    """Record that a run started (before it takes any lock, so a run that cannot start
    is recorded too); a second `begin` with the same id (a retried Airflow task) reopens it."""
    ensure_job_runs(settings)
    job = DailyRun(run_uuid(run_id), dt.datetime.now(dt.timezone.utc), [])
    with embedded.cursor(settings) as cur:
        cur.execute(sql.SQL("""
            insert into {} (run_id, step, started_at, finished_at, status)
            values (%s, %s, %s, %s, 'running')
            on conflict (run_id, step) do update set status = 'running'
            returning started_at""").format(job_runs(settings)),
            (job.run_id, RUN_ROW, job.started_at, job.started_at))
        job.started_at = cur.fetchone()[0]
    return job


def attach(settings: Settings, run_id: str) -> DailyRun:
    """The run ``run_id`` that `begin` started (for a step run in a process of its own)."""
    ensure_job_runs(settings)
    run_id = run_uuid(run_id)
    with embedded.cursor(settings) as cur:
        cur.execute(sql.SQL("select started_at from {} where run_id = %s and step = %s")
                    .format(job_runs(settings)), (run_id, RUN_ROW))
        row = cur.fetchone()
    if not row:
        raise WarehouseError(f"no daily run {run_id} was started: run `runner daily --step "
                             "start --run-id ID` with the same ID first.")
    return DailyRun(run_id, row[0], [])


def fail(settings: Settings, job: DailyRun, step: str, error: str) -> StepResult:
    """Record a step that could not run at all (e.g. the writer lock was taken)."""
    result = StepResult(step, status="failed", error=error)
    _record(settings, job.run_id, result, dt.datetime.now(dt.timezone.utc))
    job.steps.append(result)
    return result


def run_step(settings: Settings, options: DailyOptions, job: DailyRun, step: str,
             say: Callable[[str], None] = print) -> StepResult:
    """Run one step and record it; never raises for the step's own failure."""
    result = StepResult(step)
    started_at = dt.datetime.now(dt.timezone.utc)
    started = time.monotonic()
    if step in ("backup", "prune") and options.skip_backup:
        result.status, result.detail = "skipped", "--skip-backup"
    else:
        say(f"daily: {step} ...")
        try:
            RUNNERS[step](settings, options, result)
        except WarehouseError as error:
            result.status, result.error = "failed", str(error)
        except Exception as error:  # noqa: BLE001 - one step's crash must not stop the rest
            result.status = "failed"
            result.error = f"{type(error).__name__}: {error}"
            traceback.print_exc()
    result.seconds = time.monotonic() - started
    _record(settings, job.run_id, result, started_at)
    say(f"daily: {step} {result.status} in {result.seconds:.1f}s"
        + (f": {result.detail}" if result.detail else "")
        + (f" -- {result.error}" if result.error else ""))
    job.steps.append(result)
    return result


def run(settings: Settings, options: DailyOptions, job: DailyRun,
        say: Callable[[str], None] = print) -> DailyRun:
    """Run every step, recording each; never raises for a step's failure."""
    for step in STEPS:
        run_step(settings, options, job, step, say)
    return job


def finish(settings: Settings, run_id: str) -> DailyRun:
    """Close the run: read every step it recorded (in this process or others) and set its
    `run` row to failed, warned or ok."""
    ensure_job_runs(settings)
    with embedded.cursor(settings) as cur:
        cur.execute(sql.SQL("""
            select step, status, extract(epoch from finished_at - started_at), rows_loaded,
                files_failed, tests_failed, tests_warned, backup_id, detail, error, tests
            from {} where run_id = %s and step <> %s order by started_at""").format(
                job_runs(settings)), (run_id, RUN_ROW))
        steps = [StepResult(step, status, float(seconds), rows, files, failed, warned,
                            backup_id, None, detail or "", error, tests or [])
                 for step, status, seconds, rows, files, failed, warned, backup_id, detail,
                 error, tests in cur.fetchall()]
        cur.execute(sql.SQL("select started_at from {} where run_id = %s and step = %s")
                    .format(job_runs(settings)), (run_id, RUN_ROW))
        row = cur.fetchone()
        if not row:
            raise WarehouseError(f"no daily run {run_id} was started: run `runner daily "
                                 f"--step start --run-id {run_id}` first.")
        job = DailyRun(run_id, row[0], steps)
        # A step killed mid-way (an Airflow task, say) records nothing: the run is not
        # whole, so it is no success. A run that could not take the lock ran no step.
        recorded = {step.step for step in steps}
        missing = [step for step in STEPS if step not in recorded]
        if missing and "lock" not in recorded:
            job.steps.append(StepResult(RUN_ROW, "failed", error=(
                f"step(s) {', '.join(missing)} never recorded an end (killed, or never run)")))
        status = "failed" if job.failed else ("warned" if job.warned else "ok")
        cur.execute(sql.SQL("""
            update {} set status = %s, finished_at = now(),
                detail = %s where run_id = %s and step = %s""").format(job_runs(settings)),
            (status, ", ".join(f"{s.step} {s.status}" for s in steps), run_id, RUN_ROW))
    return job
