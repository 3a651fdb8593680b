"""`runner build` and `runner demo`: dbt against the configured warehouse."""

from __future__ import annotations

import os
import time

import click
from tqdm import tqdm

from runner.commands.data import check_scale, resolve_landing, yes_option
from runner.core import build as builder
from runner.core import dbt, embedded, names, observe
from runner.core import generate as gen
from runner.core import roles as role_setup
from runner.core import load as loader
from runner.core.locking import writer_lock
from runner.core.progress import phase
from runner.errors import WarehouseError
from runner.settings import load_settings

wait_option = click.option(
    "--wait", type=click.FloatRange(min=0, max=86400), default=0, show_default=True,
    help="Seconds to wait for another writer (build, load, backup, restore) to finish.",
)


def ensure_server():
    """Start the embedded server if it is the target; check an external one answers."""
    settings = load_settings()
    if settings.embedded:
        settings, _started = embedded.start(settings)
        dbt.write_root_profile(settings)
    else:
        embedded.connect(settings).close()
    return settings


verbose_option = click.option(
    "--verbose", "-v", is_flag=True,
    help="Show dbt's log live (otherwise it goes to logs/build.log; errors always print).")


def warn_demo_salt() -> None:
    if not os.environ.get("WAREHOUSE_PII_SALT"):
        click.echo("WARNING: personal data is hashed with the public demo salt, so known "
                   "emails and phones can be matched to their hashes. Set "
                   "WAREHOUSE_PII_SALT to a secret (then `runner build --full-refresh`).",
                   err=True)


def summary(settings, started: float) -> None:
    """The closing lines: rows per layer and where dbt's log is."""
    rows = builder.layer_rows(settings)
    # The planner's statistics (a count only where a table has none): labelled as such,
    # since ANALYZE samples a large table.
    phase("rows", "about " + " · ".join(f"{layer} {count:,}" for layer, count in rows.items())
          + " (planner estimates)")
    phase("log", "logs/build.log (dbt's lines), logs/dbt.log (debug detail)")
    click.echo(f"done in {time.perf_counter() - started:.0f} s")


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--skip-freshness", is_flag=True, help="Do not run `dbt source freshness` first.")
@wait_option
@verbose_option
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
def build(skip_freshness: bool, wait: float, verbose: bool, dbt_args: tuple[str, ...]) -> None:
    """Check source freshness, apply snapshots as of every new batch, then `dbt build`.

    Prints one line per phase and a summary; dbt's own log goes to logs/build.log
    (--verbose shows it live). Extra arguments go to `dbt build`. Every data test runs;
    dbt's unit tests are left out (they run in `make test`; pass --resource-type to choose
    yourself). Exits non-zero when the build fails or a source is late beyond its error
    threshold.

    Example: runner build --select staging+
    """
    started = time.perf_counter()
    settings = role_setup.as_transformer(ensure_server())
    warn_demo_salt()
    with writer_lock(settings, "build", wait):
        outcome = builder.run_build(settings, list(dbt_args), freshness=not skip_freshness,
                                    verbose=verbose)
    if outcome.build_returncode == 2:
        raise WarehouseError(
            "dbt stopped before it built anything (exit code 2); its message above says "
            "why. Nothing was built by this run."
        )
    if outcome.build_returncode != 0:
        raise WarehouseError(
            f"dbt build failed (exit code {outcome.build_returncode}); each failing model or "
            "test is printed above with its error (all of dbt's lines: logs/build.log). A "
            "failing test's rows are in the test_failures schema."
        )
    if not outcome.freshness_ok:
        raise WarehouseError(
            "the build succeeded, but `dbt source freshness` reports a source late beyond "
            "its error threshold (see above): check that `runner load` ran."
        )
    summary(settings, started)


DEMO_QUERIES = """\
  runner db psql -c 'select * from gold.rpt_business_kpis_monthly order by kpi_month'
  runner db psql -c 'select region, sales_month, sum(net_revenue_amount_eur) from gold.agg_sales_monthly group by 1, 2 order by 2, 1'
  runner db psql -c 'select * from gold.rpt_data_quality_batches order by batch_date desc limit 10'"""


