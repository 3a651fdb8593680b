"""Names from options and the environment never reach SQL as code, and nothing in runner/
builds SQL from an f-string, `%` or `.format` (the class, checked on every file)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from conftest import query

RUNNER = Path(__file__).resolve().parents[2] / "runner"
SQL_START = re.compile(r"^\s*(select|insert|update|delete|create|drop|alter|grant|revoke|copy|"
                       r"truncate|with|set|analyze|vacuum|comment)\b", re.IGNORECASE)
SQL_CALLS = {"execute", "copy_expert", "SQL", "mogrify"}


def _literal_text(node) -> str:
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value for part in node.values if isinstance(part, ast.Constant))
    return ""


def sql_built_from_strings():
    """(file:line, snippet) of every f-string, `%` or `.format` that builds SQL text."""
    found = []
    for path in RUNNER.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            text = None
            if isinstance(node, ast.JoinedStr):
                text = _literal_text(node)
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) \
                    and isinstance(node.left, ast.Constant) and isinstance(node.left.value, str):
                text = node.left.value
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "format" and isinstance(node.func.value, ast.Constant):
                text = node.func.value.value
            if text is not None and SQL_START.match(text):
                found.append(f"{path.relative_to(RUNNER.parent)}:{node.lineno}: {text[:60]!r}")
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", getattr(node.func, "id", None))
                if name in SQL_CALLS and node.args and isinstance(node.args[0], ast.JoinedStr):
                    found.append(f"{path.relative_to(RUNNER.parent)}:{node.lineno}: f-string to {name}")
    return found


def test_no_sql_is_built_from_strings():
    assert sql_built_from_strings() == []


def test_the_check_finds_sql_built_from_strings(tmp_path, monkeypatch):
    bad = RUNNER / "_hostile_probe.py"
    bad.write_text('def f(cur, name):\n    cur.execute(f"drop table {name}")\n'
                   '    return "select * from %s" % name\n')
    try:
        found = sql_built_from_strings()
    finally:
        bad.unlink()
    assert len([line for line in found if "_hostile_probe" in line]) == 3


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("WAREHOUSE_DB", 'warehouse"; drop database postgres; --', "is not a safe name"),
    ("WAREHOUSE_DB", "Warehouse", "is not a safe name"),
    ("WAREHOUSE_DB", "w" * 40, "at most 36 characters"),
])
def test_hostile_database_names_are_refused(run_cli, variable, value, expected):
    result = run_cli("db", "status", env={variable: value})
    assert result.exit_code == 1
    assert expected in result.output


@pytest.mark.parametrize("value", ["public", "gold", "dev; drop schema gold", "pg_temp"])
def test_hostile_schema_prefixes_are_refused(run_cli, value):
    result = run_cli("db", "status", env={"WAREHOUSE_TARGET": "dev", "WAREHOUSE_SCHEMA": value})
    assert result.exit_code == 1
    assert "WAREHOUSE_SCHEMA" in result.output


def test_target_db_with_a_quote_drops_nothing(database, run_cli, tmp_path):
    from runner.core import backup as backups

    made = backups.backup(database, tmp_path / "backups")
    query(database, "select 1")
    before = {row[0] for row in query(database, "select datname from pg_database")}
    result = run_cli("restore", made.backup_id, "--dest", str(tmp_path / "backups"), "--yes",
                     "--target-db", f'x" with (force); drop database "{database.dbname}')
    assert result.exit_code == 1
    assert "--target-db" in result.output and "is not a safe name" in result.output
    assert {row[0] for row in query(database, "select datname from pg_database")} == before


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("WAREHOUSE_ANALYST_USER", "postgres", "reserved"),
    ("WAREHOUSE_ANALYST_USER", 'a"; alter role postgres password \'x', "not a safe name"),
    ("WAREHOUSE_TRANSFORMER_USER", "pg_monitor", "reserved"),
    ("WAREHOUSE_ANALYST_ROLE", "analyst", "must differ"),
])
def test_hostile_role_names_are_refused(database, run_cli, variable, value, expected):
    result = run_cli("db", "roles", env={variable: value})
    assert result.exit_code == 1, result.output
    assert expected in result.output


def test_an_existing_superuser_is_never_changed(database, run_cli):
    query(database, "do $$ begin if not exists (select from pg_roles where rolname = 'boss') "
                    "then create role boss superuser login password 'kept'; end if; end $$")
    result = run_cli("db", "roles", env={"WAREHOUSE_BACKUP_USER": "boss"})
    assert result.exit_code == 1
    assert "refusing to change role(s)" in result.output
    assert "boss (WAREHOUSE_BACKUP_USER)" in result.output
    assert query(database, "select rolsuper from pg_roles where rolname = 'boss'") == [(True,)]


@pytest.mark.parametrize("statement", [
    "create temporary table scratch (id int)",
    "select lo_create(0)",
    "create table public.scratch (id int)",
])
def test_the_analyst_writes_nowhere(database, made_roles, statement):
    import json

    import psycopg2

    password = json.loads((database.home / "roles.json").read_text())["analyst"]
    conn = psycopg2.connect(**{**database.connect_kwargs(), "user": "analyst",
                               "password": password})
    try:
        conn.set_session(readonly=False)  # privileges, not the read-only default, refuse
        with conn.cursor() as cur:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(statement)
    finally:
        conn.close()


@pytest.mark.parametrize(("args", "expected"), [
    (["backup", "--label", "x; rm -rf /"], "use up to 40 lower-case letters"),
    (["backup", "verify", "../../etc"], "no backup '../../etc'"),
    (["restore", "20260101T000000Z/../x", "--yes"], "no backup"),
])
def test_hostile_backup_names_are_refused(database, run_cli, tmp_path, args, expected):
    result = run_cli(*args, "--dest", str(tmp_path / "backups"))
    assert result.exit_code == 1
    assert expected in result.output


def test_a_hostile_analyst_group_never_reaches_dbt_sql(database):
    from runner.core import dbt

    result = dbt.run_dbt(database, ["run-operation", "ensure_analyst_role"], capture=True,
                         extra_env={"WAREHOUSE_ANALYST_ROLE": "x\"; drop schema public; --"})
    assert result.returncode != 0
    assert "WAREHOUSE_ANALYST_ROLE" in result.stdout and "is not a safe role name" in result.stdout
    assert query(database, "select count(*) from pg_namespace where nspname = 'public'") == [(1,)]
