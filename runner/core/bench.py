"""`runner bench`: what the warehouse costs, measured against baselines in the same run.

Every headline figure is a ratio against a plain tool doing the same work on this
machine in the same run (COPY, pg_dump, pg_restore, the same question asked of silver),
because absolute seconds drift between runs on shared machines.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from psycopg2 import sql

from runner import __version__
from runner.core import backup as backups
from runner.core import build as builder
from runner.core import citus, dbt, embedded, progress
from runner.core import generate as gen
from runner.core import load as loader
from runner.errors import WarehouseError
from runner.settings import Settings, load_settings

QUERIES = {
    "revenue by region and month": (
        "select sales_month, region, sum(net_revenue_amount_eur) from gold.agg_sales_monthly "
        "group by 1, 2",
        "select date_trunc('month', o.order_date), s.region, sum(l.net_amount) "
        "from silver.stg_erp__order_lines l join silver.stg_erp__orders o using (order_id) "
        "join silver.stg_erp__stores s using (store_id) where o.order_status != 'cancelled' "
        "group by 1, 2",
    ),
    "top products": (
        "select product_name, sum(net_revenue_amount_eur) r from gold.agg_sales_product_monthly "
        "group by 1 order by r desc limit 10",
        "select p.product_name, sum(l.net_amount) r from silver.stg_erp__order_lines l "
        "join silver.stg_erp__orders o using (order_id) join silver.stg_erp__products p "
        "using (product_id) where o.order_status != 'cancelled' group by 1 order by r desc limit 10",
    ),
    "cohort retention": (
        "select * from gold.rpt_cohort_retention",
        "with m as (select distinct customer_id, date_trunc('month', order_date) mon "
        "from silver.stg_erp__orders where order_status != 'cancelled'), "
        "c as (select customer_id, min(mon) cohort from m group by 1) "
        "select cohort, (extract(year from mon) - extract(year from cohort)) * 12 "
        "+ extract(month from mon) - extract(month from cohort) k, count(*) "
        "from m join c using (customer_id) group by 1, 2",
    ),
}


@dataclass
class ScaleResult:
    scale: float
    figures: dict = field(default_factory=dict)


def _timed(function, *args, **kwargs):
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - started


def _cpu_ticks() -> tuple[int, int] | None:
    """The whole machine's busy and total CPU time so far, in clock ticks (Linux's
    /proc/stat: busy is user, nice, system, irq and softirq), or None without /proc/stat."""
    try:
        ticks = [int(value) for value in
                 Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        user, nice, system, _idle, _iowait, irq, softirq, _steal = ticks
    except (OSError, ValueError):
        return None
    return user + nice + system + irq + softirq, sum(ticks)


def _cpu_used(function, *args, **kwargs):
    """`_timed`, plus the CPU the machine spent meanwhile: busy core-seconds and their share
    of every core's time (None without /proc/stat). On the otherwise idle machine the bench
    wants, that is the server, dbt and the runner: the work itself, whatever its wall time."""
    before = _cpu_ticks()
    value, seconds = _timed(function, *args, **kwargs)
    after = _cpu_ticks()
    if before is None or after is None or after[1] == before[1]:
        return value, seconds, None
    busy, total = after[0] - before[0], after[1] - before[1]
    return value, seconds, {"busy_s": busy / os.sysconf("SC_CLK_TCK"), "share": busy / total}


def _admin(settings: Settings, statement: str, *databases: str, literal: bool = False) -> None:
    """Run ``statement`` on the server, each ``{}`` a database's name (quoted as an
    identifier, or as a value with ``literal``)."""
    quote = sql.Literal if literal else sql.Identifier
    conn = embedded.connect(settings, "postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL(statement).format(*map(quote, databases)))
    finally:
        conn.close()


def _plain_copy(settings: Settings, folder: Path) -> tuple[float, int]:
    """COPY the same CSV files into identical empty tables: the physical baseline."""
    conn = embedded.connect(settings)
    rows, seconds = 0, 0.0
    try:
        with conn.cursor() as cur:
            cur.execute("create schema if not exists bench")
            for table in ("erp_orders", "erp_order_lines", "erp_products", "erp_stores"):
                cur.execute(sql.SQL("drop table if exists bench.{}").format(sql.Identifier(table)))
                cur.execute(sql.SQL("create table bench.{} (like bronze.{} including defaults)")
                            .format(sql.Identifier(table), sql.Identifier(table)))
            conn.commit()
            for path in sorted(folder.glob("erp__*.csv")):
                table = "erp_" + path.name.split("__")[1]
                with open(path, "rb") as handle:
                    header = handle.readline().decode().strip().split(",")
                    handle.seek(0)
                    cur.execute("set warehouse.source_file = %s", (path.name,))
                    cur.execute("set warehouse.batch_date = %s", (path.name.split("__")[2][:10],))
                    started = time.perf_counter()
                    cur.copy_expert(
                        sql.SQL("copy bench.{} ({}) from stdin with (format csv, header true)")
                        .format(sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, header))),
                        handle)
                    conn.commit()
                    seconds += time.perf_counter() - started
                    rows += cur.rowcount
            cur.execute("drop schema bench cascade")
        conn.commit()
    finally:
        conn.close()
    return seconds, rows


def _layer_split(settings: Settings) -> dict[str, float]:
    results = json.loads((settings.project_dir / "target" / "run_results.json").read_text())
    split: dict[str, float] = {}
    for result in results["results"]:
        unique_id = result["unique_id"]
        kind = unique_id.split(".")[0]
        if unique_id == progress.REPLAY_NODE:
            continue  # the replay's own figure (outcome.replay_s)
        if kind == "model":
            name = unique_id.split(".")[-1]
            layer = "gold" if name.startswith(("dim_", "fct_", "agg_", "rpt_")) else "silver"
        elif kind in ("test", "unit_test"):
            layer = "tests"
        else:
            layer = kind + "s"
        split[layer] = split.get(layer, 0.0) + result["execution_time"]
    return split


def _query_time(settings: Settings, statement: str, repeat: int = 3) -> float:
    conn = embedded.connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            cur.fetchall()  # warm the cache once
            best = float("inf")
            for _ in range(repeat):
                started = time.perf_counter()
                cur.execute(statement)
                cur.fetchall()
                best = min(best, time.perf_counter() - started)
            return best
    finally:
        conn.close()


def _sizes(settings: Settings) -> dict[str, int]:
    conn = embedded.connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select n.nspname, sum(pg_total_relation_size(c.oid))::bigint from pg_class c "
                "join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r', 'm') "
                "and n.nspname in ('bronze', 'silver', 'snapshots', 'gold') group by 1")
            return dict(cur.fetchall())
    finally:
        conn.close()


def _slowest_nodes(settings: Settings, count: int = 10) -> list[tuple[str, float, float]]:
    """The build's ``count`` slowest nodes: (name, seconds, share of all node time)."""
    times = _node_seconds(settings)
    total = sum(times.values()) or 1.0
    slowest = sorted(times.items(), key=lambda item: item[1], reverse=True)[:count]
    return [(unique_id.split(".")[2], seconds, seconds / total) for unique_id, seconds in slowest]


