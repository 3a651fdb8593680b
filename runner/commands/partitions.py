"""`runner partitions …`: monthly partitions of bronze orders and order lines."""

from __future__ import annotations

from pathlib import Path

import click

from runner.commands.db import human_size, show_citus_tables
from runner.core import citus, embedded
from runner.core import partitions as parts
from runner.core import roles as role_setup
from runner.core.locking import writer_lock
from runner.settings import load_settings


@click.group()
def partitions() -> None:
    """Set up, inspect and retire the monthly partitions of bronze orders and order lines."""


@partitions.command()
@click.option("--months-ahead", type=click.IntRange(0, 120), default=3, show_default=True,
              help="Empty monthly partitions to keep ready past today and the newest batch.")
def setup(months_ahead: int) -> None:
    """Create the monthly partitions the data needs plus N months ahead (idempotent).

    Rows waiting in the default partition move into their new partition.

    Example: runner partitions setup --months-ahead 6
    """
    created = parts.setup(role_setup.as_transformer(load_settings()), months_ahead)
    click.echo(f"partitions created: {created}")


@partitions.command()
def status() -> None:
    """List every partition with its rows and size; warn about the default and the future.

    Example: runner partitions status
    """
    # Counting rows reads the transformer's tables: as the transformer, not a superuser.
    settings = load_settings().for_role("transformer")
    found = parts.partitions(settings)
    if not found:
        click.echo("no partitioned tables yet: run `runner load` or `runner partitions setup`")
        return
    click.echo(f"{'table':<16} {'partition':<28} {'from':<10} {'to':<10} {'rows':>10} {'size':>10}")
    for part in found:
        click.echo(
            f"{part.parent:<16} {part.name:<28} {str(part.lower or 'default'):<10} "
            f"{str(part.upper or ''):<10} {part.rows:>10,} {human_size(part.size_bytes):>10}"
        )
    for warning in parts.warnings_for(found):
        click.echo(f"warning: {warning}")
    with embedded.cursor(settings) as cur:
        cluster = citus.cluster(cur)
    if cluster and cluster.tables:
        # Bronze stays on the coordinator; the sharded and reference tables' sizes are
        # summed over every node (citus_total_relation_size).
        click.echo("citus tables (size on all nodes):")
        show_citus_tables(cluster.tables)


@partitions.command()
@click.option("--older-than", type=click.IntRange(1, 1200), required=True,
              help="Retire partitions whose month ended more than this many months ago.")
@click.option("--archive", "archive_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Write each partition to DIR (gzip CSV + checksum) first.")
@click.option("--no-archive", is_flag=True, help="Drop without an archive (data is lost).")
@click.option("--wait", type=click.FloatRange(min=0, max=86400), default=0, show_default=True,
              help="Seconds to wait for another writer to finish.")
def retain(older_than: int, archive_dir: Path | None, no_archive: bool, wait: float) -> None:
    """Archive (verified), detach and drop partitions older than the window.

    Example: runner partitions retain --older-than 24 --archive /backups/partitions
    """
    settings = role_setup.as_transformer(load_settings())
    with writer_lock(settings, "partitions retain", wait):
        retired, archives = parts.retain(settings, older_than, archive_dir, no_archive)
    for archive in archives:
        click.echo(f"archived {archive.partition}: {archive.rows:,} rows -> {archive.path} (sha256 {archive.sha256[:12]})")
    click.echo(f"retired {len(retired)} partition(s)" + (": " + ", ".join(p.name for p in retired) if retired else ""))


@partitions.command(name="restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def restore_command(archive: Path) -> None:
    """Load an archived partition back into bronze (after checking its checksum).

    Example: runner partitions restore /backups/partitions/bronze.erp_orders_p202401.csv.gz
    """
    rows = parts.restore_archive(role_setup.as_transformer(load_settings()), archive)
    click.echo(f"restored {rows:,} rows from {archive}")


COMMANDS = [partitions]
