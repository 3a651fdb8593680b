"""`runner build` and `runner demo`: dbt against the configured warehouse."""

from __future__ import annotations

import os

import click

from runner.commands.data import check_scale, resolve_landing, yes_option
from runner.core import build as builder
from runner.core import dbt, embedded, observe
from runner.core import generate as gen
from runner.core import roles as role_setup
from runner.core import load as loader
from runner.core.locking import writer_lock
from runner.errors import WarehouseError
from runner.settings import load_settings

wait_option = click.option(
    "--wait", type=click.FloatRange(min=0), default=0, show_default=True,
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


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--skip-freshness", is_flag=True, help="Do not run `dbt source freshness` first.")
@wait_option
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
def build(skip_freshness: bool, wait: float, dbt_args: tuple[str, ...]) -> None:
    """Check source freshness, apply snapshots as of every new batch, then `dbt build`.

    Extra arguments go to `dbt build`. Every data test runs; dbt's unit tests are left out
    (they run in `make test`; pass --resource-type to choose yourself). Exits non-zero
    when the build fails or a source is late beyond its error threshold.

    Example: runner build --select staging+
    """
    settings = role_setup.as_transformer(ensure_server())
    if not os.environ.get("WAREHOUSE_PII_SALT"):
        click.echo("WARNING: personal data is hashed with the public demo salt, so known "
                   "emails and phones can be matched to their hashes. Set "
                   "WAREHOUSE_PII_SALT to a secret (then `runner build --full-refresh`).",
                   err=True)
    with writer_lock(settings, "build", wait):
        outcome = builder.run_build(settings, list(dbt_args), freshness=not skip_freshness)
    if outcome.build_returncode == 2:
        raise WarehouseError(
            "dbt stopped before it could build (exit code 2: a bad option, or dbt itself "
            "failed); its message above says which. Nothing was built by this run."
        )
    if outcome.build_returncode != 0:
        raise WarehouseError(
            f"dbt build failed (exit code {outcome.build_returncode}); dbt's summary above "
            "names each failing model or test. A failing test's rows are stored in the "
            "test_failures schema; a failing model's error is printed with it."
        )
    if not outcome.freshness_ok:
        raise WarehouseError(
            "the build succeeded, but `dbt source freshness` reports a source late beyond "
            "its error threshold (see above): check that `runner load` ran."
        )


DEMO_QUERIES = """\
  runner db psql -c 'select * from gold.rpt_business_kpis_monthly order by kpi_month'
  runner db psql -c 'select region, sales_month, sum(net_revenue_amount) from gold.agg_sales_monthly group by 1, 2 order by 2, 1'
  runner db psql -c 'select * from gold.rpt_data_quality_batches order by batch_date desc limit 10'"""


@click.command()
@click.option("--scale", type=float, default=0.01, show_default=True,
              help="Size of the sample data (used only when the landing folder is empty).")
@yes_option
@wait_option
def demo(scale: float, yes: bool, wait: float) -> None:
    """Run the main job end to end: database, sample data, load, every layer with its tests.

    Idempotent: a second run loads nothing new and the build only refreshes.

    Example: runner demo
    """
    check_scale(scale, yes)
    settings = role_setup.as_transformer(ensure_server())
    click.echo(f"1/4 database: {settings.safe_dsn()}")
    landing = resolve_landing(None)
    if not landing.exists() or not any(landing.iterdir()):
        state = gen.generate(landing, scale=scale)
        click.echo(f"2/4 generated {state.order_lines:,} order lines in {landing}")
    else:
        click.echo(f"2/4 using the landing files in {landing}")
    with writer_lock(settings, "demo", wait):
        results = loader.load(settings, landing)
        failed = [r for r in results if r.status == "failed"]
        loaded = [r for r in results if r.status == "loaded"]
        click.echo(f"3/4 loaded {len(loaded)} new files ({sum(r.rows for r in loaded):,} rows), "
                   f"{len(failed)} failed")
        click.echo("4/4 building bronze → silver → gold with every test")
        outcome = builder.run_build(settings, [])
    if outcome.build_returncode != 0 or failed:
        raise WarehouseError("the demo build did not pass; see dbt's summary above.")
    if observe.status(settings).enabled:
        path = observe.report(settings, settings.project_dir / "report" / "elementary.html")
        click.echo(f"observability report: {path}")
    else:
        click.echo("observability is off: `runner observe install --from DIR` turns it on "
                   "(then `runner report`).")
    click.echo("\nDone. The gold schema holds the star schema; try:\n" + DEMO_QUERIES)


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
