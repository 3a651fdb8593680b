"""Root command group: ``runner [--debug] COMMAND``."""

from __future__ import annotations

import os
import sys
import traceback

import click

from runner import __version__
from runner.errors import WarehouseError


class WarehouseGroup(click.Group):
    """Turns a WarehouseError into ``Error: …`` with exit 1; tracebacks only with --debug."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except WarehouseError as error:
            if ctx.meta.get("runner.debug"):
                traceback.print_exc()
            raise click.ClickException(str(error)) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt,
                BrokenPipeError):
            # A reader gone mid-command (`runner db status | head -1`): Click itself exits
            # quietly on EPIPE.
            raise
        except Exception as error:  # noqa: BLE001 - the last line of defence for users
            if ctx.meta.get("runner.debug"):
                raise
            if getattr(error, "pgcode", None) == "42501":  # insufficient_privilege
                raise click.ClickException(_missing_privilege(error)) from None
            raise click.ClickException(
                f"unexpected {type(error).__name__}: {error}. "
                "Rerun with `runner --debug …` for the traceback and report it."
            ) from None


def _missing_privilege(error) -> str:
    """What to grant, for a login on an external server (or Citus cluster) that lacks it."""
    try:
        from runner.settings import load_settings

        settings = load_settings()
        user, database = settings.user, settings.dbname
    except Exception:  # noqa: BLE001 - the advice holds without the names
        user, database = "<login>", "<database>"
    refused = str(error).strip().splitlines()[0]
    return (
        f"the database refused the login {user}: {refused}. On a server the runner does not "
        f"manage, a superuser grants the login what it needs once (`grant create on database "
        f"{database} to {user}`) and runs `runner db roles` once, after which the runner "
        "works as the transformer; on Citus create the login after adding the worker nodes "
        "(Citus then creates it on each of them). docs/scaling-out.md, \"The etl login and "
        "the roles\", lists each step."
    )


@click.group(name="runner", cls=WarehouseGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="runner")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug output.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Run the warehouse: embedded PostgreSQL, source data, dbt builds, backups.

    With no database configured everything runs on an embedded PostgreSQL in
    .warehouse/; set WAREHOUSE_DSN (or PGHOST and friends) to use another server.
    """
    ctx.meta["runner.debug"] = debug


def _register() -> None:
    from runner.commands import backup, bench, build, ci, daily, data, db, observe, partitions

    for module in (db, data, build, ci, daily, backup, partitions, observe, bench):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    try:
        cli(prog_name="runner")
    finally:
        # Output is flushed at exit too: a reader gone by then is no error either.
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)


if __name__ == "__main__":
    sys.exit(main())
