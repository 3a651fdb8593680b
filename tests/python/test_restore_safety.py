"""A restore never leaves the warehouse missing or empty, never hangs silently, and
cleans up after runs that were killed; damaged backups never hide the others."""

from __future__ import annotations

import json

import psycopg2
import pytest

from conftest import empty_database, query
from runner.core import backup as backups
from runner.errors import WarehouseError


@pytest.fixture
def source(warehouse_env):
    settings = empty_database(warehouse_env, "safety_source")
    query(settings, "create table facts as select generate_series(1, 100) as id")
    return settings


def databases(settings):
    return {row[0] for row in query(settings, "select datname from pg_database")}


def test_swap_ends_sessions_on_both_databases(source):
    staging = empty_database(source, "safety_source__restoring_20260101000000")
    query(staging, "create table facts as select generate_series(1, 7) as id")
    held = [psycopg2.connect(**staging.connect_kwargs()), psycopg2.connect(**source.connect_kwargs())]
    try:
        backups._swap(source, staging.dbname, source.dbname, True, "20260101000000")
    finally:
        for conn in held:
            conn.close()
    assert query(source, "select count(*) from facts") == [(7,)]
    assert not {name for name in databases(source) if name.startswith("safety_source__")}


def test_a_failed_swap_puts_nothing_out_of_place(source):
    staging = empty_database(source, "safety_source__restoring_20260101000001")
    # the name the old database would move to is taken: the swap's first rename fails
    empty_database(source, "safety_source__replaced_20260101000001")
    with pytest.raises(WarehouseError, match="was left untouched and the copy dropped"):
        backups._swap(source, staging.dbname, source.dbname, True, "20260101000001")
    assert query(source, "select count(*) from facts") == [(100,)]
    assert staging.dbname not in databases(source)
    empty_database(source, "safety_source__replaced_20260101000001")  # tidy
    query(source, "select 1")


def test_a_held_lock_times_out_with_a_clear_error(source, tmp_path, run_cli, monkeypatch):
    monkeypatch.setenv("WAREHOUSE_LOCK_TIMEOUT", "2")
    made = backups.backup(source, tmp_path / "backups")
    holder = psycopg2.connect(**source.connect_kwargs())
    try:
        with holder.cursor() as cur:
            cur.execute("lock table facts in access exclusive mode")
        result = run_cli("restore", made.backup_id, "--dest", str(tmp_path / "backups"),
                         "--yes", "--target-db", source.dbname)
    finally:
        holder.rollback()
        holder.close()
    assert result.exit_code == 1
    assert "holds locked" in result.output and "WAREHOUSE_LOCK_TIMEOUT" in result.output
    assert query(source, "select count(*) from facts") == [(100,)]
    assert not {name for name in databases(source) if "__restoring_" in name}


def test_leftovers_are_listed_then_dropped(source, tmp_path, run_cli):
    made = backups.backup(source, tmp_path / "backups")
    empty_database(source, "safety_source__restoring_20200101000000")
    empty_database(source, "verify_0123456789ab_999999999")
    status = run_cli("db", "status")
    assert "leftover:  safety_source__restoring_20200101000000" in status.output
    assert "leftover:  verify_0123456789ab_999999999" in status.output
    result = run_cli("restore", made.backup_id, "--dest", str(tmp_path / "backups"), "--yes",
                     "--target-db", "safety_copy")
    assert result.exit_code == 0, result.output
    assert "dropped safety_source__restoring_20200101000000" in result.output
    assert not {"safety_source__restoring_20200101000000", "verify_0123456789ab_999999999"} \
        & databases(source)
    assert query(source.with_database("safety_copy"), "select count(*) from facts") == [(100,)]


