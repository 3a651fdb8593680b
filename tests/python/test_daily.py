"""`runner daily` end to end on a real server: every step recorded, idempotent reruns, a
failing step in the middle (or a writer lock it cannot get) alerts a (local) webhook after
the metrics file shows it, a run that never finished is not a success, and a webhook that
trickles its answer cannot hold the night."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import PROJECT_DIR, query
from runner.core import alerts
from runner.core import daily as nightly
from runner.core import generate as gen


class Recorder(BaseHTTPRequestHandler):
    received: list = []
    # The metrics file as it was when the alert arrived: metrics are written first.
    metrics_file: Path | None = None
    metrics_at_alert: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        length = int(self.headers["Content-Length"])
        Recorder.received.append(json.loads(self.rfile.read(length)))
        if Recorder.metrics_file is not None:
            Recorder.metrics_at_alert.append(
                metrics(Recorder.metrics_file) if Recorder.metrics_file.exists() else None)
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
    before = time.time()
    result = daily(run_cli, folder, "--notify", url)
    assert result.exit_code == 0, result.output
    steps = dict(query(settings, "select step, status from audit.job_runs"))
    assert steps == {"run": steps["build"], "load": "ok", "build": steps["build"],
                     "backup": "ok", "prune": "ok", "report": "skipped"}
    assert steps["build"] in ("ok", "warned")
    assert received == []  # nothing failed: no alert
    found = metrics(folder / "warehouse.prom")
    assert found[("warehouse_daily_success", ())] == 1
    assert found[("warehouse_daily_finished", ())] == 1
    assert found[("warehouse_daily_step_ok", (("step", "build"),))] == 1
    assert found[("warehouse_daily_rows_loaded", (("source", "erp__order_lines"),))] > 0
    # Moments, not ages: a file's ages would freeze until its next write.
    assert found[("warehouse_backup_newest_verified_timestamp_seconds", ())] >= before - 1
    assert found[("warehouse_layer_size_bytes", (("layer", "gold"),))] > 0
    assert found[("warehouse_source_last_loaded_timestamp_seconds",
                  (("source", "erp__orders"),))] >= before - 1
    # Each source's own dbt freshness threshold, for the "source late" rule.
    assert found[("warehouse_source_freshness_threshold_seconds",
                  (("level", "warn"), ("source", "erp__stores")))] == 35 * 86400
    assert found[("warehouse_source_freshness_threshold_seconds",
                  (("level", "warn"), ("source", "erp__orders")))] == 26 * 3600
    loaded = {dict(labels)["source"] for name, labels in found
              if name == "warehouse_source_last_loaded_timestamp_seconds"}
    with_threshold = {dict(labels)["source"] for name, labels in found
                      if name == "warehouse_source_freshness_threshold_seconds"}
    assert loaded and loaded <= with_threshold
    promtool = shutil.which("promtool")
    if promtool:  # test_alert_rules.py says why it skips where promtool is absent
        check = subprocess.run([promtool, "check", "metrics"], capture_output=True, text=True,
                               input=(folder / "warehouse.prom").read_text())
        assert check.returncode == 0 and not check.stdout.strip(), check.stdout + check.stderr


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
    Recorder.metrics_file = folder / "warehouse.prom"
    Recorder.metrics_file.unlink(missing_ok=True)
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
    assert "dbt.log" in alert["log"] and "build.log" in alert["log"]
    # Where it comes from and what to open.
    assert alert["host"] and f"database {settings.dbname}" in alert["environment"]
    assert "test_failures" in alert["test_failures"]
    assert all(test["status"] in ("fail", "error", "warn") for test in alert["tests"])
    # The metrics already showed the failure when the alert went out.
    assert Recorder.metrics_at_alert[-1][("warehouse_daily_success", ())] == 0
    found = metrics(folder / "warehouse.prom")
    assert found[("warehouse_daily_success", ())] == 0
    assert found[("warehouse_daily_step_ok", (("step", "backup"),))] == 0
    assert found[("warehouse_daily_step_ok", (("step", "build"),))] == 1
    last_success = found[("warehouse_daily_last_success_timestamp_seconds", ())]
    assert last_success < found[("warehouse_daily_last_run_timestamp_seconds", ())] + 1


def test_a_file_name_with_control_characters_reaches_no_record_raw(night, run_cli, webhook,
                                                                    tmp_path):
    """A landing file's name is outside input: the night's error, in job_runs and in the
    alert, shows it escaped, so it cannot end a line or move a terminal's cursor."""
    settings, folder = night
    url, received = webhook
    landing = tmp_path / "landing"
    landing.mkdir()
    hostile = "erp__stores__2025-01-01.csv\x1b[2J\nfake: ok"
    (landing / hostile).write_text("store_id\nS1\n")
    received.clear()
    result = run_cli("daily", "--landing", str(landing), "--skip-backup", "--no-report",
                     "--notify", url, "--metrics-file", str(tmp_path / "m.prom"))
    assert result.exit_code == 1
    error = query(settings, "select error from audit.job_runs where step = 'load' "
                            "order by started_at desc limit 1")[0][0]
    assert "\\x1b[2J\\nfake: ok" in error, error
    assert "\x1b" not in error and "\n" not in error
    assert received and all("\x1b" not in e and "\n" not in e for e in received[-1]["errors"])


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


