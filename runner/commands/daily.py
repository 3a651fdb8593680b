"""`runner daily`, `runner metrics` and `runner schedule`: the warehouse run unattended."""

from __future__ import annotations

import contextlib
import getpass
import shlex
import sys
from pathlib import Path

import click

from runner.commands.build import ensure_server, wait_option, warn_demo_salt
from runner.commands.data import landing_option, resolve_landing
from runner.core import alerts
from runner.core import backup as backups
from runner.core import daily as nightly
from runner.core import metrics as health
from runner.core import roles as role_setup
from runner.core.locking import writer_lock
from runner.errors import WarehouseError
from runner.settings import load_settings, output_file

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
metrics_option = click.option(
    "--metrics-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    envvar="WAREHOUSE_METRICS_FILE",
    help="Prometheus text file (default: $WAREHOUSE_METRICS_FILE or .warehouse/metrics/warehouse.prom).")
dest_option = click.option(
    "--dest", type=click.Path(file_okay=False, path_type=Path), default=None,
    envvar="WAREHOUSE_BACKUP_DIR", help="Backup folder (default: .warehouse/backups).")


STEP_CHOICES = ("start", *nightly.STEPS, "finish")


@click.command()
@landing_option
@dest_option
@click.option("--skip-backup", is_flag=True, help="Do not back up or prune tonight.")
@click.option("--always-backup", is_flag=True,
              help="Back up even when nothing changed since the last daily backup.")
@click.option("--no-report", is_flag=True, help="Do not write the Elementary report.")
@click.option("--notify", metavar="URL", envvar="WAREHOUSE_ALERT_WEBHOOK", default=None,
              help="Webhook to POST a JSON summary to on failure (Slack-formatted for Slack).")
@click.option("--notify-on-warn", is_flag=True, help="Also notify when tests only warned.")
@click.option("--step", type=click.Choice(STEP_CHOICES), default=None,
              help="Run one step of a run (start, a step, finish) instead of the whole "
                   "night; with --run-id, as the Airflow DAG does.")
@click.option("--run-id", metavar="ID", default=None,
              help="The run the --step belongs to (any text; the same text is the same run).")
@metrics_option
@wait_option
def daily(landing, dest, skip_backup, always_backup, no_report, notify, notify_on_warn,
          step, run_id, metrics_file, wait) -> None:
    """The whole night in one idempotent command: load, build, backup, prune, report,
    metrics and alerts, each step recorded in audit.job_runs.

    Every step runs even when one before it failed; the command then exits 1 naming the
    failed steps. A run that cannot get the writer lock is recorded, written to the metrics
    and alerted like any failed step. A rerun loads no file twice and takes no second
    backup of the same data.

    --step runs one step per process (start, load, build, backup, prune, report, finish)
    sharing one --run-id: each step exits 1 when it failed, and finish records the run's
    end, writes the metrics, alerts and exits 1 when any step failed.

    Example: runner daily --notify https://hooks.slack.com/services/T/B/X
    """
    if (step is None) != (run_id is None):
        raise click.UsageError("--step and --run-id go together (or leave out both).")
    alerts.check(notify)
    settings = role_setup.as_transformer(ensure_server())
    metrics_file = output_file(metrics_file or health.default_path(settings), "--metrics-file")
    warn_demo_salt()
    options = nightly.DailyOptions(
        landing=resolve_landing(landing), backup_dest=dest or backups.default_dest(settings),
        skip_backup=skip_backup, always_backup=always_backup, report=not no_report)
    if step == "start":
        job = nightly.begin(settings, run_id)
        _started(settings, metrics_file, options)
        click.echo(f"daily run {job.run_id}: started")
        return
    if step == "finish":
        _close(settings, nightly.run_uuid(run_id), options, notify, notify_on_warn,
               metrics_file)
        return
    if step is None:
        job = nightly.begin(settings)
        _started(settings, metrics_file, options)
    else:
        job = nightly.attach(settings, run_id)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(writer_lock(settings, "daily", wait))
        except WarehouseError as error:
            click.echo(f"daily: {step or 'the run'} could not start -- {error}", err=True)
            nightly.fail(settings, job, step or "lock", str(error))
        else:
            if step is None:
                nightly.run(settings, options, job, say=click.echo)
            else:
                nightly.run_step(settings, options, job, step, say=click.echo)
    if step is None:
        _close(settings, job.run_id, options, notify, notify_on_warn, metrics_file)
    elif job.failed:
        raise WarehouseError(
            f"daily run {job.run_id}: {step} failed (recorded in audit.job_runs; the run's "
            "finish step alerts and fails the run)."
        )


def _started(settings, metrics_file, options) -> None:
    """Metrics as the run starts: until it ends they say `not finished`, so a night that is
    killed is never read from the last night's file as a success."""
    try:
        health.write(settings, metrics_file or health.default_path(settings), options.backup_dest)
    except WarehouseError as error:  # the run's end writes them (or says why) again
        click.echo(f"metrics: {error}", err=True)