def _replayed_statements(settings: Settings) -> tuple[list[sql.Composable], list[tuple[str, str]]]:
    """The statements the last build executed, in the order its nodes finished: each model's
    DDL as dbt wrote it under target/run/ (creating the final relation, not dbt's temporary
    one), each test's query counted as dbt counts it, each hook's SQL. Also the models'
    (schema, name), which the replay drops first."""
    target = settings.project_dir / "target"
    results = json.loads((target / "run_results.json").read_text())["results"]
    nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    statements, models = [], []
    for result in results:
        kind = result["unique_id"].split(".")[0]
        node = nodes.get(result["unique_id"])
        if result["status"] in ("error", "skipped") or node is None:
            continue
        if kind == "model":
            ddl = (target / "run" / node["package_name"] / node["original_file_path"]).read_text()
            statements.append(sql.SQL(ddl.replace('__dbt_tmp"', '"')))
            models.append((node["schema"], node["alias"]))
        elif kind == "test":
            statements.append(sql.SQL("select count(*) from ({}) as replayed_test")
                              .format(sql.SQL(result["compiled_code"])))
        elif kind == "operation" and result.get("compiled_code"):
            statements.append(sql.SQL(result["compiled_code"]))
    return statements, models


def _replay_without_dbt(settings: Settings, work: Path) -> dict:
    """The build's statements replayed through one psql session, each in its own
    transaction as dbt runs them, on a copy of the built database (under the database's own
    name, so the statements run as written; the built one waits renamed) whose models are
    dropped first: what the same SQL costs without dbt and the runner."""
    statements, models = _replayed_statements(settings)
    built = f"{settings.dbname}_built"
    _admin(settings, "select pg_terminate_backend(pid) from pg_stat_activity "
                     "where datname = {} and pid <> pg_backend_pid()",
           settings.dbname, literal=True)
    _admin(settings, "alter database {} rename to {}", settings.dbname, built)
    try:
        _admin(settings, "create database {} template {} strategy file_copy", settings.dbname, built)
        with embedded.cursor(settings) as cur:
            for schema, name in models:
                cur.execute("select relkind from pg_class where oid = to_regclass(%s)",
                            (f'"{schema}"."{name}"',))
                found = cur.fetchone()
                if found:
                    kind = sql.SQL("view" if found[0] == "v" else "table")
                    cur.execute(sql.SQL("drop {} if exists {} cascade")
                                .format(kind, sql.Identifier(schema, name)))
        script = work / "replay.sql"
        conn = embedded.connect(settings)
        try:
            script.write_text("".join("begin;\n" + statement.as_string(conn) + ";\ncommit;\n"
                                      for statement in statements))
        finally:
            conn.close()
        seconds = _timed_tool([str(embedded.bin_path("psql")), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                               "-o", os.devnull, "-f", str(script)],
                              {**os.environ, **settings.libpq_env(),
                               "PGOPTIONS": "-c client_min_messages=warning"})
        return {"replay_s": seconds, "statements": len(statements)}
    finally:
        _admin(settings, "drop database if exists {} with (force)", settings.dbname)
        _admin(settings, "alter database {} rename to {}", built, settings.dbname)


