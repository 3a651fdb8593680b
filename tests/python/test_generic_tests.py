"""Each of our generic dbt tests passes on good data and fails on bad data.

A check that cannot fail is a defect, so every test in tests/dbt/generic/ runs twice in
a small dbt project (tests/python/fixtures/generic_tests): on a good seed it must pass,
on a bad one it must fail. Real dbt, real PostgreSQL.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import PROJECT_DIR, query
from runner.core import dbt
from runner.core import embedded

FIXTURE = Path(__file__).parent / "fixtures" / "generic_tests"
GENERIC = PROJECT_DIR / "tests" / "dbt" / "generic"
# The contract macro and the macros it calls (planner hints, the Citus distribution column).
CONTRACT_MACROS = [PROJECT_DIR / "macros" / folder for folder in ("contracts", "planner", "citus")]
TESTS = sorted(path.stem for path in GENERIC.glob("*.sql"))


@pytest.fixture(scope="module")
def results(database, tmp_path_factory):
    project = tmp_path_factory.mktemp("proof")
    shutil.copytree(FIXTURE, project, dirs_exist_ok=True)
    shutil.copytree(GENERIC, project / "tests" / "generic")
    for folder in CONTRACT_MACROS:
        shutil.copytree(folder, project / "macros" / folder.name)
    conn = embedded.connect(database)
    with conn, conn.cursor() as cur:
        cur.execute("create schema if not exists public_audit")
        cur.execute("""create table public_audit.row_count_history (
            relation_name text, row_count bigint, invocation_id text,
            recorded_at timestamptz default now())""")
        cur.execute("""insert into public_audit.row_count_history (relation_name, row_count, invocation_id)
            values ('amounts_good', 4, 'x'), ('amounts_bad', 10, 'x')""")
    conn.close()
    completed = subprocess.run(
        [dbt.dbt_executable(), "build", "--project-dir", str(project)],
        cwd=project, env=dbt.dbt_environment(database), capture_output=True, text=True,
    )
    run = json.loads((project / "target" / "run_results.json").read_text())
    statuses = {}
    for result in run["results"]:
        name = result["unique_id"].split(".")[2]
        statuses[name] = result["status"]
        statuses[f"{name}:message"] = result["message"]
    assert statuses, completed.stdout[-3000:]
    return statuses


def test_every_generic_test_is_covered():
    text = (FIXTURE / "models" / "_proof.yml").read_text()
    for test_name in TESTS:
        assert f"name: {test_name}__good" in text and f"name: {test_name}__bad" in text


@pytest.mark.parametrize("test_name", TESTS)
def test_passes_on_good_data(results, test_name):
    assert results[f"{test_name}__good"] == "pass"


@pytest.mark.parametrize("test_name", TESTS)
def test_fails_on_bad_data(results, test_name):
    assert results[f"{test_name}__bad"] == "fail"


def test_contracted_table_gets_its_types_and_constraints(database, results):
    """macros/contracts/create_table_as.sql builds a contracted table with `create table as`
    and adds the declared constraints after: the same table dbt's own macro would make."""
    assert results["contracted_good"] == "success", results["contracted_good:message"]
    columns = query(database, """select column_name, data_type, numeric_precision,
            numeric_scale, is_nullable from information_schema.columns
        where table_name = 'contracted_good' order by ordinal_position""")
    assert columns == [("id", "integer", 32, 0, "NO"), ("amount", "numeric", 18, 2, "NO"),
                       ("category", "text", None, None, "YES"),
                       ("email", "text", None, None, "YES")]
    constraints = query(database, """select contype, pg_get_constraintdef(oid)
        from pg_constraint where conrelid = 'public.contracted_good'::regclass
            and contype in ('p', 'u', 'c') order by 1, 2""")
    assert constraints == [("c", "CHECK ((amount >= (0)::numeric))"),
                           ("c", "CHECK ((category <> ''::text))"),
                           ("p", "PRIMARY KEY (id)"), ("u", "UNIQUE (email)")]


def test_contracted_table_rejects_a_row_breaking_a_constraint(database, results):
    assert results["contracted_bad"] == "error"
    assert "violated by some row" in results["contracted_bad:message"]
    assert query(database, "select to_regclass('public.contracted_bad')") == [(None,)]
