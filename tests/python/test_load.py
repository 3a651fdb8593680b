"""The bronze loader against a real database: counts, idempotence, bad files, drift."""

from __future__ import annotations

import shutil

import pytest

from conftest import query
from runner.core import generate as gen
from runner.core import load as loader

TABLE_OF = {f"{source}__{entity}": table for (source, entity), table in loader.TABLES.items()}


def rows_in_files(folder):
    """Data rows per bronze table, counted from the files themselves."""
    counts = {}
    for path in folder.iterdir():
        if path.name.startswith("_"):
            continue
        table = TABLE_OF[path.name.rsplit("__", 1)[0]]
        lines = path.read_text().count("\n")
        counts[table] = counts.get(table, 0) + lines - (path.suffix == ".csv")
    return counts


def bronze_counts(settings):
    return {
        table: query(settings, f"select count(*) from bronze.{table}")[0][0]
        for table in loader.TABLES.values()
    }


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    folder = tmp_path_factory.mktemp("landing")
    gen.generate(folder, seed=11, scale=0.01)
    return folder


@pytest.fixture(scope="module")
def loaded(database, landing):
    results = loader.load(database, landing)
    return database, results


def test_bronze_rows_equal_file_rows(loaded, landing):
    settings, results = loaded
    assert all(r.status == "loaded" for r in results)
    assert bronze_counts(settings) == rows_in_files(landing)
    logged = query(settings, "select sum(rows_loaded), count(*) from bronze.load_log where status = 'loaded'")
    assert logged[0] == (sum(rows_in_files(landing).values()), len(results))


def test_lineage_columns_are_filled(loaded):
    settings, _ = loaded
    row = query(settings, """
        select _source_file, _batch_date::text, _loaded_at is not null
        from bronze.erp_orders where order_id = '1'""")[0]
    assert row == ("erp__orders__2024-01-31.csv", "2024-01-31", True)


def test_reload_skips_everything(loaded, landing, run_cli):
    settings, _ = loaded
    before = bronze_counts(settings)
    result = run_cli("load", "--landing", str(landing))
    assert result.exit_code == 0, result.output
    assert "loaded 0 files (0 rows), skipped 97 already loaded, 0 failed" in result.output
    assert bronze_counts(settings) == before


def test_drift_is_kept(loaded):
    settings, results = loaded
    assert query(settings, "select count(*) from bronze.erp_orders where promo_code is not null")[0][0] > 0
    assert query(settings, "select count(*) from bronze.crm_customers where record ? 'loyalty_tier'")[0][0] > 0
    drift = query(settings, "select file_name from bronze.load_log where 'promo_code' = any(drift_columns)")
    assert ("erp__orders__2025-10-31.csv",) in drift


