"""What `runner build` prints: one line per phase and a summary, dbt's own lines in
logs/build.log (live with --verbose), and a failing node's error in full."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import PROJECT_DIR
from runner.core import generate as gen
from runner.core import load as loader

BUILD_LOG = PROJECT_DIR / "logs" / "build.log"


@pytest.fixture(scope="module")
def loaded(database, tmp_path_factory):
    landing = tmp_path_factory.mktemp("progress") / "landing"
    gen.generate(landing, seed=5, scale=0.01)
    loader.load(database, landing)
    return database


def runner(settings, *args):
    return subprocess.run([sys.executable, "-m", "runner.cli", "build", "--skip-freshness", *args],
                          env={**os.environ, "WAREHOUSE_DB": settings.dbname},
                          capture_output=True, text=True)


def test_build_prints_phases_and_a_summary_and_logs_dbt(loaded):
    result = runner(loaded)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    phases = [line.split()[0] for line in lines if line.startswith("  ") and line.split()]
    assert phases[:4] == ["snapshots", "silver", "gold", "tests"], lines
    assert phases[-2:] == ["rows", "log"], lines
    assert lines[-1].startswith("done in "), lines
    assert len(lines) < 20, lines
    tests = next(line for line in lines if line.startswith("  tests"))
    assert " passed, " in tests and " failed" in tests
    rows = next(line for line in lines if line.startswith("  rows"))
    # Planner statistics, so labelled as estimates.
    assert rows.split()[1] == "about" and rows.endswith(" (planner estimates)"), rows
    gold_rows = int(rows.split("gold ")[1].split()[0].replace(",", ""))
    assert gold_rows > 1000, rows
    # dbt's own lines are in the log, not on the screen.
    assert "START sql" not in result.stdout
    # Read leniently: once in CI the log held one byte that is not UTF-8 (not reproduced).
    assert "START sql incremental model" in BUILD_LOG.read_text(errors="replace")


def test_verbose_shows_dbt_live(loaded):
    result = runner(loaded, "--verbose", "--select", "dim_date")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "START sql table model gold.dim_date" in result.stdout
    assert "  gold       1 models built" in result.stdout


def test_a_failing_model_is_printed_in_full(loaded):
    result = runner(loaded, "--select", "dim_date", "--vars", "{fiscal_year_start_month: no_such_column}")
    assert result.returncode == 1
    assert "Database Error in model dim_date" in result.stderr, result.stderr
    assert 'column "no_such_column" does not exist' in result.stderr
    assert "gold       0 models built, 1 failed" in result.stdout, result.stdout
    assert "dbt build failed" in result.stderr


def test_a_refused_full_refresh_is_said_once_and_not_blamed_on_an_option(warehouse_env):
    """The on-run-start refusal (months retired from bronze) stops dbt before it builds."""
    from conftest import empty_database, query

    settings = empty_database(warehouse_env, "progress_refused")
    query(settings, """
        create schema bronze;
        create table bronze.retired_partitions (partition_name text, parent_table text);
        insert into bronze.retired_partitions values ('erp_orders_p202401', 'erp_orders')""")
    result = runner(settings, "--full-refresh", "--select", "dim_date")
    assert result.returncode == 1, result.stdout + result.stderr
    refusal = "a full refresh would drop from gold the months retired from bronze"
    assert result.stderr.count(refusal) == 1, result.stderr
    assert "bad option" not in result.stderr
    assert "Nothing was built by this run" in result.stderr
