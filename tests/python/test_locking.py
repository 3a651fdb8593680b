"""One writer at a time, proven with real processes holding the real writer lock; no
other login can take the writers' locks or make them wait forever."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psycopg2
import psycopg2.errors
import pytest

from conftest import query
from runner.core import generate as gen
from runner.core.locking import writer_lock

HOLDER = """
import sys, time
from runner.core.locking import writer_lock
from runner.settings import load_settings
with writer_lock(load_settings(), "build", 0):
    print("locked", flush=True)
    time.sleep(float(sys.argv[1]))
"""


def hold_lock(seconds):
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(seconds)], env=dict(os.environ),
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "locked"
    return process


def runner(*args, timeout=None):
    return subprocess.run([sys.executable, "-m", "runner.cli", *args], env=dict(os.environ),
                          capture_output=True, text=True, timeout=timeout)


def test_second_writer_gives_up_naming_the_holder(database, tmp_path):
    gen.generate(tmp_path / "landing", seed=1, scale=0.01)
    holder = hold_lock(30)
    try:
        started = time.monotonic()
        result = runner("load", "--landing", str(tmp_path / "landing"), "--wait", "1")
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 1
    assert "Error: another writer holds the warehouse lock ('runner build', server pid" in result.stderr
    assert "--wait SECONDS" in result.stderr
    assert waited >= 1
    # nothing was loaded while the lock was held
    assert "nothing loaded yet" in runner("load", "--status").stdout


def test_second_writer_waits_for_the_first(database, tmp_path):
    gen.generate(tmp_path / "landing", seed=1, scale=0.01)
    holder = hold_lock(2)
    try:
        result = runner("load", "--landing", str(tmp_path / "landing"), "--wait", "30")
    finally:
        holder.wait()
    assert result.returncode == 0, result.stderr
    assert "loaded 97 files" in result.stdout


def test_a_killed_holder_releases_the_lock(database, tmp_path):
    holder = hold_lock(60)
    holder.kill()
    holder.wait()
    time.sleep(0.5)
    result = runner("backup", "--dest", str(tmp_path / "backups"), "--wait", "5")
    assert result.returncode == 0, result.stderr


def test_an_analyst_cannot_block_the_writers(database, made_roles, tmp_path):
    """Every lock the writers coordinate on is out of a reader's reach: the analyst takes
    the advisory locks the runner once used and tries the lock tables; the load goes on."""
    gen.generate(tmp_path / "landing", seed=1, scale=0.01)
    with writer_lock(database, "setup"):
        pass  # the lock tables exist from here on
    analyst = psycopg2.connect(**database.for_role("analyst").connect_kwargs())
    try:
        with analyst.cursor() as cur:
            cur.execute("select pg_advisory_lock(hashtext('warehouse:writer')), "
                        "pg_advisory_xact_lock(hashtext('warehouse.bronze_ddl')), "
                        "pg_advisory_xact_lock(hashtext('warehouse.audit_ddl'))")
            # A hang here would be the bug: the timeout only turns it into a failure.
            result = runner("load", "--landing", str(tmp_path / "landing"), "--wait", "5",
                            timeout=600)
            assert result.returncode == 0, result.stderr
            assert "0 failed" in result.stdout
            for table in ("runner_locks.writer", "runner_locks.ddl"):
                for mode in ("exclusive", "access share"):
                    cur.execute("savepoint attempt")
                    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                        cur.execute(f"lock table {table} in {mode} mode")
                    cur.execute("rollback to savepoint attempt")
    finally:
        analyst.close()


def test_an_analyst_holding_a_gold_table_cannot_hang_the_build(database, made_roles, tmp_path,
                                                               run_cli, monkeypatch):
    """The analyst switches its idle-transaction timeout off and keeps a gold table open:
    the build's table swap stops with a lock timeout instead of waiting forever."""
    gen.generate(tmp_path / "landing", seed=1, scale=0.01)
    assert run_cli("load", "--landing", str(tmp_path / "landing")).exit_code == 0
    monkeypatch.setenv("WAREHOUSE_LOCK_TIMEOUT", "2")
    assert run_cli("db", "roles").exit_code == 0
    assert run_cli("build", "--skip-freshness").exit_code == 0
    analyst = psycopg2.connect(**database.for_role("analyst").connect_kwargs())
    try:
        with analyst.cursor() as cur:
            cur.execute("set idle_in_transaction_session_timeout = 0")
            cur.execute("select count(*) from gold.dim_date")
            # A hang here would be the bug: the timeout only turns it into a failure.
            result = runner("build", "--skip-freshness", "--full-refresh", "--select",
                            "dim_date", timeout=900)
    finally:
        analyst.close()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "lock timeout" in (result.stdout + result.stderr + (
        database.project_dir / "logs" / "build.log").read_text())


HAND_OVER = """
from runner.core import roles
from runner.errors import WarehouseError
from runner.settings import load_settings
try:
    roles.as_transformer(load_settings())
except WarehouseError as error:
    print(error)
"""


def test_an_analyst_holding_a_table_cannot_hang_the_hand_over(database, made_roles,
                                                               monkeypatch):
    """A table the superuser made (plain dbt, say) is handed to the transformer by the next
    command; an analyst keeping it open makes that command fail, not wait forever."""
    query(database, "create schema if not exists gold; "
                    "create table gold.made_by_hand as select 1 as id; "
                    "grant usage on schema gold to warehouse_analyst; "
                    "grant select on gold.made_by_hand to warehouse_analyst")
    monkeypatch.setenv("WAREHOUSE_LOCK_TIMEOUT", "1")
    analyst = psycopg2.connect(**database.for_role("analyst").connect_kwargs())
    try:
        with analyst.cursor() as cur:
            cur.execute("set idle_in_transaction_session_timeout = 0")
            cur.execute("select count(*) from gold.made_by_hand")
            # A hang here would be the bug: the timeout only turns it into a failure.
            result = subprocess.run([sys.executable, "-c", HAND_OVER], env=dict(os.environ),
                                    capture_output=True, text=True, timeout=300)
    finally:
        analyst.close()
    assert "another session kept one open" in result.stdout, result.stderr
    assert query(database, "select tableowner from pg_tables where tablename = 'made_by_hand'") \
        == [("postgres",)]