@click.command()
@click.option("--scale", type=float, default=0.01, show_default=True,
              help="Size of the sample data (used only when the landing folder is empty).")
@yes_option
@wait_option
@verbose_option
def demo(scale: float, yes: bool, wait: float, verbose: bool) -> None:
    """Run the main job end to end: database, sample data, load, every layer with its tests.

    Idempotent: a second run loads nothing new and the build only refreshes.

    Example: runner demo
    """
    check_scale(scale, yes)
    started = time.perf_counter()
    warn_demo_salt()
    click.echo("runner demo: database, sample data, load, then every layer with its tests")
    settings = role_setup.as_transformer(ensure_server())
    phase("database", f"{'embedded' if settings.embedded else 'external'} {settings.safe_dsn()}")
    landing = resolve_landing(None)
    if not landing.exists() or not any(landing.iterdir()):
        began = time.perf_counter()
        with tqdm(total=gen.HISTORY_MONTHS, unit="batch", desc="  generate", leave=False,
                  disable=None) as bar:
            state = gen.generate(landing, scale=scale, progress=bar.update)
        phase("generate", f"{state.order_lines:,} order lines in {len(state.batches)} "
                          f"batches, in {landing}", time.perf_counter() - began)
    else:
        phase("generate", f"skipped: using the landing files already in {landing}")
    with writer_lock(settings, "demo", wait):
        began = time.perf_counter()
        failed = []
        with tqdm(total=len(loader.landing_files(landing)), unit="file", desc="  load",
                  leave=False, disable=None) as bar:
            def on_file(result):
                bar.update(1)
                if result.status == "failed":
                    failed.append(result)
                    tqdm.write(f"  FAILED {names.shown(result.name)}: {result.error}")

            results = loader.load(settings, landing, on_file=on_file)
        loaded = [r for r in results if r.status == "loaded"]
        phase("load", f"{len(loaded)} new files, {sum(r.rows for r in loaded):,} rows, "
                      f"{len(failed)} failed", time.perf_counter() - began)
        outcome = builder.run_build(settings, [], verbose=verbose)
    if outcome.build_returncode != 0 or failed:
        raise WarehouseError("the demo did not pass: the failing files, models or tests are "
                             "printed above (all of dbt's lines: logs/build.log).")
    if observe.status(settings).enabled:
        path = observe.report(settings, settings.project_dir / "report" / "elementary.html")
        phase("report", str(path))
    else:
        phase("report", "observability is off (`runner observe install --from DIR` turns it on)")
    summary(settings, started)
    click.echo("The gold schema holds the star schema; try:\n" + DEMO_QUERIES)


COMMANDS = [build, demo]
LINT_DATABASE = "lint_scratch"


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("paths", nargs=-1, type=click.UNPROCESSED)
def lint(paths: tuple[str, ...]) -> None:
    """Lint the SQL with sqlfluff (dbt templater, postgres dialect; see .sqlfluff).

    The dbt templater compiles the project, so the database must answer; the embedded
    server is started when it is the target.

    Example: runner lint models/marts
    """
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    # Compiled against an empty database, so is_incremental() and the columns found in
    # bronze are the same on a fresh and on a built warehouse: the same verdict as CI's.
    settings = ensure_server().with_database(LINT_DATABASE)
    embedded.ensure_database(settings)
    sqlfluff = Path(sys.executable).parent / "sqlfluff"
    executable = str(sqlfluff) if sqlfluff.exists() else shutil.which("sqlfluff")
    if not executable:
        raise WarehouseError("sqlfluff not found: install the dev extras with `make install`.")
    targets = list(paths) or ["models", "snapshots", "tests/dbt"]
    result = subprocess.run(
        [executable, "lint", *targets, "--processes", "2"],
        cwd=settings.project_dir,
        env=dbt.dbt_environment(settings),
    )
    if result.returncode != 0:
        raise WarehouseError(
            "sqlfluff found problems (listed above). `sqlfluff fix PATH` repairs most layout "
            "issues; run it with the same environment via `runner lint` after fixing."
        )
    click.echo("lint clean")


COMMANDS.append(lint)
