"""One role owns the warehouse on a server the runner does not manage, whoever runs it.

docs/scaling-out.md's steps on Debian's PostgreSQL 15: an `etl` login with `create` on the
database loads first; `runner db roles` as etl stops before changing anything (it needs a
superuser); as the superuser it makes the roles and hands the warehouse to the transformer;
builds as the superuser and as etl then both run as the transformer. Old code: etl's
`db roles` left four roles made (with `createrole`) or failed as "unexpected" (without),
and a superuser's build after `db roles` left gold the superuser's and the rest etl's or
the transformer's. Skipped, with the reason, where postgresql-15 is not installed.
"""

from __future__ import annotations

from pathlib import Path

import psycopg2
import pytest

from conftest import query, warehouse_owners
from runner.core import generate as gen
from runner.settings import load_settings

CONFIGURED = ["analyst", "backup", "transformer", "warehouse_analyst"]


@pytest.fixture(scope="module")
def server(pg15_server, tmp_path_factory):
    """The superuser's and etl's environments for a `warehouse` database on PostgreSQL 15,
    with the landing folder of a small sample."""
    conn = psycopg2.connect(pg15_server)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("create database warehouse")
        cur.execute("create role etl login password 'etl-secret'")
        cur.execute("grant create on database warehouse to etl")
    conn.close()
    folder = tmp_path_factory.mktemp("external")
    landing = folder / "landing"
    gen.generate(landing, seed=5, scale=0.01)
    address = pg15_server.split("@", 1)[1].rsplit("/", 1)[0]
    home = {"WAREHOUSE_HOME": str(folder / ".warehouse")}
    return {
        "superuser": {**home, "WAREHOUSE_DSN": f"postgresql://postgres@{address}/warehouse"},
        "etl": {**home, "WAREHOUSE_DSN": f"postgresql://etl:etl-secret@{address}/warehouse"},
        "landing": str(landing),
        "home": folder / ".warehouse",
    }


def roles_on(server) -> list[str]:
    return [row[0] for row in query(load_settings(server["superuser"]),
                                    "select rolname from pg_roles where rolname = any(%s) "
                                    "order by 1", (CONFIGURED,))]


def test_db_roles_needs_a_superuser_and_changes_nothing_without_one(server, run_cli):
    # etl's own schema elsewhere stays etl's (and does not stop etl's commands later).
    query(load_settings(server["etl"]), "create schema etl_scratch")
    loaded = run_cli("load", "--landing", server["landing"], env=server["etl"])
    assert loaded.exit_code == 0, loaded.output + loaded.stderr
    for createrole in (False, True):
        # With createrole, PostgreSQL 15 would let etl make the logins, but not hand it etl's
        # objects; PostgreSQL 16+ refuses even pg_read_all_data.
        query(load_settings(server["superuser"]),
              f"alter role etl {'createrole' if createrole else 'nocreaterole'}")
        refused = run_cli("db", "roles", env=server["etl"])
        assert refused.exit_code == 1
        assert "Error: `runner db roles` needs a superuser, and etl is not one" in refused.stderr
        assert "Nothing was changed" in refused.stderr
        assert roles_on(server) == []
        assert not (server["home"] / "roles.json").exists()
    query(load_settings(server["superuser"]), "alter role etl nocreaterole")
    assert warehouse_owners(load_settings(server["superuser"])) == {"etl"}


def test_after_db_roles_every_build_leaves_one_owner(server, run_cli):
    made = run_cli("db", "roles", env=server["superuser"])
    assert made.exit_code == 0, made.output + made.stderr
    assert roles_on(server) == CONFIGURED
    # etl's first load is the transformer's now, so the transformer can load into it.
    assert warehouse_owners(load_settings(server["superuser"])) == {"transformer"}
    for login in ("superuser", "etl"):
        built = run_cli("build", "--skip-freshness", env=server[login])
        assert built.exit_code == 0, built.output + built.stderr
        assert warehouse_owners(load_settings(server["superuser"])) == {"transformer"}, login
    gen.next_day(Path(server["landing"]))
    for command in (("load", "--landing", server["landing"]), ("build", "--skip-freshness")):
        ran = run_cli(*command, env=server["etl"])
        assert ran.exit_code == 0, ran.output + ran.stderr
    assert warehouse_owners(load_settings(server["superuser"])) == {"transformer"}
    assert query(load_settings(server["superuser"]),
                 "select count(*) > 0 from gold.fct_order_lines") == [(True,)]
    assert query(load_settings(server["superuser"]), "select pg_get_userbyid(nspowner) "
                 "from pg_namespace where nspname = 'etl_scratch'") == [("etl",)]
