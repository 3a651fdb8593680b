"""`runner ci`: a slim build of a changed copy of the project against a built production
sample, its data diff, the CI schemas' lifetime and their invisibility to analysts."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg2
import pytest

from conftest import PROJECT_DIR, built_sample, copy_project, query
from runner.core import ci

EDITED = "stg_erp__products"
EDITED_PATH = Path("models/staging/erp/stg_erp__products.sql")


@pytest.fixture(scope="module")
def production(database, tmp_path_factory):
    """A built production sample (scale 0.01) whose build kept its manifest, and the
    roles of `runner db roles` (the CI runs as the transformer; the analyst must not see)."""
    from runner.core import roles

    made = {role.kind: role.name for role in roles.ensure_roles(database)}
    built_sample(database, tmp_path_factory.mktemp("landing"))
    yield database, made
    (database.home / "roles.json").unlink(missing_ok=True)


def scratch_copy(tmp_path: Path, edit) -> Path:
    """A copy of the project with ``edit(text)`` applied to the edited model's SQL."""
    project = copy_project(PROJECT_DIR, tmp_path / "project", "dbt_packages", "profiles.yml")
    path = project / EDITED_PATH
    path.write_text(edit(path.read_text()))
    return project


def ci_schemas(settings, prefix):
    return [row[0] for row in query(settings, "select nspname from pg_namespace where "
                                              "nspname like %s order by 1", (prefix + "%",))]


def descendants(manifest: dict, unique_id: str) -> set[str]:
    """Every model downstream of ``unique_id`` in production's graph (through any node)."""
    found, todo = set(), [unique_id]
    while todo:
        for child in manifest["child_map"].get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return {uid for uid in found if uid.startswith("model.")}


def as_analyst(settings, statement):
    stored = json.loads((settings.home / "roles.json").read_text())
    conn = psycopg2.connect(**{**settings.connect_kwargs(), "user": stored["names"]["analyst"],
                               "password": stored["analyst"]})
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall()
    finally:
        conn.close()


def test_whitespace_edit_rebuilds_it_and_its_descendants_and_changes_nothing(
        production, tmp_path, run_cli):
    settings, _ = production
    project = scratch_copy(tmp_path, lambda text: text.replace("\n\n", "\n\n\n") + "\n\n")
    prefix = "ci_whitespace"
    try:
        result = run_cli("ci", "--change-id", "whitespace", "--keep",
                         env={"WAREHOUSE_PROJECT_DIR": str(project)})
        assert result.exit_code == 0, result.output + result.stderr

        manifest = json.loads(ci.production_state_dir(settings).joinpath(
            "manifest.json").read_text())
        edited = f"model.warehouse.{EDITED}"
        expected = {edited} | descendants(manifest, edited)
        assert len(expected) > 1  # the edited model feeds others: the count means something
        run = json.loads((project / "target/ci/run_results.json").read_text())["results"]
        built = {entry["unique_id"] for entry in run
                 if entry["unique_id"].startswith("model.") and entry["status"] == "success"}
        assert built == expected

        # Nothing else was copied into the CI schemas: the rest is read from production.
        tables = {f"model.warehouse.{row[0]}" for row in query(settings, """
            select table_name from information_schema.tables
            where table_schema in (%s, %s)""", (f"{prefix}_silver", f"{prefix}_gold"))}
        assert tables == expected
        children = [entry for entry in run if entry["unique_id"] in expected - {edited}]
        assert any('"silver"."base_erp__products"' in entry["compiled_code"]
                   for entry in children)
        assert all(f'"{prefix}_silver"."{EDITED}"' in entry["compiled_code"]
                   for entry in children
                   if edited in manifest["parent_map"][entry["unique_id"]])

        summary = (project / "target/ci/data-diff.md").read_text()
        assert summary in result.output
        assert f"| `silver.{EDITED}` (edited) | " in summary
        rows = [line for line in summary.splitlines() if line.startswith("| `")]
        assert len(rows) == len([uid for uid in expected
                                 if manifest["nodes"][uid]["config"]["schema"]
                                 in ("silver", "gold")])
        assert all(line.endswith("| no change |") for line in rows), summary

        # While they exist, the analyst can read production's table but not the CI copy.
        assert as_analyst(settings, "select count(*) from gold.rpt_data_quality_batches")
        for schema in (f"{prefix}_silver", f"{prefix}_gold"):
            table = next(uid.split(".")[-1] for uid in expected
                         if manifest["nodes"][uid]["config"]["schema"] == schema.split("_")[-1])
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                as_analyst(settings, f'select count(*) from "{schema}"."{table}"')
    finally:
        ci.drop_schemas(settings, prefix, [])
    assert ci_schemas(settings, prefix) == []