def _floor(settings: Settings) -> float:
    """What PostgreSQL needs to move the order lines once: read bronze's lines joined to
    their orders and write a table as wide as fct_order_lines (23 columns), no cleaning."""
    with embedded.cursor(settings) as cur:
        cur.execute("drop table if exists public.bench_floor")
    started = time.perf_counter()
    with embedded.cursor(settings) as cur:
        cur.execute("""
            create table public.bench_floor as
            select lines.*, orders.customer_id, orders.store_id, orders.order_ts, orders.status,
                orders.currency, orders.promo_code, orders.updated_at as order_updated_at,
                orders._batch_date as order_batch_date, orders._load_order as order_load_order,
                orders._loaded_at as order_loaded_at, orders._source_file as order_source_file
            from bronze.erp_order_lines as lines
            inner join bronze.erp_orders as orders on orders.order_id = lines.order_id""")
    seconds = time.perf_counter() - started
    with embedded.cursor(settings) as cur:
        cur.execute("drop table public.bench_floor")
    return seconds


def _table_sizes(settings: Settings) -> list[tuple[str, int, int, int]]:
    """Every silver, snapshot and gold table: (name, exact rows, bytes with indexes and
    TOAST, of which indexes), largest first."""
    with embedded.cursor(settings) as cur:
        cur.execute("""
            select n.nspname, c.relname, pg_total_relation_size(c.oid), pg_indexes_size(c.oid)
            from pg_class as c inner join pg_namespace as n on n.oid = c.relnamespace
            where c.relkind = 'r' and n.nspname in ('silver', 'snapshots', 'gold')
            order by 3 desc""")
        tables = cur.fetchall()
        sizes = []
        for schema, name, total, indexes in tables:
            cur.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema, name)))
            sizes.append((f"{schema}.{name}", cur.fetchone()[0], total, indexes))
    return sizes


def _timed_tool(args: list[str], env: dict) -> float:
    """Seconds a PostgreSQL client tool took; its own message when it fails."""
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise WarehouseError(
            f"the baseline `{Path(args[0]).name}` failed: {done.stderr.strip()[-1500:]} "
            "(the benchmark needs free disk for two copies of the largest scale's database "
            "beside it; `df -h` shows how much there is)")
    return time.perf_counter() - started


def _plain_dump(settings: Settings, target: Path) -> float:
    return _timed_tool([str(embedded.bin_path("pg_dump")), "-Fd", "-j2", "-Z1", "-f",
                        str(target), settings.dbname], {**os.environ, **settings.libpq_env()})


def _plain_restore(settings: Settings, source: Path, dbname: str) -> float:
    _admin(settings, "create database {}", dbname)
    elapsed = _timed_tool([str(embedded.bin_path("pg_restore")), "-j2", "--no-owner", "-d",
                           dbname, str(source)], {**os.environ, **settings.libpq_env(dbname)})
    _admin(settings, "drop database {} with (force)", dbname)
    return elapsed


def _observability_cost(settings: Settings, mirror: Path, landing: Path, say) -> dict:
    """Full-refresh build without, then with, the Elementary package: same data, same run."""
    from runner.core import observe

    had_package = observe.status(settings).enabled
    if had_package:
        raise RuntimeError("remove dbt_packages/elementary first: the baseline needs it absent")
    say("observability: baseline full-refresh build and a day without Elementary")
    _, without = _timed(builder.run_build, settings, ["--full-refresh"], freshness=False)
    day_without = _elementary_day(settings, landing)
    try:
        observe.install(settings, mirror)
        # Also leaves dbt's partial-parse state warm, as in steady state (the first parse
        # with a new package is a one-off).
        dbt.run_dbt_checked(settings, ["run", "--select", "elementary"], capture=True)
        say("observability: the same build, and a day, with Elementary")
        built, with_package = _timed(builder.run_build, settings, ["--full-refresh"],
                                     freshness=False)
        day_with = _elementary_day(settings, landing)
    finally:
        for package in observe.PACKAGES:
            shutil.rmtree(observe.packages_dir(settings) / package, ignore_errors=True)
        if not any(observe.packages_dir(settings).iterdir()):
            observe.packages_dir(settings).rmdir()
    hooks = built.invocations.get("build", {})
    return {"without_s": without, "with_s": with_package, "ratio": with_package / without,
            "hooks_s": hooks.get("elementary_hooks_s", 0.0),
            "tests_s": hooks.get("elementary_tests_s", 0.0),
            "day_without_s": day_without[0], "day_with_s": day_with[0],
            "day_hooks_s": sum(i.get("elementary_hooks_s", 0.0) for i in day_with[1].values())}