def test_a_night_that_cannot_get_the_writer_lock_is_recorded_and_alerted(
        night, run_cli, webhook):
    from runner.core.locking import writer_lock

    settings, folder = night
    url, received = webhook
    Recorder.metrics_file = folder / "warehouse.prom"
    alerts_before = len(received)
    with writer_lock(settings, "a night still going"):
        result = daily(run_cli, folder, "--notify", url)
    assert result.exit_code == 1
    assert "another writer holds the warehouse lock" in result.output
    run = query(settings, """
        select run_id from audit.job_runs group by run_id order by min(started_at) desc
        limit 1""")[0][0]
    steps = dict(query(settings, "select step, status from audit.job_runs where run_id = %s",
                       (run,)))
    assert steps == {"run": "failed", "lock": "failed"}
    assert len(received) == alerts_before + 1 and received[-1]["failed_steps"] == ["lock"]
    assert Recorder.metrics_at_alert[-1][("warehouse_daily_success", ())] == 0
    assert Recorder.metrics_at_alert[-1][("warehouse_daily_step_ok", (("step", "lock"),))] == 0


def test_a_run_that_never_finished_is_not_a_success(night, run_cli, tmp_path):
    """What `kill -9` during a night leaves: a started run whose steps so far were ok."""
    settings, folder = night
    prom = tmp_path / "m.prom"
    assert run_cli("metrics", "--metrics-file", str(prom)).exit_code == 0
    last_success = metrics(prom)[("warehouse_daily_last_success_timestamp_seconds", ())]
    for step in ("start", "load", "report"):
        result = run_cli("daily", "--step", step, "--run-id", "killed-night",
                         "--landing", str(folder / "landing"))
        assert result.exit_code == 0, result.output
    result = run_cli("metrics", "--metrics-file", str(prom))
    assert result.exit_code == 0, result.output
    found = metrics(prom)
    assert found[("warehouse_daily_success", ())] == 0
    assert found[("warehouse_daily_finished", ())] == 0
    assert found[("warehouse_daily_step_ok", (("step", "load"),))] == 1
    assert found[("warehouse_daily_last_success_timestamp_seconds", ())] == last_success
    # Its finish step closes it from what the database holds, as Airflow's last task does
    # (all_done: it runs after a killed task too): the steps that never ended make it a
    # failed run, not a success (old code: exit 0 and warehouse_daily_success 1).
    result = run_cli("daily", "--step", "finish", "--run-id", "killed-night",
                     "--metrics-file", str(prom))
    assert result.exit_code == 1, result.output
    assert "build, backup, prune never recorded an end" in result.output + result.stderr
    found = metrics(prom)
    assert found[("warehouse_daily_finished", ())] == 1
    assert found[("warehouse_daily_success", ())] == 0
    assert found[("warehouse_daily_last_success_timestamp_seconds", ())] == last_success


