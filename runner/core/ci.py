"""Slim CI: build what a change touches against production, diff its data, clean up.

``runner ci`` runs ``dbt build --select state:modified+ --defer --state DIR`` in the
``ci`` target, whose schemas are prefixed ``ci_<change id>_`` (macros/schema/
generate_schema_name.sql): the changed models and everything downstream are built and
tested there, every other model is read from production. DIR holds production's
``manifest.json``: ``runner build`` on the prod target keeps it in
``<WAREHOUSE_HOME>/state/<database>/`` after every successful build.

Then every rebuilt silver or gold model is compared with its production table (rows,
keys added and removed, values changed per column) and the CI schemas are dropped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import psycopg2
from psycopg2 import sql

from runner.core import dbt, embedded, names
from runner.errors import WarehouseError
from runner.settings import Settings

CHANGE_ID = re.compile(r"^[a-z0-9_]{1,40}$")
# The layers whose models are diffed (bronze is loaded, not built; snapshots keep history).
DIFFED_LAYERS = ("silver", "gold")
# Past this many rows (planner estimate) a model's keys are compared on a sample.
DEFAULT_DIFF_ROWS = 1_000_000
TARGET_PATH = Path("target") / "ci"


def production_state_dir(settings: Settings) -> Path:
    """Where ``runner build`` keeps production's artifacts for this database."""
    return settings.home / "state" / settings.dbname


def save_production_state(settings: Settings) -> Path | None:
    """After a successful build on the prod target: keep its manifest for ``runner ci``.
    Replaced atomically, so a reader never sees half a file."""
    source = settings.project_dir / "target" / "manifest.json"
    if settings.target != "prod" or not source.is_file():
        return None
    folder = production_state_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / ".manifest.json.partial"
    shutil.copyfile(source, partial)
    os.replace(partial, folder / "manifest.json")
    return folder / "manifest.json"


def change_prefix(change_id: str) -> str:
    """``ci_<change id>``: the schema prefix of one change's CI build."""
    if not isinstance(change_id, str) or not CHANGE_ID.fullmatch(change_id):
        raise WarehouseError(
            f"change id {change_id!r} cannot name a schema: use 1 to 40 lower-case letters, "
            "digits or underscores, e.g. the pull request number (--change-id 42)."
        )
    return f"ci_{change_id}"


def resolve_state(settings: Settings, state: Path | None) -> Path:
    """The folder holding production's manifest.json, checked."""
    folder = (state or production_state_dir(settings)).resolve()
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        where = "--state" if state else "the runner's production state"
        raise WarehouseError(
            f"no manifest.json in {folder} ({where}). Run `runner build` on the production "
            "target once (it keeps its manifest there), or pass --state DIR with the "
            "manifest.json of the last production build."
        )
    try:
        nodes = json.loads(manifest.read_text()).get("nodes")
    except (OSError, ValueError, AttributeError) as error:
        raise WarehouseError(f"{manifest} is not a dbt manifest ({error}); download it "
                             "again from the last production build.") from None
    if not isinstance(nodes, dict):
        raise WarehouseError(f"{manifest} has no nodes: not a dbt manifest.json.")
    return folder


@dataclass
class ModelDiff:
    """One rebuilt model against its production table."""
    model: str
    production: str
    ci: str
    edited: bool
    is_new: bool = False
    rows_production: int = 0
    rows_ci: int = 0
    key: list[str] = field(default_factory=list)
    keys_added: int = 0
    keys_removed: int = 0
    # Keyless models: rows found only on one side (compared whole).
    rows_only_production: int = 0
    rows_only_ci: int = 0
    changed_values: dict[str, int] = field(default_factory=dict)
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    # Every `sample`-th key is compared when the tables are big (None: every row).
    sample: int | None = None
    # Why the model could not be compared (the database's message), if it could not.
    error: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.error or self.is_new or self.rows_production != self.rows_ci
                    or self.keys_added or self.keys_removed or self.rows_only_production
                    or self.rows_only_ci or any(self.changed_values.values())
                    or self.columns_added or self.columns_removed)


@dataclass
class CiOutcome:
    prefix: str
    returncode: int
    # Model unique id -> dbt's status, for every model the build selected.
    models: dict[str, str]
    # dbt's status -> how many tests (data and unit) ended with it.
    tests: dict[str, int]
    diffs: list[ModelDiff]
    summary: str
    summary_path: Path
    dropped: list[str]