def test_planted_edit_is_reported_by_the_diff_and_the_schemas_are_dropped(
        production, tmp_path, run_cli):
    settings, _ = production
    dropped = query(settings, f"select min(product_id) from silver.{EDITED}")[0][0]
    rounded = query(settings, f"""select count(*) from silver.{EDITED}
                                  where round(unit_price_amount, 0) <> unit_price_amount
                                      and product_id <> %s""", (dropped,))[0][0]
    total = query(settings, f"select count(*) from silver.{EDITED}")[0][0]
    assert rounded > 0

    def plant(text):
        assert "        unit_price_amount,\n" in text and "    from latest\n" in text
        return (text.replace("        unit_price_amount,\n",
                             "        round(unit_price_amount, 0) as unit_price_amount,\n")
                    .replace("    from latest\n", f"    from latest\n    where product_id <> '{dropped}'\n"))

    project = scratch_copy(tmp_path, plant)
    result = run_cli("ci", "--change-id", "planted", "--summary", str(tmp_path / "diff.md"),
                     env={"WAREHOUSE_PROJECT_DIR": str(project)})
    summary = (tmp_path / "diff.md").read_text()
    assert summary in result.output
    # Order lines of the dropped product now point at nothing: the tests that run on
    # production's order lines against the change catch it, and the command fails.
    assert result.exit_code == 1
    assert "the slim build failed" in result.stderr
    assert (f"| `silver.{EDITED}` (edited) | {total:,} → {total - 1:,} | 0 | 1 | "
            f"unit_price_amount {rounded:,} |") in summary
    assert ci_schemas(settings, "ci_planted") == []


def test_without_production_artifacts_it_says_where_to_get_them(database, tmp_path,
                                                                 run_cli):
    result = run_cli("ci", "--state", str(tmp_path))
    assert result.exit_code == 1
    assert f"no manifest.json in {tmp_path.resolve()}" in result.stderr
    assert "runner build" in result.stderr


@pytest.mark.parametrize("change_id", ["42; drop schema gold", "PR-7", "", "x" * 41])
def test_a_change_id_that_cannot_name_a_schema_is_refused(database, run_cli, change_id):
    result = run_cli("ci", "--change-id", change_id)
    assert result.exit_code == 1
    assert "cannot name a schema" in result.stderr


@pytest.mark.parametrize("template", sorted((PROJECT_DIR / "deploy" / "ci").glob("*.yml")),
                         ids=lambda path: path.name)
def test_the_ci_templates_call_runner_ci_with_options_it_has(template):
    import re
    import shlex

    import yaml

    from runner.cli import cli

    yaml.safe_load(template.read_text())
    lines = [line.strip().removeprefix("- ").removeprefix("run: ")
             for line in template.read_text().splitlines()
             if "runner ci " in line and not line.lstrip().startswith("#")]
    assert lines
    for line in lines:
        args = shlex.split(re.sub(r"\$\{\{[^}]*\}\}|\$\w+", "42", line))
        assert args[:2] == ["runner", "ci"]
        # Click refuses an option the command does not have.
        cli.commands["ci"].make_context("ci", args[2:])


def _node(schema, table, key=None):
    columns = {"id": {"constraints": [{"type": "primary_key"}]}} if key else {}
    return {"unique_id": f"model.warehouse.{table}", "name": table, "schema": schema,
            "alias": table, "columns": columns, "checksum": {"checksum": "x"}}


