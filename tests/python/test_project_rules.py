"""Project rules a reviewer holds us to, checked on dbt's own manifest.

Documentation gate: every silver and gold model is described, every gold column is
described and typed, every model has a primary-key test or an enforced primary-key
constraint, every source has freshness.
Each check is also shown to fail on a manifest with the defect planted in it.
"""

from __future__ import annotations

import copy
import json
import subprocess

import pytest

from conftest import PROJECT_DIR
from runner.core import dbt
from runner.settings import load_settings

LAYERS = ("staging", "intermediate", "marts")


@pytest.fixture(scope="module")
def manifest(warehouse_env):
    settings = load_settings()
    result = subprocess.run(
        [dbt.dbt_executable(), "parse"], cwd=PROJECT_DIR, env=dbt.dbt_environment(settings),
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    return json.loads((PROJECT_DIR / "target" / "manifest.json").read_text())


def models(manifest):
    return [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]


def undocumented(manifest) -> list[str]:
    problems = []
    for node in models(manifest):
        if node["fqn"][1] in LAYERS and not node["description"].strip():
            problems.append(f"model {node['name']} has no description")
        if node["fqn"][1] == "marts":
            for column in node["columns"].values():
                if not column["description"].strip():
                    problems.append(f"{node['name']}.{column['name']} has no description")
    for source in manifest["sources"].values():
        if not source["description"].strip() or not source["source_description"].strip():
            problems.append(f"source {source['source_name']}.{source['name']} has no description")
    return problems


def untested(manifest) -> list[str]:
    tested = {}  # model -> {(test name, column)}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "test":
            continue
        name = node["test_metadata"]["name"] if node.get("test_metadata") else node["name"]
        for parent in node["depends_on"]["nodes"]:
            tested.setdefault(parent, set()).add((name, node.get("column_name")))
    problems = []
    for node in models(manifest):
        if node["name"].startswith("base_"):
            continue  # base views: every row, keys may be missing by design (tested via stg)
        if node["config"]["materialized"] == "snapshot_replay":
            continue  # writes no relation of its own: the snapshots it writes are tested
        tests = tested.get(node["unique_id"], set())
        keyed = any(
            name == "unique"
            and (("not_null", column) in tests or enforced_constraint(node, "not_null", column))
            for name, column in tests)
        if not (keyed or any(name == "unique_combination" for name, _ in tests)
                or enforced_constraint(node, "primary_key")):
            problems.append(f"{node['name']} has no primary-key test")
    return problems


def enforced_constraint(node, kind: str, column: str | None = None) -> bool:
    """A constraint of this kind (on this column) in an enforced contract: PostgreSQL itself
    rejects a duplicate or null key, so a unique/not_null test beside it could never fail."""
    if not node["config"]["contract"]["enforced"]:
        return False
    declared = [(c, c.get("columns", [])) for c in node.get("constraints", [])]
    declared += [(c, [col["name"]]) for col in node["columns"].values()
                 for c in col.get("constraints", [])]
    return any(c["type"] == kind and (column is None or column in columns)
               for c, columns in declared)


def uncontracted(manifest) -> list[str]:
    problems = []
    for node in models(manifest):
        if node["fqn"][1] != "marts":
            continue
        if not node["config"]["contract"]["enforced"]:
            problems.append(f"{node['name']} has no enforced contract")
        if node["access"] != "public":
            problems.append(f"{node['name']} is not public")
        problems += [f"{node['name']}.{c['name']} has no data_type"
                     for c in node["columns"].values() if not c.get("data_type")]
    return problems


def stale_sources(manifest) -> list[str]:
    problems = []
    for source in manifest["sources"].values():
        freshness = source.get("freshness") or {}
        loaded_at = source.get("loaded_at_field") or source.get("loaded_at_query")
        if not (freshness.get("error_after") or {}).get("count") or not loaded_at:
            problems.append(f"source {source['name']} has no freshness")
    return problems


def unowned(manifest) -> list[str]:
    return [f"{node['name']} has no meta.owner" for node in manifest["nodes"].values()
            if node["resource_type"] in ("model", "snapshot") and node["package_name"] == "warehouse"
            and not (node["config"].get("meta") or {}).get("owner")]


def undescribed_macros(manifest) -> list[str]:
    return [f"macro {macro['name']} has no description" for macro in manifest["macros"].values()
            if macro["package_name"] == "warehouse" and not macro["description"].strip()]


def without_example(manifest) -> list[str]:
    return [f"{node['name']} has no example query" for node in models(manifest)
            if node["fqn"][1] == "marts" and "Example: `select " not in node["description"]]


def unexplained_tests(manifest) -> list[str]:
    return [f"test {node['name']} has no description" for node in manifest["nodes"].values()
            if node["resource_type"] == "test" and node["package_name"] == "warehouse"
            and not node["description"].strip()]


# Where each kind of model lives (README, "Project layout"): its prefix and its folder.
LAYOUT = {"base_": ("staging", "*", "base"), "stg_": ("staging", "*"), "int_": ("intermediate", "*"),
          "dim_": ("marts", "core"), "fct_": ("marts", "core"), "agg_": ("marts", "*"),
          "rpt_": ("marts", "*")}


def misplaced(manifest) -> list[str]:
    problems = []
    for node in models(manifest):
        folders = tuple(node["fqn"][1:-1])
        prefix = next((p for p in LAYOUT if node["name"].startswith(p)), None)
        expected = LAYOUT.get(prefix)
        if expected is None or len(folders) != len(expected) or any(
                want not in ("*", got) for want, got in zip(expected, folders)):
            problems.append(f"{node['name']} in models/{'/'.join(folders)}: the layout puts "
                            + (f"{prefix} models in models/{'/'.join(expected)}" if expected
                               else f"every model under one of the prefixes {', '.join(LAYOUT)}"))
    return problems


CHECKS = [undocumented, untested, uncontracted, stale_sources, unowned, unexplained_tests,
          without_example, undescribed_macros, misplaced]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_project_passes(manifest, check):
    assert check(manifest) == []


def test_gate_catches_a_macro_without_description(manifest):
    broken = copy.deepcopy(manifest)
    broken["macros"]["macro.warehouse.test_within_range"]["description"] = ""
    assert undescribed_macros(broken) == ["macro test_within_range has no description"]


def test_gate_catches_a_gold_model_without_an_example(manifest):
    broken = copy.deepcopy(manifest)
    node = next(n for n in models(broken) if n["name"] == "fct_orders")
    node["description"] = node["description"].split("Example:")[0]
    assert without_example(broken) == ["fct_orders has no example query"]


def test_gate_catches_a_test_without_description(manifest):
    broken = copy.deepcopy(manifest)
    node = next(n for n in broken["nodes"].values() if n["resource_type"] == "test")
    node["description"] = ""
    assert unexplained_tests(broken) == [f"test {node['name']} has no description"]


def test_gate_catches_a_misplaced_mart(manifest):
    broken = copy.deepcopy(manifest)
    node = next(n for n in models(broken) if n["name"] == "agg_sales_daily")
    node["fqn"] = ["warehouse", "staging", "erp", "agg_sales_daily"]
    assert misplaced(broken) == ["agg_sales_daily in models/staging/erp: the layout puts agg_ "
                                 "models in models/marts/*"]


def test_gate_catches_a_missing_owner(manifest):
    broken = copy.deepcopy(manifest)
    node = next(n for n in models(broken) if n["name"] == "fct_orders")
    node["config"]["meta"].pop("owner")
    assert unowned(broken) == ["fct_orders has no meta.owner"]


def test_gate_catches_a_missing_model_description(manifest):
    broken = copy.deepcopy(manifest)
    node = next(n for n in models(broken) if n["name"] == "fct_orders")
    node["description"] = ""
    next(iter(node["columns"].values()))["description"] = " "
    assert len(undocumented(broken)) == 2


def test_gate_catches_a_missing_primary_key_test(manifest):
    broken = copy.deepcopy(manifest)
    for name, key in (("stg_erp__orders", "order_id"), ("stg_erp__order_lines", "order_line_id")):
        node = next(n for n in models(broken) if n["name"] == name)
        node["columns"][key]["constraints"] = []
    assert sorted(untested(broken)) == ["stg_erp__order_lines has no primary-key test",
                                        "stg_erp__orders has no primary-key test"]


def test_gate_catches_a_missing_primary_key_constraint(manifest):
    broken = copy.deepcopy(manifest)
    dim = next(n for n in models(broken) if n["name"] == "dim_stores")
    dim["columns"]["store_key"]["constraints"] = []
    agg = next(n for n in models(broken) if n["name"] == "agg_sales_daily")
    agg["config"]["contract"]["enforced"] = False  # an unenforced key is no key
    assert sorted(untested(broken)) == [
        "agg_sales_daily has no primary-key test", "dim_stores has no primary-key test"]


def test_gate_catches_missing_contract_and_freshness(manifest):
    broken = copy.deepcopy(manifest)
    next(n for n in models(broken) if n["name"] == "dim_date")["config"]["contract"]["enforced"] = False
    sources = iter(broken["sources"].values())
    next(sources)["freshness"] = None
    next(sources)["loaded_at_query"] = None
    assert uncontracted(broken) == ["dim_date has no enforced contract"]
    assert len(stale_sources(broken)) == 2


def test_docs_generate_succeeds(manifest):
    result = subprocess.run(
        [dbt.dbt_executable(), "docs", "generate", "--no-compile"], cwd=PROJECT_DIR,
        env=dbt.dbt_environment(load_settings()), capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert (PROJECT_DIR / "target" / "index.html").exists()