def run_ci(settings: Settings, *, change_id: str, state: Path | None = None,
           keep: bool = False, summary_path: Path | None = None,
           diff_rows: int = DEFAULT_DIFF_ROWS) -> CiOutcome:
    prefix = change_prefix(change_id)
    state_dir = resolve_state(settings, state)
    production = json.loads((state_dir / "manifest.json").read_text())
    target_path = settings.project_dir / TARGET_PATH
    summary_path = summary_path or target_path / "data-diff.md"
    # A schema left by an earlier run of this change (--keep) would shadow production:
    # dbt reads an unselected model from the CI schema when it exists there.
    drop_schemas(settings, prefix, [production])
    for artifact in ("run_results.json", "manifest.json"):
        (target_path / artifact).unlink(missing_ok=True)
    dropped: list[str] = []
    current: dict = {}
    try:
        result = dbt.run_dbt(replace(settings, target="ci"), [
            "build", "--select", "state:modified+",
            # A snapshot's history exists only in production: a CI build would start it
            # over with one version. Models on a changed snapshot read production's.
            "--exclude", "resource_type:snapshot",
            *(["package:elementary"] if dbt.elementary_present(settings) else []),
            "--defer", "--state", str(state_dir), "--target-path", str(TARGET_PATH),
        ], extra_env={
            "WAREHOUSE_SCHEMA": prefix,
            # Elementary's anomaly tests need the history it keeps per schema; a CI
            # schema has none.
            "WAREHOUSE_OBSERVABILITY": "off",
        })
        run_results = target_path / "run_results.json"
        if result.returncode == 2 or not run_results.is_file():
            raise WarehouseError(
                f"dbt stopped before it could build (exit code {result.returncode}); its "
                "message above says why (a parse error names the file). Nothing was diffed."
            )
        current = json.loads((target_path / "manifest.json").read_text())
        statuses = {entry["unique_id"]: entry["status"]
                    for entry in json.loads(run_results.read_text())["results"]}
        models = {uid: status for uid, status in statuses.items() if uid.startswith("model.")}
        tests: dict[str, int] = {}
        for uid, status in statuses.items():
            if uid.startswith(("test.", "unit_test.")):
                tests[status] = tests.get(status, 0) + 1
        diffs = [safe_diff(settings, current["nodes"][uid], production["nodes"].get(uid),
                           diff_rows, current["nodes"])
                 for uid, status in sorted(models.items())
                 if status == "success" and _diffed(current["nodes"][uid])]
        # The edited models first, then what they feed, silver before gold.
        diffs.sort(key=lambda d: (not d.edited, not d.ci.split(".")[0].endswith("_silver"),
                                  d.model))
        summary = render_summary(prefix, models, tests, diffs, diff_rows,
                                 removed_models(production, current))
        summary_path.parent.mkdir(parents=True, exist_ok=True)
        summary_path.write_text(summary)
    finally:
        if not keep:
            # The change's own manifest too: it may add a folder with a schema of its own.
            dropped = drop_schemas(settings, prefix, [production, current])
    return CiOutcome(prefix, result.returncode, models, tests, diffs, summary, summary_path,
                     dropped)


def removed_models(production: dict, current: dict) -> list[str]:
    """Production's silver and gold tables the change no longer builds (deleted or
    renamed models): state:modified+ cannot select what is gone, so the diff says it."""
    return sorted(f"{node['schema']}.{node['alias']}"
                  for uid, node in production.get("nodes", {}).items()
                  if uid.startswith("model.") and uid not in current.get("nodes", {})
                  and _diffed(node))


def _diffed(node: dict) -> bool:
    config = node.get("config", {})
    return config.get("schema") in DIFFED_LAYERS and config.get("materialized") != "ephemeral"


def drop_schemas(settings: Settings, prefix: str, manifests: list[dict]) -> list[str]:
    """Drop ``prefix`` and ``prefix_<custom schema>`` for every custom schema the
    manifests use (not every ``prefix_*``: ``ci_4`` must not take ``ci_4_x``'s schemas)."""
    custom = {"audit", "test_failures", "elementary", *DIFFED_LAYERS, "snapshots"}
    for manifest in manifests:
        for node in manifest.get("nodes", {}).values():
            schema = node.get("config", {}).get("schema")
            if isinstance(schema, str) and names.NAME.fullmatch(schema):
                custom.add(schema)
    candidates = [prefix, *(f"{prefix}_{schema}" for schema in sorted(custom))]
    with embedded.cursor(settings) as cur:
        cur.execute("select nspname from pg_namespace where nspname = any(%s) order by 1",
                    (candidates,))
        found = [row[0] for row in cur.fetchall()]
        for schema in found:
            cur.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(schema)))
    return found


