"""`runner build` and `runner demo`: dbt against the configured warehouse."""

from __future__ import annotations

import click

from runner.core import dbt, embedded
from runner.settings import load_settings


def ensure_server():
    """Start the embedded server if it is the target; check an external one answers."""
    settings = load_settings()
    if settings.embedded:
        settings, _started = embedded.start(settings)
        dbt.write_root_profile(settings)
    else:
        embedded.connect(settings).close()
    return settings


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
def build(dbt_args: tuple[str, ...]) -> None:
    """Run `dbt build` on the warehouse; extra arguments go to dbt.

    Example: runner build --select staging+
    """
    settings = ensure_server()
    result = dbt.run_dbt(settings, ["build", *dbt_args])
    raise SystemExit(result.returncode)


@click.command()
def demo() -> None:
    """Run the main job end to end: database, sample data, every layer with its tests.

    Example: runner demo
    """
    settings = ensure_server()
    click.echo(f"warehouse database: {settings.safe_dsn()}")
    dbt.run_dbt_checked(settings, ["build"])
    click.echo("done. Query it with: runner db psql")


COMMANDS = [build, demo]