def _elementary_day(settings: Settings, landing: Path) -> tuple[float, dict]:
    """A next day loaded and built the way `runner build` does (freshness, replay, build):
    (seconds of the build, its dbt invocations)."""
    gen.next_day(landing)
    loader.load(settings, landing)
    outcome, seconds = _timed(builder.run_build, settings, [])
    return seconds, outcome.invocations


PLANNER_INTENTS = ("one_pass_sorted_aggregate", "sequential_reads", "cheap_parallel_rows")


def _hinted_models(settings: Settings) -> dict[str, list[str]]:
    """Each planner intent's models, from dbt's manifest: those whose pre-hooks ask for it,
    and for cheap_parallel_rows also the contracted tables (macros/contracts)."""
    manifest = json.loads((settings.project_dir / "target" / "manifest.json").read_text())
    found: dict[str, list[str]] = {intent: [] for intent in PLANNER_INTENTS}
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] != "model" or node["package_name"] != "warehouse":
            continue
        hooks = " ".join(hook["sql"] for hook in node["config"].get("pre-hook", []))
        contracted = (node["config"].get("contract", {}).get("enforced")
                      and node["config"]["materialized"] in ("table", "incremental"))
        for intent in PLANNER_INTENTS:
            if f"planner_hint('{intent}')" in hooks or (intent == "cheap_parallel_rows" and contracted):
                found[intent].append(unique_id)
    return found


def _node_seconds(settings: Settings) -> dict[str, float]:
    results = json.loads((settings.project_dir / "target" / "run_results.json").read_text())
    return {result["unique_id"]: result["execution_time"] for result in results["results"]}


def _planner_hints_ab(settings: Settings, say) -> dict:
    """Full-refresh builds with every hint, then each without one intent (then all again):
    each intent's models' node time with and without it, same data, same run."""
    def build(hints) -> dict[str, float]:
        outcome = builder.run_build(settings, ["--full-refresh", "--vars", json.dumps({"planner_hints": hints})],
                                    freshness=False)
        if outcome.build_returncode != 0:
            raise RuntimeError(f"the planner-hint build ({hints}) failed")
        return _node_seconds(settings)

    say("planner hints: full-refresh builds with each hint on and off")
    first = build(True)
    off = {intent: build([other for other in PLANNER_INTENTS if other != intent])
           for intent in PLANNER_INTENTS}
    second = build(True)
    models = _hinted_models(settings)
    return {intent: {"models": len(models[intent]),
                     "on_s": min(sum(run.get(m, 0.0) for m in models[intent]) for run in (first, second)),
                     "off_s": sum(off[intent].get(m, 0.0) for m in models[intent])}
            for intent in PLANNER_INTENTS}


# One-model changes `runner ci` is timed on: one feeding a few models, one feeding the facts.
SLIM_CI_EDITS = ("stg_erp__products", "stg_erp__order_lines")


def _slim_ci(settings: Settings, work: Path, say) -> dict:
    """A full-refresh `runner build`, then `runner ci` of each one-model edit, one after
    the other on the same data: seconds, models built and the ratio to the full build."""
    from dataclasses import replace

    from runner.core import ci

    say("slim CI: a full-refresh build, then runner ci for each one-model edit")
    outcome, full_s = _timed(builder.run_build, settings, ["--full-refresh"], freshness=False)
    if outcome.build_returncode != 0:
        raise RuntimeError("the full-refresh build before the slim CI runs failed")
    full_models = sum(1 for uid in _node_seconds(settings) if uid.startswith("model."))
    figures = {"full_s": full_s, "full_models": full_models, "edits": {}}
    for model in SLIM_CI_EDITS:
        project = work / f"slim_ci_{model}"
        shutil.copytree(settings.project_dir, project, ignore=shutil.ignore_patterns(
            ".venv", ".warehouse", ".git", "target", "logs", "landing", "backups", "report",
            "dbt_packages", "profiles.yml", "__pycache__"))
        path = next(project.glob(f"models/**/{model}.sql"))
        # A blank line inside (dbt ignores whitespace at either end of a file): a modified
        # file to dbt, the same SQL, so the data diff must find no change.
        path.write_text(path.read_text().replace("\n\n", "\n\n\n", 1))
        done, seconds = _timed(ci.run_ci, replace(settings, project_dir=project),
                               change_id="bench", summary_path=project / "data-diff.md")
        if (done.returncode != 0 or not done.models
                or any(diff.changed for diff in done.diffs)):
            raise RuntimeError(f"runner ci of a whitespace edit to {model} failed, built "
                               f"nothing or found a change: {project / 'data-diff.md'}")
        figures["edits"][model] = {"s": seconds, "models": len(done.models),
                                   "ratio": seconds / full_s}
        shutil.rmtree(project, ignore_errors=True)
    return figures