def test_a_night_killed_half_way_is_reported_as_not_finished(night, run_cli, tmp_path):
    """`kill -9` of a real `runner daily` once its load step is recorded."""
    import os
    import signal
    import sys

    settings, folder = night
    before = query(settings, "select now()")[0][0]
    process = subprocess.Popen(
        [sys.executable, "-m", "runner.cli", "daily", "--landing", str(folder / "landing"),
         "--dest", str(folder / "backups"), "--metrics-file", str(tmp_path / "night.prom"),
         "--always-backup"],
        env={**os.environ, "WAREHOUSE_DB": settings.dbname}, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):  # wait (at most ten minutes) for the load step's row
            loaded = query(settings, """
                select count(*) from audit.job_runs where step = 'load' and run_id = (
                    select run_id from audit.job_runs where step = 'run' and started_at > %s
                    order by started_at desc limit 1)""", (before,))[0][0]
            if loaded or process.poll() is not None:
                break
            time.sleep(1)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL and loaded
    # The night's own file (all that Prometheus reads when nothing else runs `runner
    # metrics`) says so: it was written as the run started (old code: never written by a
    # killed night, so the previous night's success stayed in it).
    found = metrics(tmp_path / "night.prom")
    assert found[("warehouse_daily_success", ())] == 0
    assert found[("warehouse_daily_finished", ())] == 0
    result = run_cli("metrics", "--metrics-file", str(tmp_path / "after.prom"))
    assert result.exit_code == 0, result.output
    found = metrics(tmp_path / "after.prom")
    assert found[("warehouse_daily_success", ())] == 0
    assert found[("warehouse_daily_finished", ())] == 0


class Trickle(BaseHTTPRequestHandler):
    """A receiver that answers one byte every two seconds (for three minutes, so the
    abandoned connection ends within the test session)."""

    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        try:
            for _ in range(90):
                self.wfile.write(b"H")
                self.wfile.flush()
                time.sleep(2)
        except OSError:
            pass

    def log_message(self, *args):
        pass


def test_a_webhook_that_trickles_its_answer_cannot_hold_the_night():
    from http.server import ThreadingHTTPServer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    outcome = []
    sender = threading.Thread(target=lambda: outcome.append(alerts.post(
        f"http://127.0.0.1:{server.server_port}/hook", {"status": "failed"}, deadline=3)),
        daemon=True)
    sender.start()
    sender.join(120)  # a generous bound so the old code fails here instead of hanging
    server.shutdown()
    assert outcome == ["the webhook did not answer within 3 s (WAREHOUSE_ALERT_TIMEOUT)"]


def test_a_webhook_that_answers_garbage_is_said_at_once():
    """A receiver whose answer is not HTTP is reported as such, at once, rather than as
    silence until the deadline (the sender thread used to die on http.client's error)."""
    import socketserver

    class Garbage(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.recv(65536)
            self.request.sendall(b"H" * 100 + b"\r\n")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Garbage)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        outcome = alerts.post(f"http://127.0.0.1:{server.server_address[1]}/hook",
                              {"status": "failed"}, deadline=30)
    finally:
        server.shutdown()
    assert outcome == "the webhook's answer was not HTTP (BadStatusLine)"


def test_slack_webhooks_get_slack_formatting():
    payload = {"job": "runner daily", "run_id": "0123456789", "status": "failed",
               "errors": ["build: dbt build exited 1"], "tests": [{"test": "unique_x", "rows": 3}],
               "log": "logs/dbt.log"}
    assert alerts.is_slack("https://hooks.slack.com/services/T0/B0/XYZ")
    assert not alerts.is_slack("https://example.com/hooks.slack.com")
    payload.update(host="db1", environment="target prod, database warehouse",
                   test_failures="schema test_failures")
    payload["tests"][0]["status"] = "fail"
    text = alerts._slack(payload)["text"]
    assert text.splitlines()[0] == (":red_circle: *warehouse runner daily: failed* (run "
                                    "01234567, db1, target prod, database warehouse)")
    assert "• test `unique_x` fail: 3 row(s)" in text
    assert text.splitlines()[-1] == "failing rows: schema test_failures"


