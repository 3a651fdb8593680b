"""`runner ci`: a slim build of a change against production, with a data diff."""

from __future__ import annotations

import time
from pathlib import Path

import click

from runner.commands.build import ensure_server
from runner.core import ci
from runner.core import roles as role_setup
from runner.errors import WarehouseError
from runner.settings import output_file


@click.command(name="ci")
@click.option("--change-id", default="local", show_default=True,
              help="Names the change's schemas ci_<id>_silver, ci_<id>_gold, …: the pull "
                   "request number in CI.")
@click.option("--state", "state", type=click.Path(file_okay=False, path_type=Path),
              help="Folder with production's manifest.json (default: the one `runner build` "
                   "keeps in WAREHOUSE_HOME/state/<database>/).")
@click.option("--keep", is_flag=True, help="Keep the CI schemas afterwards to inspect them.")
@click.option("--summary", "summary_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the Markdown diff summary (default target/ci/data-diff.md).")
@click.option("--diff-rows", type=click.IntRange(min=1), default=ci.DEFAULT_DIFF_ROWS,
              show_default=True,
              help="Past this many rows a model's keys and values are compared on a sample.")
def ci_command(change_id: str, state: Path | None, keep: bool, summary_path: Path | None,
               diff_rows: int) -> None:
    """Build and test what the working copy changed, reading the rest from production.

    Runs `dbt build --select state:modified+ --defer --state DIR` in schemas of the
    change's own (ci_<id>_*, never granted to analysts), compares every rebuilt silver
    and gold model with production (rows, keys added and removed, values changed per
    column), prints that as Markdown and writes it to a file, then drops the schemas.
    Exits non-zero when a model or test failed; the diff is written either way.

    Example: runner ci --change-id 42 --state prod-artifacts/
    """
    started = time.perf_counter()
    if summary_path is not None:  # checked before the build, not when it has run
        output_file(summary_path, "--summary")
    settings = role_setup.as_transformer(ensure_server())
    outcome = ci.run_ci(settings, change_id=change_id, state=state, keep=keep,
                        summary_path=summary_path, diff_rows=diff_rows)
    click.echo(outcome.summary)
    click.echo(f"summary written to {outcome.summary_path}")
    if keep:
        click.echo(f"schemas kept: {outcome.prefix}_* (drop them with another run "
                   "without --keep, or `drop schema … cascade`)")
    else:
        click.echo(f"dropped {len(outcome.dropped)} CI schema(s)")
    if outcome.returncode != 0:
        raise WarehouseError(
            f"the slim build failed (dbt exit code {outcome.returncode}): the failing models "
            "or tests are printed above by dbt. Fix them and run `runner ci` again."
        )
    click.echo(f"done in {time.perf_counter() - started:.0f} s")


COMMANDS = [ci_command]