def model_key(manifest_nodes: dict, node: dict) -> list[str]:
    """The model's key from its YAML: a primary key constraint (model or column), else a
    unique, enforced_unique or unique_combination test on it."""
    for constraint in node.get("constraints") or []:
        if constraint.get("type") == "primary_key" and constraint.get("columns"):
            return list(constraint["columns"])
    for name, column in (node.get("columns") or {}).items():
        if any(c.get("type") == "primary_key" for c in column.get("constraints") or []):
            return [name]
    for test in manifest_nodes.values():
        metadata = test.get("test_metadata") or {}
        if test.get("attached_node") != node["unique_id"]:
            continue
        kwargs = metadata.get("kwargs") or {}
        if metadata.get("name") in ("unique", "enforced_unique") and kwargs.get("column_name"):
            return [kwargs["column_name"]]
        if metadata.get("name") == "unique_combination":
            return list(kwargs.get("combination_of_columns") or [])
    return []


# Types without an equality operator: compared as text.
TEXT_COMPARED = {"json", "xml", "point", "line", "lseg", "box", "path", "polygon", "circle"}


def _columns(cur, schema: str, table: str) -> dict[str, str]:
    cur.execute("""select column_name, data_type from information_schema.columns
                   where table_schema = %s and table_name = %s order by ordinal_position""",
                (schema, table))
    return dict(cur.fetchall())


def safe_diff(settings: Settings, node: dict, production_node: dict | None,
              diff_rows: int, manifest_nodes: dict) -> ModelDiff:
    """``diff_model``, or a diff that says why this model could not be compared: one
    model's failure leaves the others' diffs."""
    try:
        return diff_model(settings, node, production_node, diff_rows, manifest_nodes)
    except psycopg2.Error as error:
        production = (f"{production_node['schema']}.{production_node['alias']}"
                      if production_node else "")
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return ModelDiff(node["name"], production, f"{node['schema']}.{node['alias']}",
                         edited=True, error=first_line)


def diff_model(settings: Settings, node: dict, production_node: dict | None,
               diff_rows: int, manifest_nodes: dict | None = None) -> ModelDiff:
    ci_schema, ci_table = node["schema"], node["alias"]
    edited = production_node is None or (
        production_node.get("checksum") != node.get("checksum"))
    result = ModelDiff(node["name"], "", f"{ci_schema}.{ci_table}", edited)
    with embedded.cursor(settings) as cur:
        ci_columns = _columns(cur, ci_schema, ci_table)
        cur.execute(sql.SQL("select count(*) from {}").format(
            sql.Identifier(ci_schema, ci_table)))
        result.rows_ci = cur.fetchone()[0]
        prod_columns = {}
        if production_node is not None:
            prod_schema, prod_table = production_node["schema"], production_node["alias"]
            result.production = f"{prod_schema}.{prod_table}"
            prod_columns = _columns(cur, prod_schema, prod_table)
        if not prod_columns:
            result.is_new = True
            return result
        result.columns_added = [c for c in ci_columns if c not in prod_columns]
        result.columns_removed = [c for c in prod_columns if c not in ci_columns]
        common = [c for c in ci_columns if c in prod_columns]
        prod = sql.Identifier(prod_schema, prod_table)
        ci_relation = sql.Identifier(ci_schema, ci_table)
        cur.execute(sql.SQL("select count(*) from {}").format(prod))
        result.rows_production = cur.fetchone()[0]
        key = [c for c in model_key(manifest_nodes or {}, node) if c in common]
        result.key = key
        biggest = max(result.rows_production, result.rows_ci)
        if biggest > diff_rows:
            result.sample = -(-biggest // diff_rows)

        def value(alias: str, column: str) -> sql.Composable:
            expression = sql.Identifier(alias, column)
            if (ci_columns[column] != prod_columns[column]
                    or ci_columns[column] in TEXT_COMPARED):
                return sql.SQL("{}::text").format(expression)
            return expression

        def sampled(alias: str, columns: list[str]) -> sql.Composable:
            # The same keys (or rows) on both sides: a hash of their values, not a random pick.
            if result.sample is None:
                return sql.SQL("true")
            row = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(alias, c))
                                     for c in columns)
            return sql.SQL("abs(hashtextextended(concat_ws('|', {}), 0)) % {} = 0").format(
                row, sql.Literal(result.sample))

        if key:
            others = [c for c in common if c not in key]
            joined = sql.SQL(" and ").join(
                sql.SQL("{} = {}").format(value("p", c), value("c", c)) for c in key)
            both = sql.SQL("p.__in_production and c.__in_ci")
            counts = [
                sql.SQL("count(*) filter (where c.__in_ci is null)"),
                sql.SQL("count(*) filter (where p.__in_production is null)"),
                *(sql.SQL("count(*) filter (where {} and {} is distinct from {})").format(
                    both, value("p", c), value("c", c)) for c in others),
            ]
            cur.execute(sql.SQL(
                """select {counts}
                   from (select true as __in_production, * from {prod} as p where {ps}) as p
                   full join (select true as __in_ci, * from {ci} as c where {cs}) as c
                       on {joined}""").format(
                counts=sql.SQL(", ").join(counts), prod=prod, ci=ci_relation,
                ps=sampled("p", key), cs=sampled("c", key), joined=joined))
            row = cur.fetchone()
            result.keys_removed, result.keys_added = row[0], row[1]
            result.changed_values = {c: n for c, n in zip(others, row[2:]) if n}
        else:
            def side(alias: str, relation) -> sql.Composable:
                return sql.SQL("select {} from {} as {} where {}").format(
                    sql.SQL(", ").join(value(alias, c) for c in common), relation,
                    sql.Identifier(alias), sampled(alias, common))

            cur.execute(sql.SQL(
                """select
                       (select count(*) from ({p} except all {c}) as only_production),
                       (select count(*) from ({c} except all {p}) as only_ci)""").format(
                p=side("p", prod), c=side("c", ci_relation)))
            result.rows_only_production, result.rows_only_ci = cur.fetchone()
    return result