def test_schedules_are_filled_in_and_read_the_same_env_file(run_cli, tmp_path):
    # A home with a space in its path (old code: `. /…/my home/daily.env` sourced `/…/my`).
    home = tmp_path / "my home"
    cron = run_cli("schedule", "print", "--cron", env={"WAREHOUSE_HOME": str(home)})
    assert cron.exit_code == 0, cron.output
    line = [l for l in cron.output.splitlines() if l.startswith("0 2 * * *")][0]
    assert "daily --wait 3600' " in line and "{" not in line
    systemd = run_cli("schedule", "print", "--systemd", env={"WAREHOUSE_HOME": str(home)})
    assert "Persistent=true" in systemd.output and "OnCalendar=*-*-* 02:00:00" in systemd.output
    assert "{" not in systemd.output
    exec_start = [l for l in systemd.output.splitlines() if l.startswith("ExecStart=")][0]
    command = line.split("* * * ", 1)[1]
    words = shlex.split(command)
    script = words[words.index("-c") + 1]
    env_file, runner = words[words.index("-c") + 2:words.index("-c") + 4]
    assert env_file == str(home / "daily.env")
    # systemd reads the same file the same way ($$ is systemd's $).
    assert script.replace("$", "$$").split(" daily")[0] in exec_start
    assert f'"{env_file}"' in exec_start
    # Under cron's bare environment, the runner gets the secrets of the env file.
    env_path = Path(env_file)
    env_path.parent.mkdir(parents=True, exist_ok=True)
    env_path.write_text("WAREHOUSE_PII_SALT=s3cret-salt\n")
    seen = tmp_path / "seen"
    fake = tmp_path / "runner"
    fake.write_text(f"#!/bin/bash\nenv > {seen}\n")
    fake.chmod(0o755)
    command = command.replace(runner, str(fake))
    subprocess.run(["env", "-i", "/bin/bash", "-c", command], check=True)
    env_path.unlink()
    assert "WAREHOUSE_PII_SALT=s3cret-salt" in seen.read_text().splitlines()
    assert (home / "logs" / "daily.log").exists()


def test_the_systemd_units_verify(run_cli, tmp_path):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed here")
    # Paths with a space and a % (a systemd specifier) stay one word each.
    printed = run_cli("schedule", "print", "--systemd",
                      env={"WAREHOUSE_HOME": str(tmp_path / "my home%1")}).output
    for part in printed.split("# --- /etc/systemd/system/")[1:]:
        name, text = part.split("\n", 1)
        (tmp_path / name).write_text(text)
    result = subprocess.run([analyze, "verify", str(tmp_path / "warehouse-daily.service"),
                             str(tmp_path / "warehouse-daily.timer")],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "warehouse-daily" not in result.stderr, result.stderr


def test_daily_warns_about_the_demo_salt(run_cli, tmp_path, monkeypatch):
    monkeypatch.delenv("WAREHOUSE_PII_SALT", raising=False)
    # --step finish of a run that never started: the warning comes before anything runs.
    result = run_cli("daily", "--step", "finish", "--run-id", "no-such-run",
                     "--metrics-file", str(tmp_path / "m.prom"))
    assert "public demo salt" in result.stderr




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
    assert ("warehouse_source_last_loaded_timestamp_seconds", (("source", "erp__orders"),)) in found
    # Never succeeded, never backed up: 0, which the age rules read as "never".
    assert found[("warehouse_daily_last_success_timestamp_seconds", ())] == 0
    assert found[("warehouse_backup_newest_verified_timestamp_seconds", ())] == 0


def airflow_executable() -> str | None:
    beside = Path(__import__("sys").executable).parent / "airflow"
    return str(beside) if beside.exists() else shutil.which("airflow")


def test_an_airflow_night_with_a_bad_file_is_recorded_builds_anyway_and_fails(
        night, tmp_path, webhook, run_cli):
    """`airflow dags test` of deploy/airflow/warehouse_daily.py on the built warehouse,
    with one bad file in the landing folder."""
    airflow = airflow_executable()
    if not airflow:
        pytest.skip("Airflow is not installed here (pip install -e '.[airflow]', or any "
                    "`airflow` on PATH)")
    import os

    settings, folder = night
    built = query(settings, "select to_regclass('audit.job_runs') is not null")[0][0] and query(
        settings, "select 1 from audit.job_runs where step = 'build' and status in ('ok', 'warned')")
    if not built:  # run on its own: the night before first
        assert daily(run_cli, folder, "--skip-backup").exit_code == 0
    url, received = webhook
    Recorder.metrics_file = None
    alerts_before = len(received)
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "erp__orders__2031-01-01.csv").write_text("not,the,header\n1,2,3\n")
    project = PROJECT_DIR
    env = dict(os.environ, AIRFLOW_HOME=str(tmp_path / "airflow"),
               AIRFLOW__CORE__DAGS_FOLDER=str(project / "deploy" / "airflow"),
               AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW_VAR_WAREHOUSE_PROJECT_DIR=str(project),
               WAREHOUSE_LANDING=str(landing), WAREHOUSE_BACKUP_DIR=str(folder / "backups"),
               WAREHOUSE_METRICS_FILE=str(tmp_path / "airflow.prom"),
               WAREHOUSE_ALERT_WEBHOOK=url)
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    result = subprocess.run([airflow, "dags", "test", "warehouse_daily", "2026-12-06"],
                            env=env, capture_output=True, text=True)
    output = result.stdout + result.stderr
    print(output[-6000:])  # shown with -s, or when the test fails
    run = query(settings, """
        select run_id from audit.job_runs group by run_id order by min(started_at) desc
        limit 1""")[0][0]
    steps = dict(query(settings, "select step, status from audit.job_runs where run_id = %s",
                       (run,)))
    # One recorded run: the bad file fails the load, the build runs anyway, the run fails.
    assert steps["load"] == "failed" and steps["build"] in ("ok", "warned"), output[-3000:]
    assert steps["run"] == "failed" and {"backup", "prune", "report"} <= set(steps)
    assert len(received) == alerts_before + 1 and received[-1]["failed_steps"] == ["load"]
    found = metrics(tmp_path / "airflow.prom")
    assert found[("warehouse_daily_success", ())] == 0
    # And the DAG run itself failed: not a green night.
    finished = [line for line in output.splitlines() if "DagRun Finished" in line]
    assert finished and "state=failed" in finished[-1], output[-3000:]