def test_bad_files_fail_alone(loaded, landing, tmp_path, run_cli):
    settings, _ = loaded
    folder = tmp_path / "landing"
    shutil.copytree(landing, folder)
    good = (folder / "erp__orders__2025-12-31.csv").read_text()
    (folder / "erp__orders__2026-01-01.csv").write_text(good[: len(good) // 2].rsplit(",", 1)[0] + "\n")
    (folder / "erp__stores__2026-01-02.csv").write_bytes(
        b"store_id,store_name,channel,city,country,opened_date\nS9,Caf\xe9,store,Paris,FR,2020-01-01\n")
    (folder / "crm__customers__2026-01-03.jsonl").write_text('{"customer_id": "CUST-1"}\n{"customer_id": \n')
    (folder / "erp__products__2026-01-04.csv").write_text("product_id,name\nP1,Soap\n")
    (folder / "erp__stores__2026-01-05.csv").write_text(
        "store_id,store_name,channel,city,country,opened_date\nS8,Good,store,Lyon,FR,2020-01-01\n")
    before = bronze_counts(settings)

    result = run_cli("load", "--landing", str(folder))

    assert result.exit_code == 1
    assert "loaded 1 files (1 rows), skipped 97 already loaded, 4 failed" in result.output
    errors = dict(query(settings, "select file_name, error from bronze.load_log where status = 'failed'"))
    assert errors["erp__orders__2026-01-01.csv"].startswith("line ")
    assert "missing data for column" in errors["erp__orders__2026-01-01.csv"]
    assert errors["erp__stores__2026-01-02.csv"].startswith("line 2: bytes that are not UTF-8 text")
    assert errors["crm__customers__2026-01-03.jsonl"].startswith("line 2: not valid JSON")
    assert errors["erp__products__2026-01-04.csv"].startswith("line 1: header lacks sku")
    after = bronze_counts(settings)
    assert after["erp_stores"] == before["erp_stores"] + 1  # only the good file
    assert {k: v for k, v in after.items() if k != "erp_stores"} == {
        k: v for k, v in before.items() if k != "erp_stores"}

    # Fixing a failed file and loading again works; the log keeps one row per file.
    (folder / "erp__products__2026-01-04.csv").write_text(
        "product_id,sku,product_name,category,subcategory,brand,unit_price,currency,updated_at\n"
        "P1,SKU-1,Soap,Household,Soap,Acme,1.00,GBP,2026-01-04 10:00:00\n")
    (folder / "erp__orders__2026-01-01.csv").unlink()
    (folder / "erp__stores__2026-01-02.csv").unlink()
    (folder / "crm__customers__2026-01-03.jsonl").unlink()
    assert run_cli("load", "--landing", str(folder)).exit_code == 0
    status = query(settings, "select status from bronze.load_log where file_name = 'erp__products__2026-01-04.csv'")
    assert status == [("loaded",)]


def test_changed_file_with_same_name_is_an_error(loaded, landing, tmp_path, run_cli):
    settings, _ = loaded
    folder = tmp_path / "landing"
    shutil.copytree(landing, folder)
    path = folder / "erp__stores__2024-01-31.csv"
    path.write_text(path.read_text() + "S0999,Extra,store,Leeds,UK,2024-01-01\n")
    before = bronze_counts(settings)
    result = run_cli("load", "--landing", str(folder))
    assert result.exit_code == 1
    assert "erp__stores__2024-01-31.csv: was loaded before with other content" in result.output
    assert bronze_counts(settings) == before


def test_status_lists_files(loaded, run_cli):
    result = run_cli("load", "--status")
    assert result.exit_code == 0
    assert "erp__order_lines__2025-12-31.csv" in result.output
    assert "promo_code" in result.output


def test_missing_landing_folder(run_cli, tmp_path, database):
    result = run_cli("load", "--landing", str(tmp_path / "nowhere"))
    assert result.exit_code == 1
    assert f"Error: landing folder {tmp_path / 'nowhere'} does not exist" in result.output


def test_killed_load_loads_the_file_once_on_rerun(loaded, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    settings, _ = loaded
    folder = tmp_path / "big"
    folder.mkdir()
    rows = 1_500_000
    with open(folder / "erp__order_lines__2026-03-01.csv", "w") as handle:
        handle.write("order_line_id,order_id,line_number,product_id,quantity,unit_price,discount_amount,updated_at\n")
        line = ",1,1,P00001,1,1.00,0.00,2026-03-01 10:00:00\n"
        handle.writelines(f"{n}{line}" for n in range(10_000_000, 10_000_000 + rows))
    before = query(settings, "select count(*) from bronze.erp_order_lines")[0][0]
    process = subprocess.Popen([sys.executable, "-m", "runner.cli", "load", "--landing", str(folder)],
                               env=dict(os.environ), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    copying = False
    while time.monotonic() < deadline and process.poll() is None:
        if query(settings, """select count(*) from pg_stat_activity where state = 'active'
                and query ilike 'copy bronze.%%erp_order_lines%%'""")[0][0]:
            copying = True
            break
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert copying, "the load finished before it could be interrupted"
    time.sleep(1)
    assert query(settings, "select count(*) from bronze.erp_order_lines")[0][0] == before
    assert query(settings, "select count(*) from bronze.load_log where file_name = %s and status = 'loaded'",
                 ("erp__order_lines__2026-03-01.csv",))[0][0] == 0

    assert loader.load(settings, folder)[0].status == "loaded"
    assert query(settings, "select count(*) from bronze.erp_order_lines")[0][0] == before + rows
    assert loader.load(settings, folder)[0].status == "skipped"