def _count_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"


def render_summary(prefix: str, models: dict[str, str], tests: dict[str, int],
                   diffs: list[ModelDiff], diff_rows: int, removed: list[str] = ()) -> str:
    """The Markdown a reviewer pastes into the pull request."""
    model_counts: dict[str, int] = {}
    for status in models.values():
        model_counts[status] = model_counts.get(status, 0) + 1
    lines = [
        f"### Data diff of change `{prefix}` against production",
        "",
        f"Slim build (`state:modified+`, the rest read from production): models "
        f"{_count_line(model_counts)}; tests {_count_line(tests)}.",
        "",
    ]
    failed = sorted(uid.split(".")[-1] for uid, status in models.items() if status != "success")
    if failed:
        lines += [f"Not built (so not diffed): {', '.join(failed)}.", ""]
    if removed:
        lines += [f"Removed (in production, no longer built by the change: deleted or "
                  f"renamed): {', '.join(f'`{name}`' for name in removed)}.", ""]
    if not diffs and removed:
        return "\n".join(lines)
    if not diffs:
        lines.append("No silver or gold model was rebuilt: nothing to compare.")
        return "\n".join(lines) + "\n"
    lines += ["| model | rows: production → CI | keys added | keys removed | values changed |",
              "|---|---|---|---|---|"]
    notes = []
    for diff in diffs:
        label = f"`{diff.production or diff.ci}`" + (" (edited)" if diff.edited else "")
        if diff.error:
            lines.append(f"| {label} | | | | could not compare: {diff.error} |")
            continue
        if diff.is_new:
            lines.append(f"| {label} | new: {diff.rows_ci:,} rows | | | not in production |")
            continue
        if not diff.changed:
            changes = "no change"
        else:
            parts = [f"{column} {n:,}" for column, n in diff.changed_values.items()]
            parts += [f"+{column} (new column)" for column in diff.columns_added]
            parts += [f"−{column} (dropped column)" for column in diff.columns_removed]
            if not diff.key and (diff.rows_only_production or diff.rows_only_ci):
                parts.append(f"{diff.rows_only_production:,} rows only in production, "
                             f"{diff.rows_only_ci:,} only in CI")
            changes = ", ".join(parts) or "row count only"
        added = f"{diff.keys_added:,}" if diff.key else "n/a"
        removed = f"{diff.keys_removed:,}" if diff.key else "n/a"
        lines.append(f"| {label} | {diff.rows_production:,} → {diff.rows_ci:,} | {added} | "
                     f"{removed} | {changes} |")
        if not diff.key:
            notes.append(f"`{diff.production}` has no key in its YAML (primary key constraint "
                         "or unique test): whole rows are compared, so a changed value shows "
                         "as a row only in production plus one only in CI.")
        if diff.sample:
            notes.append(f"`{diff.production}` has more than {diff_rows:,} rows: keys and "
                         f"values are compared on 1 in {diff.sample} keys (the same keys on "
                         "both sides, picked by a hash); row counts are exact.")
    if notes:
        lines += ["", *(f"- {note}" for note in notes)]
    return "\n".join(lines) + "\n"