def run_scale(base: Settings, scale: float, work: Path, say, mirror: Path | None = None,
              hints_ab: bool = False, slim_ci: bool = False) -> ScaleResult:
    name = "bench_" + str(scale).replace(".", "_")
    _admin(base, "drop database if exists {} with (force)", name)
    _admin(base, "create database {}", name)
    try:
        return _measure_scale(base.with_database(name), scale, work, say, mirror, hints_ab,
                              slim_ci)
    finally:
        # Also after a failure: at scale 5 the database alone is 7.6 GB.
        for database in (name, f"{name}_restored", f"{name}_plain"):
            _admin(base, "drop database if exists {} with (force)", database)


def _measure_scale(settings: Settings, scale: float, work: Path, say,
                   mirror: Path | None, hints_ab: bool = False,
                   slim_ci: bool = False) -> ScaleResult:
    name = settings.dbname
    out = ScaleResult(scale)
    fig = out.figures
    fig["scale"] = scale
    landing = work / f"landing_{name}"
    shutil.rmtree(landing, ignore_errors=True)

    say(f"scale {scale}: generate")
    state, fig["generate_s"] = _timed(gen.generate, landing, seed=42, scale=scale)
    fig["order_lines"] = state.order_lines
    fig["rows_generated"] = state.customers + state.products + state.stores + state.orders + state.order_lines
    say(f"scale {scale}: load")
    results, fig["load_s"] = _timed(loader.load, settings, landing)
    fig["rows_loaded"] = sum(r.rows for r in results)
    fig["load_rows_per_s"] = fig["rows_loaded"] / fig["load_s"]
    loader_copy = sum(r.seconds for r in results if r.name.startswith("erp__"))
    fig["plain_copy_s"], _ = _plain_copy(settings, landing)
    fig["loader_copy_s"] = loader_copy
    fig["copy_ratio"] = loader_copy / fig["plain_copy_s"]

    say(f"scale {scale}: full build")
    outcome, fig["full_build_s"], fig["full_build_cpu"] = _cpu_used(
        builder.run_build, settings, [], freshness=True)
    if outcome.build_returncode != 0:
        raise RuntimeError(f"the benchmark build failed at scale {scale}")
    fig["layers_s"] = _layer_split(settings)
    # The replay node's own time (a node of the build, beside the order models).
    fig["layers_s"]["replay"] = outcome.replay_s
    fig["end_to_end_s"] = fig["generate_s"] + fig["load_s"] + fig["full_build_s"]
    fig["build_invocation_s"] = outcome.invocations.get("build", {}).get("seconds") or 0.0
    fig["slowest_nodes"] = _slowest_nodes(settings)
    say(f"scale {scale}: the build's SQL replayed without dbt, and the floor")
    fig["replay"] = _replay_without_dbt(settings, work)
    fig["floor_s"] = _floor(settings)
    fig["table_sizes"] = _table_sizes(settings)

    say(f"scale {scale}: incremental day")
    outcome, fig["incremental_s"], fig["incremental_cpu"] = _cpu_used(
        _next_day, settings, landing)
    if outcome.build_returncode != 0:
        raise RuntimeError(f"the incremental build failed at scale {scale}")
    fig["incremental_ratio"] = fig["incremental_s"] / fig["full_build_s"]
    say(f"scale {scale}: a day with one late batch")
    fig["late_day"] = _late_batch_day(settings, landing, work / f"held_{name}")

    say(f"scale {scale}: queries")
    fig["queries"] = {}
    for question, (gold_sql, silver_sql) in QUERIES.items():
        gold_s = _query_time(settings, gold_sql)
        silver_s = _query_time(settings, silver_sql)
        fig["queries"][question] = {"gold_ms": gold_s * 1000, "silver_ms": silver_s * 1000,
                                    "speedup": silver_s / gold_s if gold_s else None}
    fig["sizes"] = _sizes(settings)
    if hints_ab:
        fig["planner_hints"] = _planner_hints_ab(settings, say)
    if slim_ci:
        fig["slim_ci"] = _slim_ci(settings, work, say)
    if mirror is not None:
        fig["observability"] = _observability_cost(settings, mirror, landing, say)

    say(f"scale {scale}: backup and restore")
    dest = work / f"backups_{name}"
    shutil.rmtree(dest, ignore_errors=True)
    made, fig["backup_s"] = _timed(backups.backup, settings, dest, jobs=2, compression=1)
    fig["plain_dump_s"] = _plain_dump(settings, work / f"plain_{name}")
    fig["backup_ratio"] = fig["backup_s"] / fig["plain_dump_s"]
    restored = f"{name}_restored"
    _, fig["restore_s"] = _timed(backups.restore, settings, made, restored, dest=dest,
                                 confirmed=True)
    _admin(settings, "drop database {} with (force)", restored)
    fig["plain_restore_s"] = _plain_restore(settings, work / f"plain_{name}" , f"{name}_plain")
    fig["restore_ratio"] = fig["restore_s"] / fig["plain_restore_s"]
    shutil.rmtree(work / f"plain_{name}", ignore_errors=True)
    shutil.rmtree(dest, ignore_errors=True)
    shutil.rmtree(landing, ignore_errors=True)
    fig["peak_rss_mb"] = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                             resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    return out


