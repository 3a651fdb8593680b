"""Backups and restores against a real server: atomic, verified, and safe to restore."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import query
from runner.core import backup as backups
from runner.core import embedded
from runner.core import generate as gen
from runner.core import load as loader


@pytest.fixture(scope="module")
def loaded(database, tmp_path_factory):
    landing = tmp_path_factory.mktemp("landing")
    gen.generate(landing, seed=3, scale=0.01)
    assert all(r.status == "loaded" for r in loader.load(database, landing))
    return database


@pytest.fixture
def dest(tmp_path):
    return tmp_path / "backups"


def table_counts(settings):
    conn = embedded.connect(settings)
    try:
        with conn.cursor() as cur:
            return backups.row_counts(cur)
    finally:
        conn.close()


def test_backup_has_manifest_and_verifies(loaded, dest, run_cli):
    result = run_cli("backup", "--dest", str(dest), "--label", "first")
    assert result.exit_code == 0, result.output
    made = backups.list_backups(dest)[0]
    assert made.backup_id.endswith("-first") and made.status == "complete"
    manifest = made.manifest
    assert manifest["row_counts"] == table_counts(loaded)
    assert manifest["row_counts"]["bronze.erp_order_lines_p202401"] > 0
    assert manifest["server"]["version"].startswith("18")
    assert manifest["checksums"] and all(len(v) == 64 for v in manifest["checksums"].values())
    assert {"bronze", "public"} <= set(manifest["schemas"])
    assert not any(p.name.startswith(".incomplete") for p in dest.iterdir())

    verified = run_cli("backup", "verify", made.backup_id, "--dest", str(dest), "--restore-test")
    assert verified.exit_code == 0, verified.output
    assert "restore test with row counts" in verified.output
    listing = run_cli("backup", "list", "--dest", str(dest))
    assert made.backup_id in listing.output and "verified" in listing.output
    # the scratch database is gone
    assert not [row for row in query(loaded, "select datname from pg_database") if row[0].startswith("verify_")]


def test_corrupt_backup_fails_verify_and_restore_refuses(loaded, dest, run_cli):
    made = backups.backup(loaded, dest)
    victim = next(p for p in (made.path / "dump").iterdir() if p.name.endswith(".gz"))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    before = table_counts(loaded)

    result = run_cli("backup", "verify", made.backup_id, "--dest", str(dest))
    assert result.exit_code == 1
    assert f"changed (checksum differs)" in result.output
    result = run_cli("restore", made.backup_id, "--dest", str(dest), "--yes")
    assert result.exit_code == 1
    assert "is damaged" in result.output and "refusing to restore" in result.output
    assert table_counts(loaded) == before
    assert backups.list_backups(dest)[0].status == "verify-failed"


def test_restore_counts_every_table_in_parallel_and_serial_mode(loaded, dest, run_cli):
    """With -j2 the tables are counted as pg_restore reports each loaded; with -j1 it
    reports none, and every table is counted afterwards. Either way the copy matches."""
    made = backups.backup(loaded, dest)
    for jobs in ("2", "1"):
        target = f"restored_j{jobs}"
        result = run_cli("restore", made.backup_id, "--dest", str(dest), "--target-db", target,
                         "--jobs", jobs)
        assert result.exit_code == 0, result.output
        assert table_counts(loaded.with_database(target)) == made.manifest["row_counts"]
        conn = embedded.connect(loaded, "postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'drop database "{target}"')
        conn.close()


def test_restore_refuses_a_damaged_toc_before_creating_anything(
        loaded, dest, run_cli, monkeypatch):
    """toc.dat holds the SQL pg_restore runs: it is checked before anything runs (the
    table data is hashed while pg_restore loads it, see the corrupt-backup test)."""
    made = backups.backup(loaded, dest)
    monkeypatch.setattr(backups, "_restore_into",
                        lambda *args, **kwargs: pytest.fail("pg_restore ran on a damaged toc.dat"))
    toc = made.path / "dump" / "toc.dat"
    toc.write_bytes(toc.read_bytes() + b"\0")
    result = run_cli("restore", made.backup_id, "--dest", str(dest), "--target-db", "never_made")
    assert result.exit_code == 1
    assert "toc.dat changed (checksum differs)" in result.output and "refusing to restore" in result.output
    assert not [r for r in query(loaded, "select datname from pg_database") if "never_made" in r[0]]


def test_restore_replaces_changed_target_only_after_checking(loaded, dest, run_cli):
    made = backups.backup(loaded, dest)
    conn = embedded.connect(loaded)
    with conn, conn.cursor() as cur:
        cur.execute("create table public.after_backup as select 1 as x")
        cur.execute("delete from bronze.erp_stores")
    conn.close()

    refused = run_cli("restore", made.backup_id, "--dest", str(dest))  # no terminal, no --yes
    assert refused.exit_code == 1 and "re-run with --yes" in refused.output
    assert query(loaded, "select count(*) from bronze.erp_stores")[0][0] == 0

    result = run_cli("restore", made.backup_id, "--dest", str(dest), "--yes")
    assert result.exit_code == 0, result.output
    assert table_counts(loaded) == made.manifest["row_counts"]
    safety = next(b for b in backups.list_backups(dest) if "pre-restore" in b.backup_id)
    assert safety.manifest["row_counts"]["public.after_backup"] == 1
    assert safety.manifest["row_counts"]["bronze.erp_stores"] == 0
    assert f"kept as backup {safety.backup_id}" in result.output
    leftovers = [r[0] for r in query(loaded, "select datname from pg_database") if "__" in r[0]]
    assert leftovers == []


def test_failed_restore_leaves_target_untouched(loaded, dest, run_cli):
    made = backups.backup(loaded, dest)
    manifest_path = made.path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["row_counts"]["bronze.erp_stores"] += 1  # the restored copy will not match
    manifest_path.write_text(json.dumps(manifest))
    conn = embedded.connect(loaded)
    with conn, conn.cursor() as cur:
        cur.execute("create table public.marker as select 42 as x")
    conn.close()
    before = table_counts(loaded)

    result = run_cli("restore", made.backup_id, "--dest", str(dest), "--yes")
    assert result.exit_code == 1
    assert "does not match the backup's manifest" in result.output
    assert table_counts(loaded) == before
    leftovers = [r[0] for r in query(loaded, "select datname from pg_database") if "__restoring" in r[0]]
    assert leftovers == []


def test_killed_backup_leaves_nothing_that_looks_valid(warehouse_env, tmp_path):
    big = warehouse_env.with_database("backup_big")
    embedded.ensure_database(warehouse_env, "backup_big")
    conn = embedded.connect(big)
    with conn, conn.cursor() as cur:
        cur.execute("drop table if exists filler")
        cur.execute("create table filler as select g as id, md5(g::text) as payload "
                    "from generate_series(1, 3000000) as g")
    conn.close()
    dest = tmp_path / "backups"
    env = {**os.environ, "WAREHOUSE_DB": "backup_big"}
    process = subprocess.Popen([sys.executable, "-m", "runner.cli", "backup", "--dest", str(dest), "--compress", "6"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if dest.exists() and any(p.name.startswith(".incomplete") and (p / "dump").exists()
                                 for p in dest.iterdir()):
            break
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    found = backups.list_backups(dest)
    assert found and all(b.status == "incomplete" for b in found)
    with pytest.raises(Exception, match="is incomplete"):
        backups.find(dest, found[0].backup_id)
    time.sleep(0.5)
    assert not [p for p in found[0].path.rglob("*") if p.name == "manifest.json"]
    # a new backup still works beside the leftover
    made = backups.backup(big, dest)
    assert made.status == "complete" and made.manifest["row_counts"]["public.filler"] == 3000000


def test_a_backup_in_the_same_second_as_a_killed_one_takes_the_next_free_id(loaded, dest):
    """Ids have whole seconds: leftovers of killed backups named for this second and the
    next do not stop a new backup, which takes the first free second."""
    dest.mkdir()
    now = dt.datetime.now(dt.timezone.utc)
    taken = [(now + dt.timedelta(seconds=step)).strftime("%Y%m%dT%H%M%SZ") for step in (0, 1)]
    for backup_id in taken:
        (dest / f"{backups.INCOMPLETE}{backup_id}").mkdir()
    made = backups.backup(loaded, dest)
    assert made.status == "complete" and made.backup_id not in taken
    assert made.backup_id > taken[-1]


def test_clear_errors_for_bad_input(loaded, dest, tmp_path, run_cli, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run_cli("backup", "--dest", str(blocker / "sub"))
    assert result.exit_code == 1 and f"cannot write backups to {blocker / 'sub'}" in result.output

    result = run_cli("restore", "20990101T000000Z", "--dest", str(dest), "--yes")
    assert result.exit_code == 1 and "no backup '20990101T000000Z'" in result.output
    result = run_cli("backup", "verify", "../../etc", "--dest", str(dest))
    assert result.exit_code == 1 and "no backup" in result.output

    monkeypatch.setenv("WAREHOUSE_DSN", "postgresql://etl:hunter2@127.0.0.1:1/warehouse")
    result = run_cli("backup", "--dest", str(dest))
    assert result.exit_code == 1 and "cannot connect to postgresql://etl:***@127.0.0.1:1" in result.output
    assert "hunter2" not in result.output


def test_prune_keeps_newest_verified(loaded, tmp_path, run_cli):
    dest = tmp_path / "prune"
    first = backups.backup(loaded, dest, label="a")
    assert backups.verify(loaded, first) == []
    time.sleep(1.1)
    backups.backup(loaded, dest, label="b")
    result = run_cli("backup", "prune", "--dest", str(dest), "--keep-days", "0", "--keep-last", "0")
    assert result.exit_code == 0
    remaining = [b.backup_id for b in backups.list_backups(dest)]
    assert remaining == [first.backup_id]  # the verified one survives, the unverified newer one goes
    assert "1 backup(s) removed" in result.output


def test_a_dest_inside_the_data_directory_is_refused(loaded, run_cli):
    inside = loaded.pgdata / "backups"
    result = run_cli("backup", "--dest", str(inside))
    assert result.exit_code == 1
    assert "is inside the database's data directory" in result.output
    assert not inside.exists()


@pytest.mark.parametrize("target", ["template1", "template0", "postgres",
                                    "warehouse__restoring_20260101000000"])
def test_postgres_own_databases_are_no_restore_target(loaded, dest, run_cli, target):
    made = backups.backup(loaded, dest)
    result = run_cli("restore", made.backup_id, "--dest", str(dest), "--yes",
                     "--target-db", target)
    assert result.exit_code == 1, target
    assert "is PostgreSQL's own database or a restore's scratch name" in result.output
    assert not query(loaded.with_database("template1"),
                     "select 1 from pg_namespace where nspname = 'runner_locks'")


def test_links_in_the_backup_folder_are_never_followed(loaded, dest, tmp_path, run_cli):
    backups.backup(loaded, dest)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep-me").write_text("")
    (dest / "20200101T000000Z").symlink_to(elsewhere)
    (dest / f"{backups.INCOMPLETE}20200101T000001Z").symlink_to(elsewhere)
    os.utime(dest / f"{backups.INCOMPLETE}20200101T000001Z", (0, 0), follow_symlinks=False)
    os.utime(elsewhere, (0, 0))
    listing = run_cli("backup", "list", "--dest", str(dest))
    assert listing.exit_code == 0, listing.output
    assert "damaged: a symbolic link, not a backup folder" in listing.output
    pruned = run_cli("backup", "prune", "--dest", str(dest), "--keep-days", "0",
                     "--keep-last", "0")
    assert pruned.exit_code == 0, pruned.output
    assert (elsewhere / "keep-me").exists()
    verified = run_cli("backup", "verify", "20200101T000000Z", "--dest", str(dest))
    assert verified.exit_code == 1 and "a symbolic link" in verified.output


def test_a_bad_lock_timeout_stops_a_restore_before_it_starts(loaded, dest, run_cli,
                                                             monkeypatch):
    made = backups.backup(loaded, dest)
    monkeypatch.setenv("WAREHOUSE_LOCK_TIMEOUT", "abc")
    result = run_cli("restore", made.backup_id, "--dest", str(dest), "--yes",
                     "--target-db", "never_made")
    assert result.exit_code == 1
    assert "WAREHOUSE_LOCK_TIMEOUT 'abc'" in result.output
    assert not [name for (name,) in query(loaded, "select datname from pg_database")
                if name.startswith("never_made")]  # nothing was restored first
