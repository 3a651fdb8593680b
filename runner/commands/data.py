"""`runner generate` and `runner load`: source data into bronze."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import click
from tqdm import tqdm

from runner.core import generate as gen
from runner.core import load as loader
from runner.core import names
from runner.core import roles as role_setup
from runner.core.locking import writer_lock
from runner.errors import WarehouseError
from runner.settings import load_settings

DEFAULT_LANDING = "landing"


def landing_option(function):
    return click.option(
        "--landing", "--out", "landing",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        envvar="WAREHOUSE_LANDING",
        help="Landing folder (default: <project>/landing, or $WAREHOUSE_LANDING).",
    )(function)


def resolve_landing(landing: Path | None) -> Path:
    return landing if landing is not None else load_settings().project_dir / DEFAULT_LANDING


# Measured: a scale-1 warehouse (landing files, bronze to gold, indexes) takes about 1.6 GB.
GB_PER_SCALE = 1.6
SCALE_TO_CONFIRM = 5.0
yes_option = click.option("--yes", is_flag=True, help="Do not ask before a large --scale.")


def check_scale(scale: float, yes: bool) -> None:
    """A clear error for a --scale that is not a usable size; asks before a large one."""
    if not math.isfinite(scale) or scale <= 0:
        raise WarehouseError(f"--scale must be a positive number, got {scale}.")
    if scale > 1000:
        raise WarehouseError(f"--scale {scale:g} is beyond what the generator supports (1000).")
    if scale > SCALE_TO_CONFIRM and not yes:
        need = f"--scale {scale:g} needs about {scale * GB_PER_SCALE:,.0f} GB of disk"
        if not sys.stdin.isatty():
            raise WarehouseError(f"{need}; re-run with --yes to go ahead.")
        if not click.confirm(f"{need}. Go ahead?"):
            raise WarehouseError("cancelled; nothing was written.")


@click.command()
@landing_option
@click.option("--seed", type=int, default=42, show_default=True, help="Random seed: same seed, same bytes.")
@click.option("--scale", type=float, default=0.01, show_default=True,
              help="1 = 100k customers, 400k orders, 1M order lines over two years.")
@click.option("--next-day", is_flag=True, help="Append the next day's batch to an existing landing folder.")
@click.option("--dirt", type=float, default=None,
              help="Set every dirt rate at once (0 = clean data). Default: realistic rates.")
@click.option("--dirt-rate", multiple=True, metavar="KIND=RATE",
              help="Override one dirt rate, e.g. --dirt-rate bad_email=0.1 (repeatable).")
@yes_option
def generate(landing, seed, scale, next_day, dirt, dirt_rate, yes) -> None:
    """Write realistic, dirty source files (CRM JSON lines, ERP CSV) as daily batches.

    Examples: runner generate --scale 0.1    runner generate --next-day
    """
    folder = resolve_landing(landing)
    if next_day:
        state, date = gen.next_day(folder)
        click.echo(f"added batch {date} to {folder} ({len(state.batches)} batches)")
        return
    check_scale(scale, yes)
    if dirt is not None and not 0 <= dirt <= 1:
        raise WarehouseError(f"--dirt must be between 0 and 1, got {dirt}.")
    rates = gen.DirtRates.parse(list(dirt_rate), base=dirt)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WarehouseError(f"--out {folder}: cannot create the folder ({error.strerror or error}). "
                             "Choose a folder the runner may write to.") from None
    with tqdm(total=gen.HISTORY_MONTHS, unit="batch", desc="generate", leave=False, disable=None) as bar:
        state = gen.generate(folder, seed=seed, scale=scale, dirt=rates, progress=bar.update)
    click.echo(
        f"wrote {len(state.batches)} batches to {folder}: {state.customers:,} customers, "
        f"{state.products:,} products, {state.stores:,} stores, {state.orders:,} orders, "
        f"{state.order_lines:,} order lines"
    )


@click.command()
@landing_option
@click.option("--status", "show_status", is_flag=True, help="Show the load log instead of loading.")
@click.option("--wait", type=click.FloatRange(min=0, max=86400), default=0, show_default=True,
              help="Seconds to wait for another writer (build, backup, restore) to finish.")
@click.option("--max-age-days", type=click.IntRange(min=1, max=36500), default=None,
              envvar=loader.MAX_AGE_VARIABLE, show_envvar=True,
              help=f"Oldest batch date accepted, in days before today (default "
                   f"{loader.MAX_AGE_DAYS}); dates up to {loader.DAYS_AHEAD} days ahead are "
                   "accepted. Files outside the window are refused.")
def load(landing, show_status, wait, max_age_days) -> None:
    """Load new landing files into the bronze tables (COPY, one transaction per file).

    Examples: runner load    runner load --status
    """
    settings = role_setup.as_transformer(load_settings())
    if show_status:
        rows = loader.load_status(settings)
        if not rows:
            click.echo("nothing loaded yet")
            return
        click.echo(f"{'file':<42} {'status':<7} {'rows':>9} {'bytes':>11} {'sha256':<12} {'ms':>6}  drift / error")
        for name, status, rows_loaded, size, checksum, ms, drift, error in rows:
            click.echo(f"{names.shown(name):<42} {status:<7} {rows_loaded or 0:>9,} {size:>11,} {checksum:<12} {ms:>6}  {drift or error}")
        return
    folder = resolve_landing(landing)
    counts = {"loaded": 0, "skipped": 0, "failed": 0}
    rows = 0
    failures = []
    total = len(loader.landing_files(folder))
    with tqdm(total=total, unit="file", desc="load", leave=False, disable=None) as bar:
        def on_file(result):
            nonlocal rows
            counts[result.status] += 1
            rows += result.rows
            bar.update(1)
            if result.drift:
                tqdm.write(f"schema drift in {names.shown(result.name)}: new column(s) {', '.join(result.drift)} kept")
            if result.status == "failed":
                failures.append(result)
                tqdm.write(f"FAILED {names.shown(result.name)}: {result.error}")

        with writer_lock(settings, "load", wait):
            loader.load(settings, folder, on_file=on_file, max_age=max_age_days)
    click.echo(
        f"loaded {counts['loaded']} files ({rows:,} rows), skipped {counts['skipped']} "
        f"already loaded, {counts['failed']} failed"
    )
    if failures:
        raise WarehouseError(
            f"{len(failures)} file(s) failed and were not loaded (first: "
            f"{names.shown(failures[0].name)}: "
            f"{failures[0].error}). Fix or replace them and run `runner load` again; "
            "`runner load --status` lists every file."
        )


COMMANDS = [generate, load]
