"""A login on a server the runner does not manage that lacks a privilege gets told what to
grant, not an "unexpected" error to report (docs/scaling-out.md, "The etl login and the
roles")."""

from __future__ import annotations

from conftest import empty_database, query
from runner.core import embedded
from runner.core import generate as gen


def test_a_login_without_create_on_the_database_is_told_what_to_grant(
        warehouse_env, run_cli, tmp_path):
    settings = empty_database(warehouse_env, "privileges_missing")
    query(settings, """
        drop role if exists etl_without_grant;
        create role etl_without_grant login password 'only-for-this-test'""")
    landing = tmp_path / "landing"
    gen.generate(landing, seed=1, scale=0.001)
    dsn = (f"postgresql://etl_without_grant:only-for-this-test@127.0.0.1:{settings.port}"
           "/privileges_missing")
    try:
        result = run_cli("load", "--landing", str(landing), env={"WAREHOUSE_DSN": dsn})
    finally:
        conn = embedded.connect(settings, "postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("drop database privileges_missing with (force)")
            cur.execute("drop role etl_without_grant")
        conn.close()
    assert result.exit_code == 1
    assert "unexpected" not in result.output
    assert "the database refused the login etl_without_grant" in result.output
    assert "grant create on database privileges_missing to etl_without_grant" in result.output
    assert "only-for-this-test" not in result.output