def _next_day(settings: Settings, landing: Path):
    gen.next_day(landing)
    loader.load(settings, landing)
    return builder.run_build(settings, [], freshness=True)


def _late_batch_day(settings: Settings, landing: Path, held: Path) -> dict:
    """One day's files held back while the next day is built (a normal day), then loaded:
    `runner build` applying that late batch against the normal day's, in the same run."""
    shutil.rmtree(held, ignore_errors=True)
    held.mkdir(parents=True)
    _, late_date = gen.next_day(landing)
    for path in landing.glob(f"*__{late_date}.*"):
        shutil.move(path, held / path.name)
    gen.next_day(landing)
    loader.load(settings, landing)
    normal, normal_s = _timed(builder.run_build, settings, [], freshness=True)
    for path in held.iterdir():
        shutil.move(path, landing / path.name)
    shutil.rmtree(held)
    loader.load(settings, landing)
    late, late_s = _timed(builder.run_build, settings, [], freshness=True)
    if normal.build_returncode != 0 or late.build_returncode != 0 or late.late != [str(late_date)]:
        raise RuntimeError(f"the late-batch day failed (late batches applied: {late.late})")
    return {"normal_s": normal_s, "late_s": late_s, "ratio": late_s / normal_s}


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {memory:.0f} GiB, {platform.machine()}, Python {platform.python_version()}"


def versions(settings: Settings) -> str:
    dbt_version = subprocess.run([dbt.dbt_executable(), "--version"], capture_output=True,
                                 text=True).stdout.split("installed:")[1].split()[0]
    conn = embedded.connect(settings)
    with conn.cursor() as cur:
        cur.execute("show server_version")
        server = cur.fetchone()[0]
    conn.close()
    return f"runner {__version__}, dbt-core {dbt_version}, PostgreSQL {server}"


def _s(value: float) -> str:
    return f"{value:.1f}"


@dataclass(frozen=True)
class Target:
    """A target from the issue: its wording, the scales it is set for (None: every scale)
    and whether a scale's figures meet it."""

    text: str
    met: Callable[[dict], bool]
    scales: tuple[float, ...] | None = None


