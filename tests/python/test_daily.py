"""`runner daily` end to end on a real server: every step recorded, idempotent reruns, a
failing step in the middle alerts a (local) webhook and shows in the metrics file."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import query
from runner.core import alerts
from runner.core import generate as gen


class Recorder(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        length = int(self.headers["Content-Length"])
        Recorder.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def webhook():
    server = HTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", Recorder.received
    server.shutdown()


def metrics(path):
    found = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


@pytest.fixture(scope="module")
def night(database, tmp_path_factory):
    folder = tmp_path_factory.mktemp("daily")
    gen.generate(folder / "landing", seed=21, scale=0.01)
    return database, folder


def daily(run_cli, folder, *extra, dest=None):
    return run_cli("daily", "--landing", str(folder / "landing"),
                   "--dest", str(dest or folder / "backups"),
                   "--metrics-file", str(folder / "warehouse.prom"), *extra)


def test_a_night_runs_every_step_and_writes_metrics(night, run_cli, webhook):
    settings, folder = night
    url, received = webhook
    result = daily(run_cli, folder, "--notify", url)
    assert result.exit_code == 0, result.output
    steps = dict(query(settings, "select step, status from audit.job_runs"))
    assert steps == {"load": "ok", "build": steps["build"], "backup": "ok", "prune": "ok",
                     "report": "skipped"}
    assert steps["build"] in ("ok", "warned")
    assert received == []  # nothing failed: no alert
    found = metrics(folder / "warehouse.prom")
    assert found[("warehouse_daily_success", ())] == 1
    assert found[("warehouse_daily_step_ok", (("step", "build"),))] == 1
    assert found[("warehouse_daily_rows_loaded", (("source", "erp__order_lines"),))] > 0
    assert 0 <= found[("warehouse_backup_newest_verified_age_seconds", ())] < 600
    assert found[("warehouse_layer_size_bytes", (("layer", "gold"),))] > 0
    assert ("warehouse_source_freshness_lag_seconds", (("source", "erp__orders"),)) in found


def test_a_rerun_loads_nothing_and_takes_no_second_backup(night, run_cli):
    settings, folder = night
    result = daily(run_cli, folder)
    assert result.exit_code == 0, result.output
    assert "load ok" in result.output and "0 file(s) loaded" in result.output
    assert "backup skipped" in result.output and "nothing changed since backup" in result.output
    assert len(list((folder / "backups").iterdir())) == 1


def test_a_failing_step_alerts_and_shows_in_the_metrics(night, run_cli, webhook, tmp_path):
    settings, folder = night
    url, received = webhook
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    # A backup folder under a file: the backup step cannot write (mkdir fails).
    result = daily(run_cli, folder, "--notify", url, "--always-backup",
                   dest=not_a_folder / "backups")
    assert result.exit_code == 1
    assert "backup failed" in result.output and "report skipped" in result.output
    assert "Error: daily run" in result.output and "backup" in result.output.splitlines()[-1]
    assert len(received) == 1
    alert = received[0]
    assert alert["status"] == "failed" and "backup" in alert["failed_steps"]
    assert alert["errors"][0].startswith("backup: cannot write backups to")
    assert "dbt.log" in alert["log"]
    found = metrics(folder / "warehouse.prom")
    assert found[("warehouse_daily_success", ())] == 0
    assert found[("warehouse_daily_step_ok", (("step", "backup"),))] == 0
    assert found[("warehouse_daily_step_ok", (("step", "build"),))] == 1
    last_success = found[("warehouse_daily_last_success_timestamp_seconds", ())]
    assert last_success < found[("warehouse_daily_last_run_timestamp_seconds", ())] + 1


def test_a_webhook_that_is_down_never_fails_the_job_on_its_own(night, run_cli):
    settings, folder = night
    result = daily(run_cli, folder, "--notify", "http://127.0.0.1:9/down", "--notify-on-warn",
                   "--skip-backup")
    build = dict(query(settings, """
        select step, status from audit.job_runs where run_id = (
            select run_id from audit.job_runs order by started_at desc limit 1)"""))["build"]
    if build == "warned":
        assert "alert: the webhook could not be reached" in result.stderr
    assert result.exit_code == 0, result.output


def test_slack_webhooks_get_slack_formatting():
    payload = {"job": "runner daily", "run_id": "0123456789", "status": "failed",
               "errors": ["build: dbt build exited 1"], "tests": [{"test": "unique_x", "rows": 3}],
               "log": "logs/dbt.log"}
    assert alerts.is_slack("https://hooks.slack.com/services/T0/B0/XYZ")
    assert not alerts.is_slack("https://example.com/hooks.slack.com")
    text = alerts._slack(payload)["text"]
    assert text.splitlines()[0] == ":red_circle: *warehouse runner daily: failed* (run 01234567)"
    assert "• test `unique_x`: 3 row(s)" in text


def test_schedules_are_filled_in(run_cli):
    cron = run_cli("schedule", "print", "--cron")
    assert cron.exit_code == 0, cron.output
    line = [l for l in cron.output.splitlines() if l.startswith("0 2 * * *")][0]
    assert "runner daily --wait 3600 >> " in line and "{" not in line
    systemd = run_cli("schedule", "print", "--systemd")
    assert "Persistent=true" in systemd.output and "OnCalendar=*-*-* 02:00:00" in systemd.output
    assert "{" not in systemd.output


def test_the_airflow_dag_imports_where_airflow_is_installed():
    pytest.importorskip("airflow", reason="Airflow is not installed here")
    import runpy
    from pathlib import Path

    dag_file = Path(__file__).resolve().parents[2] / "deploy" / "airflow" / "warehouse_daily.py"
    dag = runpy.run_path(str(dag_file))["dag"]
    assert {task.task_id for task in dag.tasks} == {"load", "build", "backup", "report", "metrics"}


def test_metrics_before_any_daily_run(warehouse_env, tmp_path, run_cli):
    """A loaded warehouse that never ran `runner daily` still gets a metrics file."""
    from conftest import empty_database
    from runner.core import load as loader

    settings = empty_database(warehouse_env, "metrics_first")
    landing = tmp_path / "landing"
    gen.generate(landing, seed=3, scale=0.01)
    loader.load(settings, landing)
    result = run_cli("metrics", "--metrics-file", str(tmp_path / "m.prom"),
                     env={"WAREHOUSE_DB": "metrics_first"})
    assert result.exit_code == 0, result.output
    found = metrics(tmp_path / "m.prom")
    assert ("warehouse_source_freshness_lag_seconds", (("source", "erp__orders"),)) in found
    # Never succeeded: the "no success in 26 h" alert fires until a night does.
    assert found[("warehouse_daily_last_success_timestamp_seconds", ())] == 0
