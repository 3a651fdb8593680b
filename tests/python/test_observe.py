"""Elementary observability: off without its package, on with it.

Tests that need the package run when ELEMENTARY_MIRROR points at a folder holding
elementary/ (dbt-data-reliability 0.25.1) and dbt_utils/ (0.8.6); without it they skip,
since neither the dbt hub nor GitHub can be reached here.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO_DIR, query
from runner.core import build as builder
from runner.core import dbt
from runner.core import generate as gen
from runner.core import load as loader
from runner.core import observe as obs
from runner.settings import load_settings

MIRROR = os.environ.get("ELEMENTARY_MIRROR")
needs_mirror = pytest.mark.skipif(
    not MIRROR, reason="set ELEMENTARY_MIRROR to a folder with elementary/ and dbt_utils/")


@pytest.fixture(scope="module")
def project(tmp_path_factory, monkeypatch_module):
    """A copy of the committed project, so installing a package never touches the checkout."""
    copy = tmp_path_factory.mktemp("project") / "warehouse"
    files = subprocess.run(["git", "ls-files"], cwd=REPO_DIR, capture_output=True,
                           text=True, check=True).stdout.split()
    for name in files:
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO_DIR / name).is_file():
            shutil.copy2(REPO_DIR / name, target)
    monkeypatch_module.setenv("WAREHOUSE_PROJECT_DIR", str(copy))
    return copy


@pytest.fixture(scope="module")
def monkeypatch_module():
    patch = pytest.MonkeyPatch()
    yield patch
    patch.undo()


def report_data(path: Path) -> dict:
    blob = max(re.findall(r"[A-Za-z0-9+/]{5000,}={0,2}", path.read_text()), key=len)
    return json.loads(base64.b64decode(blob))


def test_report_without_package_fails_clearly(project, run_cli, tmp_path):
    result = run_cli("report", "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 1
    assert "observability is off" in result.output
    assert "runner observe install --from DIR" in result.output
    assert not (tmp_path / "r.html").exists()
    status = run_cli("observe", "status")
    assert "observability: off" in status.output


def test_anomaly_tests_are_off_without_the_package(project):
    settings = load_settings()
    env = dbt.dbt_environment(settings)
    assert env["WAREHOUSE_OBSERVABILITY"] == "off"
    listed = subprocess.run(
        [dbt.dbt_executable(), "ls", "--resource-type", "test", "--output", "name"],
        cwd=project, env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stdout
    assert "reconciles_with_fct_orders" in listed.stdout
    assert "anomalies" not in listed.stdout


def test_install_rejects_a_wrong_mirror(project, run_cli, tmp_path):
    (tmp_path / "elementary").mkdir()
    (tmp_path / "elementary" / "dbt_project.yml").write_text("name: elementary\nversion: 0.20.0\n")
    (tmp_path / "dbt_utils").mkdir()
    (tmp_path / "dbt_utils" / "dbt_project.yml").write_text("name: dbt_utils\n")
    result = run_cli("observe", "install", "--from", str(tmp_path))
    assert result.exit_code == 1
    assert "is elementary 0.20.0, but the CLI is elementary-data 0.25.1" in result.output
    assert not (project / "dbt_packages" / "elementary").exists()


@needs_mirror
def test_observability_records_runs_and_reports(project, database, run_cli, tmp_path):
    landing = tmp_path / "landing"
    gen.generate(landing, seed=4, scale=0.01)
    settings = load_settings()
    loader.load(settings, landing)

    result = run_cli("observe", "install", "--from", MIRROR)
    assert result.exit_code == 0, result.output
    assert "observability: on (elementary 0.25.1" in run_cli("observe", "status").output

    assert builder.run_build(settings, []).build_returncode == 0
    invocations = query(settings, "select count(distinct invocation_id) from elementary.dbt_run_results")[0][0]
    assert invocations >= 1
    results = query(settings, "select count(*) from elementary.elementary_test_results where status = 'warn'")[0][0]
    assert results >= 1

    anomaly_tests = query(settings, """
        select lower(table_name), test_short_name, test_type, test_sub_type, max(severity)
        from elementary.elementary_test_results
        where test_short_name like '%anomalies' group by 1, 2, 3, 4 order by 1, 2""")
    assert anomaly_tests == [
        ("crm_customers", "volume_anomalies", "anomaly_detection", "row_count", "warn"),
        ("erp_order_lines", "volume_anomalies", "anomaly_detection", "row_count", "warn"),
        ("erp_orders", "volume_anomalies", "anomaly_detection", "row_count", "warn"),
        ("fct_order_lines", "freshness_anomalies", "anomaly_detection", "freshness", "warn"),
        ("fct_order_lines", "volume_anomalies", "anomaly_detection", "row_count", "warn"),
        ("fct_orders", "freshness_anomalies", "anomaly_detection", "freshness", "warn"),
        ("fct_orders", "volume_anomalies", "anomaly_detection", "row_count", "warn"),
    ]

    watched = {row[0] for row in query(settings, """
        select distinct lower(table_name) from elementary.elementary_test_results
        where test_short_name = 'schema_changes'""")}
    assert {"erp_orders", "erp_order_lines", "erp_products", "erp_stores", "fct_orders",
            "fct_order_lines"} <= watched

    report_path = tmp_path / "report.html"
    result = run_cli("report", "--out", str(report_path))
    assert result.exit_code == 0, result.output
    data = report_data(report_path)
    model_names = {model["name"] for model in data["models"].values()}
    assert {"fct_order_lines", "dim_customers", "agg_sales_daily"} <= model_names
    statuses = json.dumps(data["test_results"])
    assert "relationships_within_lateness" in statuses and '"warn"' in statuses

    assert builder.run_build(settings, ["--select", "marts"]).build_returncode == 0
    again = query(settings, "select count(distinct invocation_id) from elementary.dbt_run_results")[0][0]
    assert again > invocations


@needs_mirror
def test_alerts_reach_a_webhook(project, database, run_cli):
    """`runner alerts` (edr monitor) posts the warnings the build recorded to a local
    webhook standing in for Slack's."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received = []

    class Recorder(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        if not obs.status(load_settings()).enabled:
            pytest.skip("needs the package the records test installs")
        result = run_cli("alerts", "--notify", f"http://127.0.0.1:{server.server_port}/hook")
    finally:
        server.shutdown()
    assert result.exit_code == 0, result.output
    assert received, result.output
    assert any(b"warn" in body.lower() for body in received)


def test_a_changed_package_set_drops_dbts_partial_parse(warehouse_env, tmp_path):
    """A removed package's hooks linger in dbt's partial parse and break the next build."""
    from dataclasses import replace

    from runner.core import dbt as dbt_core

    settings = replace(warehouse_env, project_dir=tmp_path)
    (tmp_path / "target").mkdir()
    (tmp_path / "dbt_packages" / "elementary").mkdir(parents=True)
    dbt_core.forget_parse_if_packages_changed(settings)
    parse = tmp_path / "target" / "partial_parse.msgpack"
    parse.write_bytes(b"parsed with elementary")
    dbt_core.forget_parse_if_packages_changed(settings)
    assert parse.exists()  # same packages: kept
    (tmp_path / "dbt_packages" / "elementary").rmdir()
    dbt_core.forget_parse_if_packages_changed(settings)
    assert not parse.exists()


def test_uninstall_then_build(project, database, run_cli):
    """Off again: the package goes, and the next build parses without its hooks."""
    was_on = obs.status(load_settings()).enabled
    if was_on:  # dbt's partial-parse state now holds the package's macros and hooks
        assert dbt.run_dbt(load_settings(), ["parse"], capture=True).returncode == 0
    result = run_cli("observe", "uninstall")
    assert result.exit_code == 0
    assert ("removed elementary, dbt_utils" if was_on else "already off") in result.output
    assert not obs.status(load_settings()).enabled
    if was_on:  # the same invocation as the parse, so only the packages changed
        built = dbt.run_dbt(load_settings(), ["run", "--select", "dim_date"], capture=True)
        assert built.returncode == 0, built.stdout[-3000:]


@needs_mirror
def test_a_thin_day_makes_the_volume_anomaly_warn(project, warehouse_env, tmp_path):
    """The anomaly tests look at the data's own days (its newest batch), so on the demo's
    data they measure real buckets: a day with a tenth of the usual orders warns, the
    ordinary days before it pass."""
    from conftest import empty_database

    settings = empty_database(load_settings(), "observe_anomaly")
    if not obs.status(settings).enabled:
        obs.install(settings, Path(MIRROR))
    dbt.run_dbt_checked(settings, ["run", "--select", "elementary"], capture=True)
    landing = tmp_path / "landing"
    gen.generate(landing, seed=8, scale=0.1)
    # Two weeks of daily batches: the training window then holds days like the next one
    # (the history's December runs a quarter above a January day).
    for _ in range(15):
        gen.next_day(landing)
    loader.load(settings, landing)
    assert builder.run_build(settings, [], freshness=False).build_returncode == 0

    def latest(table):
        return query(settings, """
            select status from elementary.elementary_test_results
            where lower(table_name) = %s and test_short_name = 'volume_anomalies'
            order by detected_at desc limit 1""", (table,))

    assert latest("fct_orders") == [("pass",)]

    _, day = gen.next_day(landing)
    orders = landing / f"erp__orders__{day}.csv"
    header, *rows = orders.read_text().splitlines()
    orders.write_text("\n".join([header, *rows[::10]]) + "\n")
    loader.load(settings, landing)
    assert builder.run_build(settings, [], freshness=False).build_returncode == 0
    assert latest("fct_orders") == [("warn",)]


def test_the_alert_webhook_never_reaches_edr_command_line(warehouse_env, tmp_path, monkeypatch):
    """`runner alerts` hands the webhook (a secret) to edr in its 0600 config file; old code
    passed it as `--slack-webhook URL`, visible to every local user in the process list."""
    from dataclasses import replace

    import yaml

    project = tmp_path / "project"
    for package, name in (("elementary", "elementary"), ("dbt_utils", "dbt_utils")):
        folder = project / "dbt_packages" / package
        folder.mkdir(parents=True)
        (folder / "dbt_project.yml").write_text(f"name: {name}\nversion: 0.0.1\n")
    seen = tmp_path / "seen.json"
    fake = tmp_path / "edr"
    fake.write_text(
        "#!/usr/bin/env python3\nimport json, os, sys\n"
        "config = os.path.join(sys.argv[sys.argv.index('--config-dir') + 1], 'config.yml')\n"
        f"json.dump({{'argv': sys.argv, 'config': open(config).read(), "
        f"'mode': os.stat(config).st_mode & 0o777}}, open({str(seen)!r}, 'w'))\n")
    fake.chmod(0o755)
    monkeypatch.setattr(obs, "edr_executable", lambda: str(fake))
    settings = replace(warehouse_env, project_dir=project, home=tmp_path / "home")
    webhook = "https://hooks.slack.com/services/T0/B0/SECRET-token"
    obs.monitor(settings, webhook, 2)
    found = json.loads(seen.read_text())
    assert not any("SECRET" in argument for argument in found["argv"]), found["argv"]
    assert yaml.safe_load(found["config"])["slack"]["notification_webhook"] == webhook
    assert found["mode"] == 0o600
    assert found["argv"][1:5] == ["monitor", "--days-back", "2", "--group-by"]