def markdown(results: list[ScaleResult], command: str, settings: Settings) -> str:
    lines = [
        "| figure | " + " | ".join(f"scale {r.scale}" for r in results) + " | target |",
        "|---|" + "---|" * (len(results) + 1),
    ]

    def row(label, render, target: Target | None = None):
        cells = []
        for result in results:
            cell = render(result.figures)
            if target and (target.scales is None or result.scale in target.scales):
                cell += " ✓" if target.met(result.figures) else " ✗ missed"
            cells.append(cell)
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {target.text if target else ''} |")

    row("order lines", lambda f: f"{f['order_lines']:,}")
    row("generate (s)", lambda f: _s(f["generate_s"]))
    row("load (s) / rows per s", lambda f: f"{_s(f['load_s'])} / {f['load_rows_per_s']:,.0f}",
        Target("≥ 300,000 rows/s", lambda f: f["load_rows_per_s"] >= 300_000))
    row("loader COPY ÷ plain COPY (ERP files)", lambda f: f"{f['copy_ratio']:.2f}",
        Target("≤ 1.20", lambda f: f["copy_ratio"] <= 1.20))
    full_build_limits = {1.0: 20, 5.0: 60}  # seconds, per scale
    row("full build (s)", lambda f: _s(f["full_build_s"]),
        Target("< 20 s at scale 1, < 60 s at scale 5",
               lambda f: f["full_build_s"] < full_build_limits[f["scale"]],
               tuple(full_build_limits)))
    row("  of which snapshot replay / silver / gold / tests "
        "(s, node time)",
        lambda f: " / ".join(_s(f["layers_s"].get(k, 0)) for k in ("replay", "silver", "gold", "tests")))
    row("dbt build invocation (s) / the same SQL replayed without dbt (s), ratio",
        lambda f: (f"{_s(f['build_invocation_s'])} / {_s(f['replay']['replay_s'])}, "
                   f"{f['build_invocation_s'] / f['replay']['replay_s']:.2f}"),
        Target("≤ 1.15", lambda f: f["build_invocation_s"] / f["replay"]["replay_s"] <= 1.15))
    cores = os.cpu_count() or 1

    def cpu(figure: str):
        def render(f: dict) -> str:
            used = f.get(figure)
            if not used:
                return "-"
            return f"{used['busy_s']:.1f}; {used['share']:.0%}; {used['busy_s'] / cores:.1f}"
        return render

    row(f"full build's CPU work: busy core-s; share of {cores} cores; ÷ {cores} cores (s)",
        cpu("full_build_cpu"))
    row("floor: one statement moving the order lines (s); full build ÷ floor",
        lambda f: f"{f['floor_s']:.2f}; {f['full_build_s'] / f['floor_s']:.0f}x")
    smallest = min(results, key=lambda r: r.scale).figures

    def growth(f: dict) -> float:
        """How much faster the full build grew than the order lines, from the smallest scale."""
        return ((f["full_build_s"] / smallest["full_build_s"])
                / (f["order_lines"] / smallest["order_lines"]))

    if len(results) > 1:
        row("full build growth ÷ order-line growth, from the smallest scale",
            lambda f: "-" if f is smallest else f"{growth(f):.2f}",
            Target("≤ 1 (no worse than linear)", lambda f: growth(f) <= 1,
                   tuple(r.scale for r in results if r.figures is not smallest)))
    row("generate + load + full build (s)", lambda f: _s(f["end_to_end_s"]),
        Target("< 30 s at scale 1", lambda f: f["end_to_end_s"] < 30, (1.0,)))
    row("incremental day: next-day + load + build (s)", lambda f: _s(f["incremental_s"]))
    row(f"incremental day's CPU work: busy core-s; share of {cores} cores; ÷ {cores} cores (s)",
        cpu("incremental_cpu"))
    row("incremental ÷ full build", lambda f: f"{f['incremental_ratio']:.2f}",
        Target("≤ 0.25 at scale 1", lambda f: f["incremental_ratio"] <= 0.25, (1.0,)))
    row("a day with one late batch ÷ a normal day: runner build (s), ratio",
        lambda f: (f"{_s(f['late_day']['late_s'])} / {_s(f['late_day']['normal_s'])}, "
                   f"{f['late_day']['ratio']:.2f}"),
        Target("≤ 2", lambda f: f["late_day"]["ratio"] <= 2))
    row("backup (s) / ÷ plain pg_dump -Fd -j2 -Z1", lambda f: f"{_s(f['backup_s'])} / {f['backup_ratio']:.2f}",
        Target("≤ 1.15", lambda f: f["backup_ratio"] <= 1.15))
    row("restore (s) / ÷ plain pg_restore -j2", lambda f: f"{_s(f['restore_s'])} / {f['restore_ratio']:.2f}",
        Target("≤ 1.15", lambda f: f["restore_ratio"] <= 1.15))
    for question in QUERIES:
        row(f"'{question}': gold ms / silver ms (speed-up)",
            lambda f, q=question: f"{f['queries'][q]['gold_ms']:.1f} / {f['queries'][q]['silver_ms']:.1f} "
            f"({f['queries'][q]['speedup']:.1f}x)")
    row("size bronze / silver / snapshots / gold (MiB)",
        lambda f: " / ".join(f"{f['sizes'].get(k, 0) / 2**20:.1f}" for k in ("bronze", "silver", "snapshots", "gold")))
    if any("observability" in r.figures for r in results):
        row("full-refresh build without / with Elementary (s), ratio",
            lambda f: (f"{_s(f['observability']['without_s'])} / {_s(f['observability']['with_s'])}, "
                       f"{f['observability']['ratio']:.2f}") if "observability" in f else "-",
            Target("≤ 1.25", lambda f: f["observability"]["ratio"] <= 1.25,
                   tuple(r.scale for r in results if "observability" in r.figures)))
        row("  of which Elementary's hooks / its tests (s, node time)",
            lambda f: (f"{_s(f['observability']['hooks_s'])} / {_s(f['observability']['tests_s'])}"
                       if "observability" in f else "-"))
        row("a day's build without / with Elementary (s), of which its hooks",
            lambda f: (f"{_s(f['observability']['day_without_s'])} / "
                       f"{_s(f['observability']['day_with_s'])}, "
                       f"{_s(f['observability']['day_hooks_s'])}" if "observability" in f else "-"))
    for intent in PLANNER_INTENTS:
        if any("planner_hints" in r.figures for r in results):
            row(f"planner hint `{intent}`: its models' node time on / off (s), ratio",
                lambda f, i=intent: (f"{_s(f['planner_hints'][i]['on_s'])} / {_s(f['planner_hints'][i]['off_s'])}"
                                     f" ({f['planner_hints'][i]['models']} models), "
                                     f"{f['planner_hints'][i]['on_s'] / f['planner_hints'][i]['off_s']:.2f}")
                if "planner_hints" in f else "-")
    for model in SLIM_CI_EDITS:
        if any("slim_ci" in r.figures for r in results):
            row(f"`runner ci` of an edit to {model} (s, models) ÷ full-refresh `runner build` "
                "(s, models)",
                lambda f, m=model: (f"{_s(f['slim_ci']['edits'][m]['s'])} "
                                    f"({f['slim_ci']['edits'][m]['models']}) ÷ "
                                    f"{_s(f['slim_ci']['full_s'])} ({f['slim_ci']['full_models']})"
                                    f" = {f['slim_ci']['edits'][m]['ratio']:.2f}")
                if "slim_ci" in f else "-")
    if any("citus" in r.figures for r in results):
        row("Citus cluster: full build / incremental day (s), ÷ one server",
            lambda f: (f"{_s(f['citus']['full_build_s'])} / {_s(f['citus']['incremental_s'])}, "
                       f"{f['citus']['full_build_s'] / f['full_build_s']:.2f} / "
                       f"{f['citus']['incremental_s'] / f['incremental_s']:.2f}")
            if "citus" in f else "-")
    row("peak memory, runner or a child (MiB)", lambda f: f"{f['peak_rss_mb']:.0f}")
    header = (f"Command: `{command}`\n\nMachine: {machine()}\n\nVersions: {versions(settings)}\n\n")
    return header + "\n".join(lines) + "\n" + "".join(_where_time_and_space_go(r) for r in results)


