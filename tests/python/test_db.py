"""The embedded server and the `runner db` commands, against real PostgreSQL processes."""

from __future__ import annotations

import os
import pwd
import shlex
import socket
import sys

import psycopg2
import pytest

from runner.core import embedded
from runner.settings import load_settings


@pytest.fixture
def own_home(tmp_path, monkeypatch):
    """A second embedded server of this test's own, so stopping it disturbs nobody."""
    monkeypatch.setenv("WAREHOUSE_HOME", str(tmp_path / ".warehouse"))
    yield tmp_path / ".warehouse"
    embedded.stop(load_settings())


def test_start_is_idempotent_and_status_reports(own_home, run_cli):
    first = run_cli("db", "start")
    assert first.exit_code == 0, first.output
    assert "started on 127.0.0.1:" in first.output
    settings = load_settings()
    pid = embedded.running_pid(settings.pgdata)
    assert pid

    second = run_cli("db", "start")
    assert second.exit_code == 0
    assert "already running" in second.output
    assert embedded.running_pid(settings.pgdata) == pid

    status = run_cli("db", "status")
    assert f"pid:       {pid}" in status.output
    assert f"port:      {settings.port}" in status.output
    assert str(settings.pgdata) in status.output
    assert "MiB" in status.output

    # The server runs with the settings the runner wrote, work_mem sized to this machine.
    conn = embedded.connect(settings, "postgres")
    with conn.cursor() as cur:
        cur.execute("select current_setting('work_mem'), current_setting('wal_level')")
        assert cur.fetchone() == (f"{embedded.work_mem_mb()}MB", "minimal")
    conn.close()
    assert 64 <= embedded.work_mem_mb() <= 256


def test_stop_restart_keeps_port_and_data(own_home, run_cli):
    assert run_cli("db", "start").exit_code == 0
    settings = load_settings()
    conn = psycopg2.connect(**settings.connect_kwargs())
    with conn, conn.cursor() as cur:
        cur.execute("create table kept as select 42 as answer")
    conn.close()

    assert run_cli("db", "stop").output.strip() == "stopped"
    assert embedded.running_pid(settings.pgdata) is None
    assert run_cli("db", "stop").output.strip() == "not running"

    assert run_cli("db", "start").exit_code == 0
    again = load_settings()
    assert again.port == settings.port
    conn = psycopg2.connect(**again.connect_kwargs())
    with conn, conn.cursor() as cur:
        cur.execute("select answer from kept")
        assert cur.fetchone() == (42,)
    conn.close()


def test_url_connects_over_tcp_with_password_file(warehouse_env, run_cli):
    url = run_cli("db", "url").output.strip()
    assert url.startswith(f"postgresql://postgres@127.0.0.1:{warehouse_env.port}/")
    assert warehouse_env.password not in url
    os.environ["PGPASSFILE"] = str(warehouse_env.home / "pgpass")
    try:
        conn = psycopg2.connect(url)
        with conn.cursor() as cur:
            cur.execute("select inet_server_addr()::text")
            assert cur.fetchone()[0].startswith("127.0.0.1")
        conn.close()
    finally:
        del os.environ["PGPASSFILE"]


def test_tcp_requires_password(warehouse_env):
    with pytest.raises(psycopg2.OperationalError, match="password"):
        psycopg2.connect(
            host="127.0.0.1", port=warehouse_env.port, user="postgres",
            password="wrong", dbname="postgres",
        )


def test_psql_passes_arguments(warehouse_env, capfd):
    from click.testing import CliRunner

    from runner.cli import cli

    result = CliRunner().invoke(cli, ["db", "psql", "-Atc", "select 6 * 7"])
    assert result.exit_code == 0
    assert capfd.readouterr().out.strip() == "42"