@pytest.mark.parametrize(("env", "notify", "expected"), [
    # Old code: the failed night's alert crashed with "unexpected OverflowError ... report
    # it" (a deadline past what a thread can wait), so no alert went out.
    ({"WAREHOUSE_ALERT_TIMEOUT": "inf"}, "http://127.0.0.1:9/hook", "WAREHOUSE_ALERT_TIMEOUT 'inf'"),
    ({"WAREHOUSE_ALERT_TIMEOUT": "1e10"}, "http://127.0.0.1:9/hook", "WAREHOUSE_ALERT_TIMEOUT '1e10'"),
    # Old code: 20 s, silently.
    ({"WAREHOUSE_ALERT_TIMEOUT": "abc"}, "http://127.0.0.1:9/hook", "WAREHOUSE_ALERT_TIMEOUT 'abc'"),
    # Old code: found only when a night failed, and the secret URL printed in the log.
    ({}, "hooks.slack.com/services/T0/B0/SECRETTOKEN", "is not an http(s) URL"),
])
def test_bad_alert_settings_stop_the_night_before_it_starts(night, run_cli, env, notify,
                                                            expected):
    settings, folder = night
    result = run_cli("daily", "--step", "start", "--run-id", "bad-alert-settings",
                     "--notify", notify, env=env)
    assert result.exit_code == 1
    assert expected in result.stderr and "unexpected" not in result.stderr
    assert "SECRETTOKEN" not in result.output + result.stderr
    if query(settings, "select to_regclass('audit.job_runs') is not null")[0][0]:
        assert query(settings, "select count(*) from audit.job_runs where run_id = %s",
                     (nightly.run_uuid("bad-alert-settings"),)) == [(0,)]


def test_a_night_backs_up_again_when_the_last_backup_failed_its_check(night, run_cli, tmp_path):
    """Nothing changed since the last daily backup, but that backup failed verification
    (or lost its manifest): the next night must take a new one (old code: 'nothing changed
    since backup …' every night, while WarehouseBackupTooOld paged)."""
    import json as _json

    from runner.core import backup as backups

    settings, folder = night
    dest = tmp_path / "backups"

    def backup_step(run_id):
        for step in ("start", "backup"):
            result = run_cli("daily", "--step", step, "--run-id", run_id, "--dest", str(dest),
                             "--landing", str(folder / "landing"))
            assert result.exit_code == 0, result.output
        return dict(query(settings, "select step, backup_id from audit.job_runs "
                                    "where run_id = %s", (nightly.run_uuid(run_id),)))["backup"]

    first = backup_step("checked-backup-1")
    assert backups.info(dest / first).status == "verified"
    (dest / first / backups.VERIFICATION).write_text(_json.dumps(
        {"ok": False, "problems": ["checksum mismatch"], "restore_test": True,
         "verified_at": "2026-12-06T00:00:00+00:00"}))
    second = backup_step("checked-backup-2")
    assert second != first
    assert backups.info(dest / second).status == "verified"
