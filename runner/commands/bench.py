"""`runner bench`: measured speed and how cost grows with data."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from runner.commands.build import ensure_server
from runner.core import bench as benchmark
from runner.errors import WarehouseError

READING_MARKER = "<!-- reading: kept by runner bench -->"


def parse_scales(text: str) -> list[float]:
    try:
        scales = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        scales = []
    if not scales or any(scale <= 0 for scale in scales):
        raise WarehouseError(f"--scales {text!r}: give positive numbers separated by commas, e.g. 0.1,1,5.")
    return scales


def _among(text: str, option: str, values: list[float], scales: str) -> tuple[float, ...]:
    chosen = tuple(parse_scales(text))
    if not set(chosen) <= set(values):
        raise WarehouseError(f"{option} {text} is not among --scales {scales}; pick some of those scales.")
    return chosen


@click.command()
@click.option("--scales", default="0.1,1", show_default=True, help="Comma-separated data scales.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the Markdown results here (e.g. BENCHMARKS.md); the reading below "
                   "the marker in an existing file is kept.")
@click.option("--observability-from", "mirror", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="Also measure what Elementary costs a full build, installing "
                                 "it from this mirror for the measurement only.")
@click.option("--observability-at", default=None,
              help="The scales (comma-separated) at which to measure Elementary's cost "
                   "(default: 1 when listed, else the largest scale).")
@click.option("--planner-hints-at", default=None,
              help="The scales (comma-separated) at which to A/B the planner hints "
                   "(macros/planner/planner_hint.sql): five more full-refresh builds each.")
@click.option("--slim-ci-at", default=None,
              help="The scales (comma-separated) at which to time `runner ci` of one-model "
                   "edits against a full-refresh `runner build` of the same data.")
@click.option("--citus-dsn", default=None, metavar="DSN",
              help="Also build on this Citus coordinator (a database named bench…, which is "
                   "emptied first) and compare with the embedded server.")
@click.option("--citus-at", default=None,
              help="The scales (comma-separated) to build on the cluster (default: 1 when "
                   "listed, else the largest scale).")
def bench(scales: str, out: Path | None, mirror: Path | None, observability_at: str | None,
          planner_hints_at: str | None, slim_ci_at: str | None, citus_dsn: str | None,
          citus_at: str | None) -> None:
    """Measure generation, load, build, incremental day, backup, restore and queries.

    Each scale runs in a fresh database; figures are ratios against plain tools
    measured in the same run.

    Example: runner bench --scales 0.1,1 --planner-hints-at 1 --out BENCHMARKS.md
    """
    values = parse_scales(scales)
    default_at = (1.0 if 1.0 in values else max(values),)

    def at(text: str | None, option: str, default: tuple[float, ...]) -> tuple[float, ...]:
        return _among(text, option, values, scales) if text else default

    observed = at(observability_at, "--observability-at", default_at)
    hints_at = at(planner_hints_at, "--planner-hints-at", ())
    on_cluster = at(citus_at, "--citus-at", default_at)
    slim_at = at(slim_ci_at, "--slim-ci-at", ())
    cluster = benchmark.citus_settings(citus_dsn) if citus_dsn else None
    settings = ensure_server()
    results = benchmark.run(settings, values, lambda message: click.echo(f"bench: {message}", err=True),
                            mirror, observed, hints_at, cluster, on_cluster, slim_at)
    command = "runner bench " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["bench"] else f"runner bench --scales {scales}"
    table = benchmark.markdown(results, command, settings)
    if out:
        reading = ""
        if out.exists() and READING_MARKER in out.read_text():
            reading = out.read_text().split(READING_MARKER, 1)[1]
        out.write_text("# Benchmarks\n\n" + table + "\n" + READING_MARKER + reading)
        click.echo(f"results written to {out}")
    click.echo(table)


COMMANDS = [bench]
