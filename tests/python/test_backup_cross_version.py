"""Restoring a PostgreSQL 18 backup into an older server (Debian's PostgreSQL 15).

It works: pg_dump 18's newer session settings (transaction_timeout) are the only errors an
older server raises, the runner accepts exactly those, and the row counts must still match
the manifest. Any other error fails with a reason that names both versions. Skips when
PostgreSQL 15's server is not installed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

import psycopg2
import pytest

from runner.core import backup as backups
from runner.core import embedded
from runner.core import generate as gen
from runner.core import load as loader

PG15 = Path("/usr/lib/postgresql/15/bin")
pytestmark = pytest.mark.skipif(not (PG15 / "postgres").exists(),
                                reason="Debian's postgresql-15 server is not installed")


@pytest.fixture(scope="module")
def old_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pg15")
    data = folder / "data"
    user = {}
    if os.geteuid() == 0:
        embedded._prepare_root(data)  # the same unprivileged system user as the embedded server
        entry = pwd.getpwnam(embedded.SYSTEM_USER)
        user = {"user": entry.pw_uid, "group": entry.pw_gid}
    port = embedded.free_port()
    subprocess.run([str(PG15 / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                    "--no-instructions"], check=True, capture_output=True, cwd=folder, **user)
    subprocess.run([str(PG15 / "pg_ctl"), "-D", str(data), "-w", "-l", str(data / "log"), "-o",
                    f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''",
                    "start"], check=True, capture_output=True, cwd=folder, **user)
    yield port
    subprocess.run([str(PG15 / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                   capture_output=True, cwd=folder, **user)
    shutil.rmtree(folder, ignore_errors=True)


def test_restore_into_postgres_15(database, old_server, tmp_path, run_cli, monkeypatch):
    landing = tmp_path / "landing"
    gen.generate(landing, seed=6, scale=0.01)
    loader.load(database, landing)
    made = backups.backup(database, tmp_path / "backups")

    dsn = f"postgresql://postgres@127.0.0.1:{old_server}/postgres"
    target_dsn = f"postgresql://postgres@127.0.0.1:{old_server}/target15"
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("drop database if exists target15")
        cur.execute("create database target15")
    conn.close()
    conn = psycopg2.connect(target_dsn)
    with conn, conn.cursor() as cur:
        cur.execute("create table keep_me as select 7 as x")
    conn.close()

    monkeypatch.setenv("WAREHOUSE_DSN", target_dsn)
    result = run_cli("restore", made.backup_id, "--dest", str(tmp_path / "backups"), "--yes")
    conn = psycopg2.connect(target_dsn)
    assert result.exit_code == 0, result.output
    with conn.cursor() as cur:
        cur.execute("select count(*) from bronze.erp_order_lines")
        assert cur.fetchone()[0] == sum(
            n for t, n in made.manifest["row_counts"].items() if t.startswith("bronze.erp_order_lines"))
        cur.execute("select to_regclass('public.keep_me')")  # replaced by the backup's content
        assert cur.fetchone() == (None,)
    conn.close()
    assert "pre-restore-target15" in result.output
