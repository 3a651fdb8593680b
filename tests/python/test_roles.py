"""The production roles work end to end: after `runner db roles` the runner loads and
builds as `transformer` (even a warehouse the superuser built) and backs up as `backup`;
the PII salt never lands in dbt's artifacts or log."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import psycopg2
import psycopg2.errors
import pytest

from conftest import PROJECT_DIR, empty_database, query
from runner.core import dbt
from runner.core import generate as gen

SALT = "s3cret salt-7f1e2d"


def owners(settings):
    return {row[0] for row in query(settings, """
        select distinct tableowner from pg_tables
        where schemaname in ('bronze', 'silver', 'gold', 'snapshots', 'audit')""")}


def test_transformer_builds_a_warehouse_the_superuser_built(database, tmp_path, run_cli):
    landing = tmp_path / "landing"
    state = gen.generate(landing, seed=5, scale=0.01)
    assert run_cli("load", "--landing", str(landing)).exit_code == 0
    first = run_cli("build", "--skip-freshness")
    assert first.exit_code == 0, first.output
    assert "public demo salt" in first.stderr
    assert owners(database) == {"postgres"}

    result = run_cli("db", "roles")
    assert result.exit_code == 0, result.output
    try:
        assert owners(database) == {"transformer"}
        day = dt.date.fromisoformat(state.batches[-1]) + dt.timedelta(days=1)
        stores = sorted(landing.glob("erp__stores__*.csv"))[-1].read_text()
        (landing / f"erp__stores__{day}.csv").write_text(stores)
        assert run_cli("load", "--landing", str(landing)).exit_code == 0
        assert query(database, "select count(*) from bronze.load_log where file_name = %s",
                     (f"erp__stores__{day}.csv",)) == [(1,)]

        # Plain dbt as the superuser meanwhile: the next runner build takes its tables over.
        assert dbt.run_dbt(database, ["run", "--select", "dim_date"], capture=True).returncode == 0
        assert query(database, "select tableowner from pg_tables where tablename = 'dim_date'") \
            == [("postgres",)]
        built = run_cli("build", "--skip-freshness", "--full-refresh",
                        env={"WAREHOUSE_PII_SALT": SALT})
        assert built.exit_code == 0, built.output
        assert "public demo salt" not in built.stderr
        assert owners(database) == {"transformer"}

        email, email_hash = query(database, """
            select customers.email, dim.email_hash
            from gold.dim_customers as dim
            join silver.stg_crm__customers as customers using (customer_id)
            where customers.email is not null and dim.is_current limit 1""")[0]
        assert email_hash == hashlib.sha256((SALT + email).encode()).hexdigest()
        for folder in ("target", "logs"):
            for path in (PROJECT_DIR / folder).rglob("*"):
                if path.is_file() and path.stat().st_size < 50_000_000:
                    assert SALT.encode() not in path.read_bytes(), path

        backup = run_cli("backup", "--dest", str(tmp_path / "backups"))
        assert backup.exit_code == 0, backup.output
        manifest = json.loads(next((tmp_path / "backups").glob("*/manifest.json")).read_text())
        assert manifest["row_counts"]["gold.fct_orders"] > 0
        assert manifest["server"]["user"] == "backup"

        # A restored database is new: the runner hands it to the transformer again.
        backup_id = manifest["backup_id"]
        restored = run_cli("restore", backup_id, "--dest", str(tmp_path / "backups"), "--yes",
                           "--target-db", f"{database.dbname}_r")
        assert restored.exit_code == 0, restored.output
        assert owners(database.with_database(f"{database.dbname}_r")) == {"transformer"}
        empty_database(database, f"{database.dbname}_r")  # (re-created empty: tidy)
    finally:
        (database.home / "roles.json").unlink(missing_ok=True)


def password_of(settings, role):
    return query(settings, "select rolpassword from pg_authid where rolname = %s", (role,))[0][0]


@pytest.mark.parametrize("power", [
    "pg_execute_server_program", "pg_read_server_files", "pg_write_server_files",
    "pg_read_all_data", "pg_write_all_data", "pg_signal_backend", "pg_checkpoint",
    "pg_create_subscription", "pg_maintain", "pg_monitor", "createdb", "createrole",
    "bypassrls", "replication", "transformer",
])
@pytest.mark.parametrize("inherited", [False, True])
def test_roles_that_can_gain_powers_are_refused(database, run_cli, monkeypatch, power,
                                                inherited):
    """WAREHOUSE_ANALYST_USER naming a role with an administrative attribute, or a member
    (directly or through another role) of a predefined role or of another configured
    role: refused, and its password left alone."""
    query(database, "drop role if exists sneaky; drop role if exists sneaky_via; "
                    "create role sneaky login password 'mine'")
    holder = "sneaky_via" if inherited else "sneaky"
    if inherited:
        query(database, "create role sneaky_via nologin; grant sneaky_via to sneaky")
    if power.startswith("pg_") or power == "transformer":
        query(database, f"create role {power} nologin" if power == "transformer" and not query(
            database, "select 1 from pg_roles where rolname = 'transformer'") else "select 1")
        query(database, f"grant {power} to {holder}")
    else:
        query(database, f"alter role {holder} {power}")
    before = password_of(database, "sneaky")
    monkeypatch.setenv("WAREHOUSE_ANALYST_USER", "sneaky")
    try:
        result = run_cli("db", "roles")
        assert result.exit_code == 1
        assert "Error: refusing to change role(s)" in result.output
        assert "sneaky (WAREHOUSE_ANALYST_USER)" in result.output
        if inherited or power.startswith("pg_") or power == "transformer":
            assert "through" in result.output
        assert password_of(database, "sneaky") == before
    finally:
        query(database, "drop role sneaky; drop role if exists sneaky_via")


def test_the_analyst_login_has_safe_defaults_and_reads_gold_only(database, made_roles, run_cli):
    analyst = made_roles["analyst"]
    query(database, "create schema if not exists gold; create schema if not exists silver; "
                    "create table if not exists gold.facts as select 1 as id; "
                    "create table if not exists silver.inside as select 1 as id; "
                    "grant usage on schema gold to warehouse_analyst; "
                    "grant select on gold.facts to warehouse_analyst")
    assert query(database, "select rolconnlimit from pg_roles where rolname = %s",
                 (analyst,)) == [(20,)]
    conn = psycopg2.connect(**database.for_role("analyst").connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute("select current_setting('default_transaction_read_only'), "
                        "current_setting('statement_timeout'), "
                        "current_setting('idle_in_transaction_session_timeout'), "
                        "current_setting('search_path')")
            assert cur.fetchone() == ("on", "5min", "1min", "gold")
            cur.execute("select count(*) from facts")  # gold is on the search path
            assert cur.fetchone() == (1,)
            with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
                cur.execute("create temporary table scratch (id int)")
            conn.rollback()
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("select * from silver.inside")
            conn.rollback()
            cur.execute("set statement_timeout = '100ms'")
            with pytest.raises(psycopg2.errors.QueryCanceled):
                cur.execute("select pg_sleep(5)")
    finally:
        conn.close()


def test_a_renamed_analyst_login_loses_gold(database, made_roles, run_cli, monkeypatch):
    old = made_roles["analyst"]
    monkeypatch.setenv("WAREHOUSE_ANALYST_USER", "analyst_renamed")
    try:
        result = run_cli("db", "roles")
        assert result.exit_code == 0, result.output
        member = "select pg_has_role(%s, 'warehouse_analyst', 'member')"
        assert query(database, member, ("analyst_renamed",)) == [(True,)]
        assert query(database, member, (old,)) == [(False,)]
    finally:
        monkeypatch.delenv("WAREHOUSE_ANALYST_USER")
        assert run_cli("db", "roles").exit_code == 0  # back to the default name
        query(database, "drop owned by analyst_renamed; drop role analyst_renamed")


def test_an_analyst_who_changed_its_password_gets_a_clear_message(database, made_roles,
                                                                   run_cli):
    conn = psycopg2.connect(**database.for_role("analyst").connect_kwargs())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("set default_transaction_read_only = off")  # a default, not a wall
        cur.execute("alter role current_user password 'my own now'")
    conn.close()
    result = run_cli("db", "url", "--as", "analyst")
    assert result.exit_code == 1
    assert "no longer accepts the password in" in result.output
    assert "Run `runner db roles` to set it back" in result.output
    assert run_cli("db", "roles").exit_code == 0
    assert run_cli("db", "url", "--as", "analyst").exit_code == 0


def test_the_hand_over_takes_only_what_the_runner_built(database, run_cli):
    """`runner db roles` (and every command, before it switches to the transformer) hands
    the superuser's warehouse objects to the transformer; never an extension's (old code:
    pg_trgm's 31 functions and its schema, so the transformer could put functions of its
    own where superusers look them up) nor another role's (old code: hr.salaries)."""
    query(database, """
        create schema extensions;
        create extension pg_trgm schema extensions;
        create role hr_admin_hand_over nologin;
        create schema hr authorization hr_admin_hand_over;
        create table hr.salaries (amount int);
        alter table hr.salaries owner to hr_admin_hand_over;
        create schema built_by_hand;
        create table built_by_hand.t (x int);
        create function built_by_hand.f() returns int language sql as 'select 1';""")
    try:
        result = run_cli("db", "roles")
        assert result.exit_code == 0, result.output
        assert dict(query(database, """
            select nspname, pg_get_userbyid(nspowner) from pg_namespace
            where nspname in ('extensions', 'hr', 'built_by_hand')""")) == {
            "extensions": "postgres", "hr": "hr_admin_hand_over", "built_by_hand": "transformer"}
        assert query(database, """
            select distinct pg_get_userbyid(proowner) from pg_proc
            where pronamespace = 'extensions'::regnamespace""") == [("postgres",)]
        assert query(database, """
            select schemaname, tableowner from pg_tables
            where schemaname in ('hr', 'built_by_hand') order by 1""") == [
            ("built_by_hand", "transformer"), ("hr", "hr_admin_hand_over")]
        assert query(database, "select pg_get_userbyid(proowner) from pg_proc "
                               "where oid = 'built_by_hand.f'::regproc") == [("transformer",)]
    finally:
        query(database, """
            drop schema hr cascade;
            drop role hr_admin_hand_over;
            drop extension pg_trgm;
            drop schema extensions cascade;
            drop schema built_by_hand cascade;""")
        (database.home / "roles.json").unlink(missing_ok=True)


def test_a_renamed_transformer_hands_its_objects_to_the_new_one(database, made_roles,
                                                                run_cli, monkeypatch):
    """The hand-over takes only the runner's own objects, and a previous transformer's:
    renaming WAREHOUSE_TRANSFORMER_USER must not strand the warehouse with the old login."""
    old = made_roles["transformer"]
    query(database.for_role("transformer"),
          "create schema if not exists silver; create table silver.renamed_probe (x int)")
    monkeypatch.setenv("WAREHOUSE_TRANSFORMER_USER", "transformer_renamed")
    try:
        result = run_cli("db", "roles")
        assert result.exit_code == 0, result.output
        assert query(database, "select tableowner from pg_tables "
                               "where tablename = 'renamed_probe'") == [("transformer_renamed",)]
    finally:
        monkeypatch.delenv("WAREHOUSE_TRANSFORMER_USER")
        assert run_cli("db", "roles").exit_code == 0  # back to the default name
        assert query(database, "select tableowner from pg_tables "
                               "where tablename = 'renamed_probe'") == [(old,)]
        query(database, "drop table silver.renamed_probe; "
                        "drop owned by transformer_renamed; drop role transformer_renamed")
