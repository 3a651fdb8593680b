"""Smoke test of `runner bench`: every figure is there. No assertion on time."""

from __future__ import annotations

import os
import subprocess
import sys


def test_bench_reports_every_figure(warehouse_env, tmp_path):
    out = tmp_path / "BENCH.md"
    result = subprocess.run(
        [sys.executable, "-m", "runner.cli", "bench", "--scales", "0.01", "--planner-hints-at", "0.01",
         "--slim-ci-at", "0.01", "--out", str(out)],
        env=dict(os.environ), capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = out.read_text()
    for figure in (
        "Command: `runner bench --scales 0.01 --planner-hints-at 0.01 --slim-ci-at 0.01 --out", "Machine: ", "Versions: runner",
        "| order lines |", "| generate (s) |", "| load (s) / rows per s |",
        "| loader COPY ÷ plain COPY (ERP files) |", "| full build (s) |",
        "of which snapshot replay / silver / gold / tests", "| generate + load + full build (s) |",
        "| incremental day: next-day + load + build (s) |", "| incremental ÷ full build |",
        "| a day with one late batch ÷ a normal day: runner build (s), ratio |",
        "| backup (s) / ÷ plain pg_dump -Fd -j2 -Z1 |", "| restore (s) / ÷ plain pg_restore -j2 |",
        "'revenue by region and month'", "'top products'", "'cohort retention'",
        "| size bronze / silver / snapshots / gold (MiB) |", "| peak memory, runner or a child (MiB) |",
    ):
        assert figure in text, figure
    table_rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert all("nan" not in row and "| |" not in row for row in table_rows)
    # Each target set for every scale is marked met or missed in the row's cell.
    assert table_rows[0].endswith("| target |")
    for label in ("load (s) / rows per s", "loader COPY", "backup (s)", "restore (s)",
                  "a day with one late batch"):
        marked = next(row for row in table_rows if row.startswith(f"| {label}"))
        assert marked.split("|")[2].strip().endswith(("✓", "✗ missed")), marked
    # Each planner hint's A/B found the models that carry it.
    for intent in ("one_pass_sorted_aggregate", "sequential_reads", "cheap_parallel_rows"):
        hinted = next(row for row in table_rows if f"planner hint `{intent}`" in row)
        assert "(0 models)" not in hinted and " / " in hinted, hinted
    # The build's SQL was replayed without dbt (every model and test) and the floor measured.
    replay = next(row for row in table_rows if "replayed without dbt" in row)
    build_s, replay_s = (float(part) for part in replay.split("|")[2].split(",")[0].split("/"))
    assert build_s > 0 and replay_s > 0, replay
    # The CPU the full build and the day used, and the least wall time that work allows.
    for label in ("full build's CPU work", "incremental day's CPU work"):
        used = next(row for row in table_rows if row.startswith(f"| {label}"))
        busy_s, share, least_s = (part.strip() for part in used.split("|")[2].split(";"))
        assert float(busy_s) > 0 and 0 < int(share.rstrip("%")) <= 100, used
        assert abs(float(least_s) - float(busy_s) / (os.cpu_count() or 1)) <= 0.1, used
    floor = next(row for row in table_rows if row.startswith("| floor: one statement"))
    assert float(floor.split("|")[2].split(";")[0]) > 0, floor
    # The slowest nodes and every gold table's size per row are listed.
    assert "### Scale 0.01: the full build's ten slowest nodes" in text
    assert len([row for row in table_rows if row.endswith("% |")]) == 10
    for table in ("gold.fct_order_lines", "gold.dim_customers", "silver.stg_erp__orders"):
        sized = next(row for row in table_rows if row.startswith(f"| {table} |"))
        assert int(sized.split("|")[2].replace(",", "")) > 0, sized
    # `runner ci` rebuilt fewer models than the full build it is compared with.
    for model in ("stg_erp__products", "stg_erp__order_lines"):
        slim = next(row for row in table_rows if f"`runner ci` of an edit to {model}" in row)
        cell = slim.split("|")[2]
        assert 0 < int(cell.split("(")[1].split(")")[0]) < int(cell.split("(")[2].split(")")[0]), slim
    # The full build replayed the batches into the snapshots, and the split shows its time.
    split = next(row for row in table_rows if "of which snapshot replay" in row)
    assert float(split.split("|")[2].split("/")[0]) > 0, split


def test_bench_refuses_a_citus_database_it_may_not_empty(run_cli):
    """The cluster's database is emptied by the benchmark: only one named bench… is taken."""
    result = run_cli("bench", "--scales", "0.01",
                     "--citus-dsn", "postgresql://etl@127.0.0.1:1/warehouse")
    assert result.exit_code == 1
    assert "give it one whose name starts with `bench`" in result.output
