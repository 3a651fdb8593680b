"""`runner db …`: the embedded PostgreSQL server."""

from __future__ import annotations

import os
import shlex
import subprocess

import click

from runner.core import citus, dbt, embedded
from runner.errors import WarehouseError
from runner.settings import load_settings


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


@click.group()
def db() -> None:
    """Start, stop and inspect the embedded PostgreSQL server."""


@db.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Move the server to this port (0 picks a free one); remembered for next time.",
)
def start(port: int | None) -> None:
    """Start the embedded server (a no-op when it already runs).

    Example: runner db start
    """
    settings, started = embedded.start(load_settings(), port=port)
    profile = dbt.write_root_profile(settings)
    verb = "started" if started else "already running"
    click.echo(f"PostgreSQL {verb} on 127.0.0.1:{settings.port} (data in {settings.pgdata})")
    click.echo(f"connect: runner db psql   or   psql {settings.safe_dsn()}")
    if profile:
        click.echo(f"dbt profile for plain `dbt build`: {profile}")


@db.command()
def stop() -> None:
    """Stop the embedded server cleanly.

    Example: runner db stop
    """
    settings = load_settings()
    if not settings.embedded:
        raise WarehouseError("no embedded server: WAREHOUSE_DSN or PGHOST points elsewhere.")
    click.echo("stopped" if embedded.stop(settings) else "not running")


@db.command()
def status() -> None:
    """Show whether the server runs, its pid, port, data directory and size.

    Example: runner db status
    """
    settings = load_settings()
    if not settings.embedded:
        with embedded.cursor(settings) as cur:
            cur.execute("show server_version")
            version = cur.fetchone()[0]
            found = citus.cluster(cur)
        click.echo(f"external server {settings.safe_dsn()} (PostgreSQL {version}) reachable")
        if found:
            click.echo(f"citus:     {found.version}, coordinator {found.coordinator}, "
                       f"{len(found.workers)} active worker(s): {', '.join(found.workers) or 'none'}")
            show_citus_tables(found.tables)
        _show_leftovers(settings)
        return
    info = embedded.status(settings)
    click.echo(f"state:     {'running' if info.running else 'stopped'}")
    click.echo(f"pid:       {info.pid or '-'}")
    click.echo(f"port:      {info.port or '-'}")
    click.echo(f"data dir:  {info.pgdata}")
    click.echo(f"size:      {human_size(info.size_bytes)}")
    click.echo(f"database:  {settings.dbname}")
    if info.running:
        _show_leftovers(settings)


def show_citus_tables(tables) -> None:
    """Each distributed or reference table: how it is spread and its size on all nodes."""
    for table in tables:
        spread = f"by {table.column}" if table.kind == "distributed" else "on every node"
        click.echo(f"  {table.name:<34} {table.kind:<12} {spread:<14} "
                   f"{table.shards:>4} shard(s) {human_size(table.size_bytes):>10}")


def _show_leftovers(settings) -> None:
    from runner.core import backup as backups

    for name in backups.leftovers(settings):
        click.echo(f"leftover:  {name} (from an interrupted restore or verify; the next "
                   "restore or verify --restore-test drops it)")


as_option = click.option(
    "--as", "login", type=click.Choice(["analyst"]), default=None,
    help="Connect as the analyst login `runner db roles` made (reads gold only); its password "
         "goes to .warehouse/analyst.pgpass.")


def _connection(login: str | None):
    """The settings to print and the pgpass file that holds their password."""
    settings = load_settings()
    if settings.port is None:
        raise WarehouseError("the embedded server has never been started: run `runner db start`.")
    if login is None:
        return settings, settings.home / "pgpass" if settings.embedded else None
    from runner.core import roles as role_setup

    analyst = role_setup.login(settings, login)
    return analyst, role_setup.write_pgpass(analyst, settings.home / f"{login}.pgpass")


@db.command()
@as_option
def url(login: str | None) -> None:
    """Print the connection URL (no password; it is in .warehouse/pgpass).

    With --as analyst: the analysts' login, for BI tools and notebooks, with its password
    in .warehouse/analyst.pgpass.

    Example: PGPASSFILE=.warehouse/analyst.pgpass psql "$(runner db url --as analyst)"
    """
    settings, pgpass = _connection(login)
    click.echo(settings.safe_dsn().replace(":***@", "@"))
    if login:
        click.echo(f"password: in {pgpass} (PGPASSFILE={pgpass})", err=True)


@db.command()
@as_option
def env(login: str | None) -> None:
    """Print shell exports for psql, pg_dump or a notebook (PGHOST, PGPASSFILE, …).

    Example: eval "$(runner db env --as analyst)" && psql -c 'select 1'
    """
    settings, pgpass = _connection(login)
    values = settings.libpq_env()
    values.pop("PGPASSWORD", None)
    if pgpass:
        values["PGPASSFILE"] = str(pgpass)
    for key, value in values.items():
        click.echo(f"export {key}={shlex.quote(str(value))}")
    # The bundled client tools first: a system pg_dump older than the server refuses it.
    tools = embedded.bin_path("psql").parent
    click.echo(f"export PATH={shlex.quote(str(tools))}:\"$PATH\"")


@db.command(context_settings={"ignore_unknown_options": True})
@click.argument("psql_args", nargs=-1, type=click.UNPROCESSED)
def psql(psql_args: tuple[str, ...]) -> None:
    """Open psql on the warehouse database; extra arguments go to psql.

    Example: runner db psql -c 'select count(*) from gold.fct_orders'
    """
    settings = load_settings()
    if settings.port is None:
        raise WarehouseError("the embedded server has never been started: run `runner db start`.")
    env = {**os.environ, **settings.libpq_env()}
    result = subprocess.run([str(embedded.bin_path("psql")), *psql_args], env=env)
    raise SystemExit(result.returncode)


@db.command()
def roles() -> None:
    """Create or update the transformer, analyst and backup roles (least privilege).

    Names: WAREHOUSE_{ANALYST,TRANSFORMER,BACKUP}_USER; passwords: the matching
    WAREHOUSE_*_PASSWORD, else generated once into .warehouse/roles.json (never printed).
    The analyst login reads gold only, through the WAREHOUSE_ANALYST_ROLE group that dbt
    grants select to, in read-only sessions with gold on the search path, a statement
    timeout and a connection limit; BI tools connect with `runner db url --as analyst`.
    Existing roles with administrative rights or powerful memberships are refused.

    Example: WAREHOUSE_ANALYST_PASSWORD=... runner db roles
    """
    from runner.core import roles as role_setup

    for role in role_setup.ensure_roles(load_settings()):
        click.echo(f"{role.kind:<12} {role.name:<16} password from {role.password_source}")
    click.echo("analysts and BI tools: runner db url --as analyst")


COMMANDS = [db]
