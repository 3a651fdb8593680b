"""`runner backup …` and `runner restore`: verified backups an on-call engineer can trust."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from runner.commands.db import human_size
from runner.core import backup as backups
from runner.core import roles as role_setup
from runner.core.locking import writer_lock
from runner.errors import WarehouseError
from runner.settings import load_settings

dest_option = click.option(
    "--dest", type=click.Path(file_okay=False, path_type=Path), default=None,
    envvar="WAREHOUSE_BACKUP_DIR",
    help="Backup folder (default: $WAREHOUSE_BACKUP_DIR or .warehouse/backups).",
)
jobs_option = click.option("--jobs", "-j", type=click.IntRange(1, 32), default=2, show_default=True,
                           help="Parallel pg_dump / pg_restore jobs.")
wait_option = click.option("--wait", type=click.FloatRange(min=0, max=86400), default=0,
                           show_default=True,
                           help="Seconds to wait for another writer to finish.")


def progress_printer(verb: str):
    if not sys.stderr.isatty():
        return None

    def show(message: str) -> None:
        click.echo(f"\r{verb} {message}   ", err=True, nl=False)

    return show


def age(created: dt.datetime | None) -> str:
    if created is None:
        return "-"
    seconds = (dt.datetime.now(dt.timezone.utc) - created).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


@click.group(invoke_without_command=True)
@dest_option
@jobs_option
@click.option("--label", default=None, help="Short label added to the backup id (a-z, 0-9, -).")
@click.option("--compress", type=click.IntRange(0, 9), default=backups.DEFAULT_COMPRESSION,
              show_default=True, help="gzip level: 1 is fast; higher is slower for little gain.")
@wait_option
@click.pass_context
def backup(ctx, dest, jobs, label, compress, wait) -> None:
    """Back up the warehouse database (pg_dump directory format, parallel, compressed).

    Written under a temporary name and renamed only when complete, with a manifest of
    row counts and file checksums. Subcommands list, verify and prune backups.

    Example: runner backup --label before-upgrade
    """
    if ctx.invoked_subcommand:
        return
    settings = load_settings().for_role("backup")
    folder = dest or backups.default_dest(settings)
    with writer_lock(settings, "backup", wait):
        made = backups.backup(settings, folder, jobs=jobs, label=label, compression=compress,
                              progress=progress_printer("dumping"))
    manifest = made.manifest
    click.echo(
        f"backup {made.backup_id}: {len(manifest['row_counts'])} tables, "
        f"{sum(manifest['row_counts'].values()):,} rows, {human_size(made.size_bytes)} in "
        f"{manifest['duration_seconds']:.1f}s -> {made.path}"
    )


@backup.command(name="list")
@dest_option
def list_command(dest) -> None:
    """List backups, newest first, with age, size and status.

    Example: runner backup list
    """
    folder = dest or backups.default_dest(load_settings())
    found = backups.list_backups(folder)
    if not found:
        click.echo(f"no backups in {folder}")
        return
    click.echo(f"{'id':<40} {'age':>5} {'size':>10}  status")
    for item in found:
        status = f"{item.status}: {item.problem}" if item.problem else item.status
        click.echo(f"{item.backup_id:<40} {age(item.created_at):>5} {human_size(item.size_bytes):>10}  {status}")


@backup.command()
@click.argument("backup_id")
@dest_option
@jobs_option
@click.option("--restore-test", is_flag=True,
              help="Also restore into a scratch database and compare row counts, then drop it.")
def verify(backup_id, dest, jobs, restore_test) -> None:
    """Re-check a backup's checksums and that pg_restore can read it.

    Example: runner backup verify 20261122T010203Z --restore-test
    """
    settings = load_settings()
    found = backups.find(dest or backups.default_dest(settings), backup_id)
    if restore_test:
        backups.drop_leftovers(settings, say=click.echo)
    problems = backups.verify(settings, found, restore_test=restore_test, jobs=jobs,
                              progress=progress_printer("restore test"))
    if problems:
        raise WarehouseError(
            f"backup {backup_id} failed verification: {'; '.join(problems[:5])}. Do not "
            "restore it; take a new backup or use an older verified one."
        )
    checks = "checksums, pg_restore --list" + (", restore test with row counts" if restore_test else "")
    click.echo(f"backup {backup_id} verified ({checks})")


@backup.command()
@dest_option
@click.option("--keep-days", type=click.IntRange(min=0), default=30, show_default=True,
              help="Keep every backup younger than this.")
@click.option("--keep-last", type=click.IntRange(min=0), default=7, show_default=True,
              help="Keep at least this many newest backups, whatever their age.")
def prune(dest, keep_days, keep_last) -> None:
    """Apply retention; never removes the newest verified backup.

    Example: runner backup prune --keep-days 30 --keep-last 7
    """
    folder = dest or backups.default_dest(load_settings())
    removed = backups.prune(folder, keep_days=keep_days, keep_last=keep_last)
    for item in removed:
        click.echo(f"removed {item.backup_id} ({item.status}, {human_size(item.size_bytes)})")
    click.echo(f"{len(removed)} backup(s) removed")
    for item in backups.list_backups(folder):
        if item.status == "damaged":
            click.echo(f"kept damaged {item.backup_id} ({item.problem}): look at it, then "
                       f"remove {item.path} by hand", err=True)


@click.command()
@click.argument("backup_id")
@dest_option
@jobs_option
@click.option("--target-db", default=None, help="Database to restore into (default: the warehouse database).")
@click.option("--yes", is_flag=True, help="Replace an existing database without asking.")
@wait_option
def restore(backup_id, dest, jobs, target_db, yes, wait) -> None:
    """Restore a backup: into a new database first, checked, then swapped in.

    An existing target is replaced only after the restored copy matches the manifest and
    a safety backup of the target was taken. A failure leaves the target as it was.

    Example: runner restore 20261122T010203Z --yes
    """
    settings = load_settings()
    folder = dest or backups.default_dest(settings)
    found = backups.find(folder, backup_id)
    target = backups.check_target(target_db or settings.dbname)
    exists = backups.database_exists(settings, target)
    confirmed = yes
    if exists and not yes:
        if not sys.stdin.isatty():
            raise WarehouseError(
                f"database {target!r} exists and would be replaced; without a terminal to ask, "
                "re-run with --yes to confirm."
            )
        confirmed = click.confirm(
            f"Replace database {target!r} with backup {backup_id}? A safety backup is taken first.")
        if not confirmed:
            raise WarehouseError("restore cancelled; nothing was changed.")
    lock_settings = settings.with_database(target) if exists else settings
    with writer_lock(lock_settings, "restore", wait):
        backups.drop_leftovers(settings, say=click.echo)
        outcome = backups.restore(settings, found, target, dest=folder, jobs=jobs,
                                  confirmed=confirmed, progress=progress_printer("restoring"))
    if settings.for_role("transformer").user != settings.user:
        # A restored database is new: its grants and the transformer's ownership again.
        role_setup.ensure_roles(settings.with_database(target))
    click.echo(f"restored {backup_id} into {target!r}")
    if outcome.safety_backup:
        click.echo(f"the previous {target!r} is kept as backup {outcome.safety_backup.backup_id}")


COMMANDS = [backup, restore]
