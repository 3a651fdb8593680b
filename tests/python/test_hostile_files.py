"""Landing files written by a hostile or careless sender: each fails alone, says why, and
nothing it carries reaches SQL as code."""

from __future__ import annotations

import pytest

from conftest import query
from runner.core import load as loader

STORES_HEADER = "store_id,store_name,channel,city,country,opened_date"
GOOD_STORE = "S1,Good,store,Lyon,FR,2020-01-01\n"


@pytest.fixture
def landing(tmp_path):
    folder = tmp_path / "landing"
    folder.mkdir()
    return folder


def load(settings, folder):
    return {result.name: result for result in loader.load(settings, folder)}


def test_header_cannot_run_sql(database, landing, tmp_path):
    marker = tmp_path / "pwned"
    hostile = (f'a" text; copy (select 1) to program \'id > {marker}\'; '
               'alter table bronze.erp_stores add column if not exists "b')
    (landing / "erp__stores__2025-01-01.csv").write_text(
        f'{STORES_HEADER},"{hostile.replace(chr(34), chr(34) * 2)}"\nS1,A,store,Lyon,FR,2020-01-01,x\n')
    (landing / "erp__stores__2025-01-02.csv").write_text(f"{STORES_HEADER}\n{GOOD_STORE}")

    results = load(database, landing)

    assert not marker.exists()
    bad = results["erp__stores__2025-01-01.csv"]
    assert bad.status == "failed"
    assert bad.error.startswith("line 1: column name(s) at position 7 of the header")
    assert "are not allowed" in bad.error and "copy" not in bad.error
    assert results["erp__stores__2025-01-02.csv"].status == "loaded"
    columns = [row[0] for row in query(database, """
        select column_name from information_schema.columns
        where table_schema = 'bronze' and table_name = 'erp_stores'""")]
    assert not [c for c in columns if c not in (*loader.BASE_COLUMNS["erp_stores"], *loader.LINEAGE)]


def test_drifted_names_are_normalised_and_quoted(database, landing):
    (landing / "erp__stores__2025-02-01.csv").write_text(
        f"{STORES_HEADER}, Select ,Region_Code\nS2,B,store,Paris,FR,2020-01-01,x,EU\n")
    result = load(database, landing)["erp__stores__2025-02-01.csv"]
    assert result.status == "loaded", result.error
    assert result.drift == ["select", "region_code"]
    assert query(database, 'select "select", region_code from bronze.erp_stores where store_id = %s',
                 ("S2",)) == [("x", "EU")]


def test_lineage_columns_cannot_be_overwritten(database, landing):
    (landing / "erp__stores__2025-02-02.csv").write_text(
        f"{STORES_HEADER},_batch_date\nS3,C,store,Paris,FR,2020-01-01,1999-01-01\n")
    result = load(database, landing)["erp__stores__2025-02-02.csv"]
    assert result.status == "failed"
    assert "reserved" in result.error or "column" in result.error


def test_impossible_date_in_name_fails_alone(database, landing):
    (landing / "erp__stores__2025-02-30.csv").write_text(f"{STORES_HEADER}\n{GOOD_STORE}")
    (landing / "erp__stores__2025-03-01.csv").write_text(f"{STORES_HEADER}\nS4,D,store,Nice,FR,2020-01-01\n")
    results = load(database, landing)
    assert results["erp__stores__2025-02-30.csv"].status == "failed"
    assert "with a date that exists" in results["erp__stores__2025-02-30.csv"].error
    assert results["erp__stores__2025-03-01.csv"].status == "loaded"


def test_csv_cut_inside_its_last_field_fails(database, landing):
    (landing / "erp__stores__2025-03-02.csv").write_text(
        f"{STORES_HEADER}\nS5,E,store,Nice,FR,2020-01-01\nS6,F,store,Marseille,FR,2020-0")
    result = load(database, landing)["erp__stores__2025-03-02.csv"]
    assert result.status == "failed"
    assert "does not end with a newline" in result.error
    assert query(database, "select count(*) from bronze.erp_stores where store_id in ('S5', 'S6')") == [(0,)]


@pytest.mark.parametrize(("content", "expected"), [
    ('{"customer_id": "C1"}\n\n{"customer_id": "C2"}\n', "line 2: a blank line"),
    ('{"customer_id": "C1"}\n[1, 2]\n', "line 2: a JSON array, not an object"),
    ('"just text"\n', "line 1: a JSON string, not an object"),
])
def test_json_lines_must_be_objects(database, landing, content, expected):
    path = landing / "crm__customers__2025-04-01.jsonl"
    path.write_text(content)
    result = load(database, landing)[path.name]
    assert result.status == "failed"
    assert result.error.startswith(expected), result.error
    assert query(database, "select count(*) from bronze.crm_customers where _source_file = %s",
                 (path.name,)) == [(0,)]


def test_changed_redelivery_is_refused_and_recorded(database, landing):
    path = landing / "erp__stores__2025-05-01.csv"
    path.write_text(f"{STORES_HEADER}\nS7,G,store,Lille,FR,2020-01-01\n")
    assert load(database, landing)[path.name].status == "loaded"
    path.write_text(f"{STORES_HEADER}\nS7,G2,store,Lille,FR,2020-01-01\n")
    result = load(database, landing)[path.name]
    assert result.status == "failed"
    assert "refused" in result.error
    refusals = query(database, "select file_name, reason from bronze.load_refusals")
    assert refusals == [(path.name, "loaded before with other content")]
    assert query(database, "select store_name from bronze.erp_stores where store_id = 'S7'") == [("G",)]