def test_the_diff_samples_big_tables_on_the_same_keys_and_compares_keyless_rows(database):
    query(database, """
        create schema diff_prod;
        create schema diff_ci;
        create table diff_prod.keyed as
            select id, id * 2 as amount, json_build_object('id', id) as detail
            from generate_series(1, 1000) as id;
        create table diff_ci.keyed as
            select id, id * 2 + 1 as amount, json_build_object('id', id) as detail
            from generate_series(1, 1000) as id;
        create table diff_prod.keyless as select id from generate_series(1, 10) as id;
        create table diff_ci.keyless as select id from generate_series(2, 11) as id;""")
    try:
        whole = ci.diff_model(database, _node("diff_ci", "keyed", key=True),
                              _node("diff_prod", "keyed"), 10_000)
        assert (whole.sample, whole.key, whole.changed_values) == (None, ["id"], {"amount": 1000})
        sampled = ci.diff_model(database, _node("diff_ci", "keyed", key=True),
                                _node("diff_prod", "keyed"), 100)
        assert sampled.sample == 10
        assert (sampled.rows_production, sampled.rows_ci) == (1000, 1000)  # exact
        # Every key changed: a sample of the same keys on both sides finds only changes.
        assert (sampled.keys_added, sampled.keys_removed) == (0, 0)
        assert 40 < sampled.changed_values["amount"] < 200
        assert "detail" not in sampled.changed_values
        summary = ci.render_summary("ci_t", {}, {}, [sampled], 100)
        assert "compared on 1 in 10 keys" in summary

        keyless = ci.diff_model(database, _node("diff_ci", "keyless"),
                                _node("diff_prod", "keyless"), 10_000)
        assert (keyless.key, keyless.rows_only_production, keyless.rows_only_ci) == ([], 1, 1)
        assert "whole rows are compared" in ci.render_summary("ci_t", {}, {}, [keyless], 10)
    finally:
        query(database, "drop schema diff_prod cascade; drop schema diff_ci cascade")


def test_a_deleted_or_renamed_model_is_named_in_the_diff():
    """state:modified+ cannot select a model the change deleted or renamed: the summary
    must still say production's table is no longer built (old code: "nothing to compare")."""
    def model(name, layer, materialized="table"):
        return {"unique_id": f"model.warehouse.{name}", "name": name, "schema": layer,
                "alias": name, "config": {"schema": layer, "materialized": materialized}}

    kept, gone = model("dim_customers", "gold"), model("agg_sales_daily", "gold")
    renamed = model("stg_shop__orders", "silver")
    production = {"nodes": {node["unique_id"]: node for node in (
        kept, gone, renamed, model("base_erp__orders", "silver", "ephemeral"),
        model("snp_erp__orders", "snapshots"))}}
    current = {"nodes": {uid: node for uid, node in production["nodes"].items()
                         if node["name"] not in ("agg_sales_daily", "stg_shop__orders",
                                                 "base_erp__orders", "snp_erp__orders")}}
    new = model("stg_shop__order_headers", "silver")
    current["nodes"][new["unique_id"]] = new
    removed = ci.removed_models(production, current)
    assert removed == ["gold.agg_sales_daily", "silver.stg_shop__orders"]
    summary = ci.render_summary("ci_t", {}, {}, [], 10, removed)
    assert "`gold.agg_sales_daily`, `silver.stg_shop__orders`" in summary
    assert "nothing to compare" not in summary


@pytest.mark.parametrize("where", ["a-file/diff.md", "/proc/diff.md"])
def test_an_unwritable_summary_is_refused_before_the_build(database, run_cli, tmp_path, where):
    """Old code: the whole slim build ran first, then writing the summary failed."""
    (tmp_path / "a-file").write_text("")
    state = tmp_path / "state"
    state.mkdir()
    (state / "manifest.json").write_text('{"nodes": {}}')
    summary = Path(where) if where.startswith("/") else tmp_path / where
    result = run_cli("ci", "--change-id", "unwritable", "--state", str(state),
                     "--summary", str(summary))
    assert result.exit_code == 1
    assert f"--summary {summary}: cannot write a file there" in result.stderr
    assert ci_schemas(database, "ci_unwritable") == []