def test_a_damaged_manifest_shows_as_damaged_and_the_rest_carry_on(source, tmp_path, run_cli):
    dest = tmp_path / "backups"
    good = backups.backup(source, dest, label="good")
    bad = backups.backup(source, dest, label="bad")
    (bad.path / backups.MANIFEST).write_text('{"backup_id": ')
    listing = run_cli("backup", "list", "--dest", str(dest))
    assert listing.exit_code == 0, listing.output
    assert good.backup_id in listing.output
    assert "damaged: manifest.json is unreadable" in listing.output
    pruned = run_cli("backup", "prune", "--dest", str(dest), "--keep-days", "0", "--keep-last", "0")
    assert pruned.exit_code == 0, pruned.output
    assert "kept damaged" in pruned.stderr
    restore = run_cli("restore", bad.path.name, "--dest", str(dest), "--yes", "--target-db", "x_y")
    assert restore.exit_code == 1 and "is damaged" in restore.output


def test_a_full_disk_while_writing_the_manifest_leaves_nothing(source, tmp_path, monkeypatch):
    def write_to_a_full_disk(folder, manifest):
        with open("/dev/full", "w") as handle:
            handle.write(json.dumps(manifest))
            handle.flush()

    monkeypatch.setattr(backups, "_write_manifest", write_to_a_full_disk)
    dest = tmp_path / "backups"
    with pytest.raises(WarehouseError, match="No space left on device.*nothing was kept"):
        backups.backup(source, dest)
    assert list(dest.iterdir()) == []


PLANTED = """
    create schema if not exists audit;
    create function audit.f(x int) returns boolean language plpgsql as $$
    begin
        if (select rolsuper from pg_roles where rolname = current_user) then
            execute format('alter role %I superuser', %L);
        end if;
        return true;
    end
    $$;
    create table audit.t (x int check (audit.f(x)));
    insert into audit.t values (1), (2);
"""


def is_superuser(settings, role):
    return query(settings, "select rolsuper from pg_roles where rolname = %s", (role,))[0][0]


def test_restores_never_run_the_transformers_code_as_a_superuser(database, made_roles,
                                                                  tmp_path, run_cli):
    """A check constraint calling a transformer-owned function that makes the transformer a
    superuser when a superuser runs it: neither a restore test nor a restore may run it
    as one."""
    transformer = made_roles["transformer"]
    query(database.for_role("transformer"), PLANTED.replace("%L", f"'{transformer}'"))
    dest = tmp_path / "backups"
    try:
        made = run_cli("backup", "--dest", str(dest))
        assert made.exit_code == 0, made.output
        backup_id = made.output.split()[1].rstrip(":")
        verified = run_cli("backup", "verify", backup_id, "--dest", str(dest), "--restore-test")
        assert verified.exit_code == 0, verified.output
        assert not is_superuser(database, transformer)
        restored = run_cli("restore", backup_id, "--dest", str(dest), "--yes",
                           "--target-db", f"{database.dbname}_planted")
        assert restored.exit_code == 0, restored.output
        assert not is_superuser(database, transformer)
        copy = database.with_database(f"{database.dbname}_planted")
        assert query(copy, "select count(*) from audit.t") == [(2,)]
        assert query(copy, "select tableowner from pg_tables where tablename = 't'") \
            == [(transformer,)]
        # Over the warehouse itself: the safety backup of what it replaces is the backup role's.
        replaced = run_cli("restore", backup_id, "--dest", str(dest), "--yes")
        assert replaced.exit_code == 0, replaced.output
        assert not is_superuser(database, transformer)
        safety = backups.list_backups(dest)[0]
        assert safety.backup_id != backup_id and safety.manifest["server"]["user"] == "backup"
        # Without the transformer login the runner would restore as the superuser: refused.
        (database.home / "roles.json").rename(tmp_path / "roles.json")
        refused = run_cli("backup", "verify", backup_id, "--dest", str(dest), "--restore-test")
        assert refused.exit_code == 1
        assert f"holds objects owned by {transformer}" in refused.output
        assert "Run `runner db roles` first" in refused.output
        assert not is_superuser(database, transformer)
    finally:
        query(database, f'alter role "{transformer}" nosuperuser')
        empty_database(database, f"{database.dbname}_planted")