def _where_time_and_space_go(result: ScaleResult) -> str:
    """The full build's ten slowest nodes and every table's size per row, at one scale."""
    fig = result.figures
    lines = [f"\n### Scale {result.scale}: the full build's ten slowest nodes\n",
             "| node | seconds | share of node time |", "|---|---|---|"]
    lines += [f"| {name} | {seconds:.2f} | {share:.0%} |" for name, seconds, share in fig["slowest_nodes"]]
    lines += [f"\n### Scale {result.scale}: tables after the full build\n",
              "| table | rows | MiB | of which indexes | bytes per row |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {rows:,} | {total / 2**20:.1f} | {indexes / 2**20:.1f} | "
              f"{total / rows if rows else 0:,.0f} |" for name, rows, total, indexes in fig["table_sizes"]]
    return "\n".join(lines) + "\n"


def _on_citus(cluster: Settings, scale: float, work: Path, say) -> dict:
    """The same data's full build and incremental day on a Citus cluster, in a database
    the benchmark empties first (its name starts with ``bench``)."""
    say(f"scale {scale}: Citus cluster {cluster.safe_dsn()}")
    with embedded.cursor(cluster) as cur:
        for layer in ("bronze", "silver", "snapshots", "gold", "audit", "test_failures"):
            cur.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(layer)))
    landing = work / "landing_citus"
    shutil.rmtree(landing, ignore_errors=True)
    gen.generate(landing, seed=42, scale=scale)
    loader.load(cluster, landing)
    outcome, full = _timed(builder.run_build, cluster, [], freshness=True)
    if outcome.build_returncode != 0:
        raise RuntimeError(f"the Citus build failed at scale {scale}")
    started = time.perf_counter()
    gen.next_day(landing)
    loader.load(cluster, landing)
    outcome = builder.run_build(cluster, [], freshness=True)
    day = time.perf_counter() - started
    if outcome.build_returncode != 0:
        raise RuntimeError(f"the Citus incremental day failed at scale {scale}")
    shutil.rmtree(landing, ignore_errors=True)
    return {"full_build_s": full, "incremental_s": day}


def citus_settings(dsn: str) -> Settings:
    """Settings for ``--citus-dsn``: a Citus coordinator's database named bench…, which the
    benchmark may empty."""
    cluster = load_settings({**os.environ, "WAREHOUSE_DSN": dsn})
    if not cluster.dbname.startswith("bench"):
        raise WarehouseError(
            f"--citus-dsn names database {cluster.dbname!r}: the benchmark empties the "
            "database it builds in, so give it one whose name starts with `bench` (create it "
            "on every node with the citus extension, as docs/scaling-out.md shows)."
        )
    with embedded.cursor(cluster) as cur:
        if not citus.extension_version(cur):
            raise WarehouseError(f"--citus-dsn {cluster.safe_dsn()} has no citus extension.")
    return cluster


def run(settings: Settings, scales: list[float], say, mirror: Path | None = None,
        observability_at: tuple[float, ...] = (), hints_at: tuple[float, ...] = (),
        cluster: Settings | None = None, citus_at: tuple[float, ...] = (),
        slim_ci_at: tuple[float, ...] = ()) -> list[ScaleResult]:
    """Every scale in turn; Elementary's cost (with a mirror) only at `observability_at`,
    the planner hints' A/B only at `hints_at`, the Citus cluster only at `citus_at`,
    `runner ci` against a full build only at `slim_ci_at`."""
    work = Path(tempfile.mkdtemp(prefix="bench-", dir=settings.home))
    try:
        results = []
        for scale in scales:
            result = run_scale(settings, scale, work, say,
                               mirror if scale in observability_at else None, scale in hints_at,
                               scale in slim_ci_at)
            if cluster is not None and scale in citus_at:
                result.figures["citus"] = _on_citus(cluster, scale, work, say)
            results.append(result)
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)