def _close(settings, run_id: str, options, notify, notify_on_warn, metrics_file) -> None:
    """The end of every run, whole or step by step: record it, write the metrics (first, so
    a slow webhook cannot keep them from being written), alert, then exit 1 on failure."""
    job = nightly.finish(settings, run_id)
    for step in job.failed:
        if step.step == nightly.RUN_ROW:  # the steps' own failures were said as they ran
            click.echo(f"daily: the run failed -- {step.error}", err=True)
    unwritten = None
    try:
        path = health.write(settings, metrics_file or health.default_path(settings),
                            options.backup_dest)
        click.echo(f"metrics: {path}")
    except WarehouseError as error:  # the alert still goes out, then the run fails
        unwritten = str(error)
        click.echo(f"metrics: {unwritten}", err=True)
    if job.failed or (notify_on_warn and job.warned):
        if notify:
            problem = alerts.post(notify, alerts.summary(job, settings))
            click.echo(f"alert: {problem}; the job goes on" if problem else "alert: sent",
                       err=bool(problem))
        else:
            click.echo("alert: no webhook (--notify or WAREHOUSE_ALERT_WEBHOOK)", err=True)
    if job.failed:
        raise WarehouseError(
            f"daily run {job.run_id}: {', '.join(s.step for s in job.failed)} failed (see "
            "above; audit.job_runs has every step). Fix the cause and run `runner daily` "
            "again: it picks up without loading or backing up anything twice."
        )
    if unwritten:
        raise WarehouseError(f"daily run {job.run_id}: every step ended well, but {unwritten}")
    click.echo(f"daily run {job.run_id}: done"
               + (f" ({', '.join(s.step for s in job.warned)} warned)" if job.warned else ""))


@click.command()
@metrics_option
@dest_option
def metrics(metrics_file, dest) -> None:
    """Write the Prometheus metrics file from the database, without running anything.

    Example: runner metrics --metrics-file /var/lib/node_exporter/textfile/warehouse.prom
    """
    settings = role_setup.as_transformer(load_settings())
    metrics_file = output_file(metrics_file or health.default_path(settings), "--metrics-file")
    path = health.write(settings, metrics_file or health.default_path(settings),
                        dest or backups.default_dest(settings))
    click.echo(f"metrics: {path}")


@click.group()
def schedule() -> None:
    """Schedules for the daily job (cron, systemd), filled in for this checkout."""


@schedule.command(name="print")
@click.option("--cron", "kind", flag_value="cron", default=True, help="A crontab line (default).")
@click.option("--systemd", "kind", flag_value="systemd", help="A systemd service and timer.")
@click.option("--log-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where the job's output goes (default: .warehouse/logs/daily.log).")
def print_schedule(kind: str, log_file: Path | None) -> None:
    """Print the deploy/ files with this checkout's paths filled in.

    Example: runner schedule print --systemd
    """
    settings = load_settings()
    values = {
        "project_dir": str(settings.project_dir),
        "runner": str(Path(sys.executable).parent / "runner"),
        "log_file": str(log_file or settings.home / "logs" / "daily.log"),
        "user": getpass.getuser(),
        "env_file": str(settings.home / "daily.env"),
    }
    files = ([DEPLOY / "cron" / "warehouse-daily.cron"] if kind == "cron" else
             [DEPLOY / "systemd" / "warehouse-daily.service",
              DEPLOY / "systemd" / "warehouse-daily.timer"])
    quoted = {name: (_systemd_word(value) if kind == "systemd" else _cron_word(value))
              for name, value in values.items()}
    if kind == "systemd":  # WorkingDirectory= and User= take the whole value, specifiers aside
        quoted.update({name: values[name].replace("%", "%%") for name in ("project_dir", "user")})
    for path in files:
        if kind == "systemd":
            click.echo(f"# --- /etc/systemd/system/{path.name}")
        click.echo(path.read_text().format(**quoted))
    (settings.home / "logs").mkdir(parents=True, exist_ok=True)
    if not Path(values["env_file"]).exists():
        click.echo(f"# {values['env_file']} does not exist yet: create it (mode 0600) with "
                   "lines like WAREHOUSE_PII_SALT=... and WAREHOUSE_ALERT_WEBHOOK=...",
                   err=True)


def _cron_word(value: str) -> str:
    """One shell word for a crontab line (cron reads an unescaped % as a new line)."""
    return shlex.quote(value).replace("%", "\\%")


def _systemd_word(value: str) -> str:
    """One word of a systemd ExecStart= line ($ and % are systemd's own, doubled)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("$", "$$").replace("%", "%%") + '"'


COMMANDS = [daily, metrics, schedule]