def test_port_in_use_is_a_clear_error(own_home, run_cli):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        result = run_cli("db", "start", "--port", str(port))
    assert result.exit_code == 1
    assert f"Error: port {port} on 127.0.0.1 is already in use" in result.output
    assert "--port 0" in result.output


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand the folder to another user")
def test_data_directory_of_someone_else(tmp_path, monkeypatch, run_cli):
    home = tmp_path / ".warehouse"
    (home / "pgdata").mkdir(parents=True)
    nobody = pwd.getpwnam("nobody")
    os.chown(home / "pgdata", nobody.pw_uid, nobody.pw_gid)
    monkeypatch.setenv("WAREHOUSE_HOME", str(home))
    result = run_cli("db", "start")
    assert result.exit_code == 1
    assert f"the data directory {home / 'pgdata'} belongs to nobody" in result.output


def test_unreachable_dsn_hides_password(monkeypatch, run_cli):
    monkeypatch.setenv("WAREHOUSE_DSN", "postgresql://analyst:s3cret-pw@127.0.0.1:1/warehouse")
    result = run_cli("db", "status")
    assert result.exit_code == 1
    assert "Error: cannot connect to postgresql://analyst:***@127.0.0.1:1/warehouse" in result.output
    assert "s3cret-pw" not in result.output


def test_dbt_not_found(monkeypatch, run_cli, tmp_path):
    import runner.core.dbt as dbt_module

    monkeypatch.setattr(dbt_module.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    result = run_cli("build")
    assert result.exit_code == 1
    assert "Error: dbt not found" in result.output


def _others_can_run(path) -> bool:
    import stat
    from pathlib import Path

    real = Path(path).resolve()
    return all(p.stat().st_mode & stat.S_IXOTH for p in [real, *real.parents])


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the runner as another user")
def test_works_as_a_normal_user(tmp_path):
    """As a normal user PostgreSQL runs as that user (no system user needed)."""
    import subprocess

    if not _others_can_run(sys.executable):
        pytest.skip(f"{sys.executable} lives under a folder other users cannot enter")
    nobody = pwd.getpwnam("nobody")
    home = tmp_path / "user-home"
    home.mkdir()
    os.chown(home, nobody.pw_uid, nobody.pw_gid)
    tmp_path.chmod(0o755)
    env = {**os.environ, "WAREHOUSE_HOME": str(home / ".warehouse"), "HOME": str(home)}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "runner.cli", "db", *args], env=env,
                              user=nobody.pw_uid, group=nobody.pw_gid, cwd=home,
                              capture_output=True, text=True)

    started = run("start")
    try:
        assert started.returncode == 0, started.stderr
        assert "started on 127.0.0.1:" in started.stdout
        assert (home / ".warehouse" / "pgdata").stat().st_uid == nobody.pw_uid
        psql = subprocess.run([sys.executable, "-m", "runner.cli", "db", "psql", "-Atc", "select current_user"],
                              env=env, user=nobody.pw_uid, group=nobody.pw_gid, cwd=home,
                              capture_output=True, text=True)
        assert psql.stdout.strip() == "postgres"
    finally:
        assert run("stop").stdout.strip() == "stopped"


def test_url_as_analyst_connects_with_its_own_password_file(database, made_roles, run_cli):
    result = run_cli("db", "url", "--as", "analyst")
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    pgpass = database.home / "analyst.pgpass"
    assert url == f"postgresql://{made_roles['analyst']}@127.0.0.1:{database.port}/{database.dbname}"
    assert f"PGPASSFILE={pgpass}" in result.stderr
    assert oct(pgpass.stat().st_mode & 0o777) == "0o600"
    assert database.password not in pgpass.read_text()  # only the analyst's own line
    os.environ["PGPASSFILE"] = str(pgpass)
    try:
        conn = psycopg2.connect(url)
        with conn.cursor() as cur:
            cur.execute("select current_user, current_setting('search_path')")
            assert cur.fetchone() == (made_roles["analyst"], "gold")
        conn.close()
    finally:
        del os.environ["PGPASSFILE"]
    exports = run_cli("db", "env", "--as", "analyst").stdout
    assert f"export PGUSER={shlex.quote(made_roles['analyst'])}" in exports
    assert f"export PGPASSFILE={shlex.quote(str(pgpass))}" in exports
