"""Bad options and settings get one clear line, never an 'unexpected' error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.mark.parametrize(("scale", "expected"), [
    ("nan", "--scale must be a positive number"),
    ("inf", "--scale must be a positive number"),
    ("1e9", "beyond what the generator supports"),
    ("50", "needs about 80 GB of disk; re-run with --yes"),
])
def test_unusable_scales(run_cli, tmp_path, scale, expected):
    result = run_cli("generate", "--landing", str(tmp_path / "landing"), "--scale", scale)
    assert result.exit_code == 1
    assert expected in result.output
    assert "unexpected" not in result.output
    assert not (tmp_path / "landing").exists()


def test_retention_window_out_of_range(run_cli):
    result = run_cli("partitions", "retain", "--older-than", "999999", "--no-archive")
    assert result.exit_code == 2
    assert "999999 is not in the range 1<=x<=1200" in result.output


@pytest.mark.parametrize(("env", "expected"), [
    ({"WAREHOUSE_DSN": "postgresql://u@localhost:abc/warehouse"}, "WAREHOUSE_DSN"),
    ({"PGHOST": "localhost", "PGPORT": "5432x"}, "PGPORT: port '5432x' is not a number"),
])
def test_non_numeric_ports(run_cli, env, expected):
    result = run_cli("db", "status", env=env)
    assert result.exit_code == 1
    assert expected in result.output and "unexpected" not in result.output


def test_a_closed_pipe_is_not_an_error(database):
    # The reader is gone before the runner writes a byte (`runner db status | head -0`).
    process = subprocess.Popen([sys.executable, "-m", "runner.cli", "db", "status"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ))
    process.stdout.close()
    stderr = process.stderr.read()
    process.wait()
    assert stderr == ""


def test_a_port_that_fails_is_not_remembered(tmp_path):
    env = {**os.environ, "WAREHOUSE_HOME": str(tmp_path / ".warehouse")}

    def runner(*args):
        return subprocess.run([sys.executable, "-m", "runner.cli", "db", *args],
                              capture_output=True, text=True, env=env)

    if os.geteuid() != 0:
        pytest.skip("port 1 is refused before the server starts when not root")
    failed = runner("start", "--port", "1")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    try:
        started = runner("start")
        assert started.returncode == 0, started.stdout + started.stderr
        assert "on 127.0.0.1:1 " not in started.stdout
    finally:
        runner("stop")


def _children(pid):
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_the_dbt_session_dies_with_runner_build(database):
    process = subprocess.Popen([sys.executable, "-m", "runner.cli", "build", "--skip-freshness"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=dict(os.environ))
    deadline = time.monotonic() + 60
    children = []
    while time.monotonic() < deadline and not children and process.poll() is None:
        children = _children(process.pid)
        time.sleep(0.05)
    assert children, "runner build ended before its dbt session could be seen"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    # Seconds, where the session's own work (parse, then the build) takes longer.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any(Path(f"/proc/{c}").exists() for c in children):
        time.sleep(0.1)
    alive = [c for c in children if Path(f"/proc/{c}").exists()
             and "Z" not in Path(f"/proc/{c}/stat").read_text().rsplit(")", 1)[1].split()[0]]
    assert alive == []


def test_a_dbt_crash_is_not_reported_as_failing_tests(database, run_cli):
    result = run_cli("build", "--skip-freshness", "--no-such-dbt-flag")
    assert result.exit_code == 1
    assert "test_failures" not in result.output
    assert "dbt stopped before it built anything" in result.output


@pytest.mark.parametrize("where", ["a-file/metrics.prom", "/proc/warehouse.prom"])
def test_unusable_metrics_files(database, run_cli, tmp_path, where):
    (tmp_path / "a-file").write_text("")
    result = run_cli("metrics", "--metrics-file", str(tmp_path / where))
    assert result.exit_code == 1
    assert f"--metrics-file {tmp_path / where}: cannot write a file there" in result.output


@pytest.mark.parametrize("command", [
    ["backup", "list"], ["backup", "prune", "--keep-last", "1"],
    ["backup", "verify", "20260101T000000Z"], ["restore", "20260101T000000Z", "--yes"],
])
@pytest.mark.parametrize("how", ["--dest", "WAREHOUSE_BACKUP_DIR"])
def test_a_backup_folder_that_is_a_file(database, run_cli, tmp_path, command, how):
    """Old code: 'unexpected NotADirectoryError ... report it'."""
    a_file = tmp_path / "backups"
    a_file.write_text("not a folder\n")
    if how == "--dest":
        result = run_cli(*command, "--dest", str(a_file))
    else:
        result = run_cli(*command, env={how: str(a_file)})
    assert result.exit_code == 2, result.output
    assert f"'{a_file}' is a file" in result.output and "unexpected" not in result.output
    assert a_file.read_text() == "not a folder\n"


@pytest.mark.parametrize(("variable", "command", "expected"), [
    ("WAREHOUSE_HOME", ["db", "start"], "is a file: point it at a folder"),
    ("WAREHOUSE_PROJECT_DIR", ["build", "--select", "dim_date"], "holds no dbt_project.yml"),
])
def test_folders_from_the_environment_are_checked(database, run_cli, tmp_path, variable,
                                                  command, expected):
    """Old code: 'unexpected FileExistsError' (a home that is a file) and 'unexpected
    FileNotFoundError' (a project folder that does not exist), each '... report it'."""
    where = tmp_path / "a-file" if variable == "WAREHOUSE_HOME" else tmp_path / "missing"
    if variable == "WAREHOUSE_HOME":
        where.write_text("")
    result = run_cli(*command, env={variable: str(where)})
    assert result.exit_code == 1
    assert f"{variable} {where} {expected}" in result.output
    assert "unexpected" not in result.output


@pytest.mark.parametrize("command", [["backup"], ["build"], ["load"], ["partitions", "retain",
                                     "--older-than", "3", "--no-archive"]])
def test_an_endless_wait_is_refused(database, run_cli, command):
    """Old code: 'unexpected OverflowError: cannot convert float infinity to integer'."""
    result = run_cli(*command, "--wait", "inf")
    assert result.exit_code == 2
    assert "inf is not in the range 0<=x<=86400" in result.output
    assert "unexpected" not in result.output


def test_a_landing_folder_that_cannot_be_made(run_cli):
    """Old code: 'unexpected FileNotFoundError ... report it'."""
    result = run_cli("generate", "--scale", "0.01", "--out", "/proc/landing")
    assert result.exit_code == 1
    assert "--out /proc/landing: cannot create the folder" in result.output
    assert "unexpected" not in result.output
