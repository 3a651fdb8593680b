"""End to end on a real database: batches in, gold out, history complete however it arrives.

Two databases get the same source files. One loads five daily batches after the history
and builds once; the other builds after the history and after every day. Their dimension
history and facts must be identical; a second build must change nothing; an incremental
build must equal a full refresh; each day must add exactly its own facts and versions.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import PROJECT_DIR, checksum, empty_database, query
from runner.core import build as builder
from runner.core import dbt
from runner.core import embedded
from runner.core import generate as gen
from runner.core import load as loader

GOLD = ["dim_date", "dim_customers", "dim_products", "dim_stores", "fct_order_lines", "fct_orders",
        "agg_sales_daily", "agg_sales_monthly", "agg_sales_product_monthly",
        "agg_customer_activity_monthly", "rpt_customer_lifetime_value",
        "rpt_cohort_retention", "rpt_business_kpis_monthly", "rpt_data_quality_batches"]
DAYS = 5


def gold_state(settings):
    return {table: checksum(settings, f"gold.{table}") for table in GOLD}


def last_run_node_ids(settings):
    """The nodes dbt's last invocation in the project ran (target/run_results.json)."""
    run = json.loads((settings.project_dir / "target" / "run_results.json").read_text())
    return [result["unique_id"] for result in run["results"]]


def build(settings):
    outcome = builder.run_build(settings, [])
    assert outcome.build_returncode == 0
    return outcome


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    """History plus five daily batches; `history` holds only the history's files."""
    full = tmp_path_factory.mktemp("full")
    gen.generate(full, seed=5, scale=0.01)
    history = tmp_path_factory.mktemp("history")
    for path in full.iterdir():
        shutil.copy(path, history)
    days = [gen.next_day(full)[1] for _ in range(DAYS)]
    return full, history, days


@pytest.fixture(scope="module")
def databases(warehouse_env):
    return [empty_database(warehouse_env, name) for name in ("e2e_once", "e2e_daily")]


@pytest.fixture(scope="module")
def built(landing, databases):
    full, history, days = landing
    once, daily = databases

    results = loader.load(once, full)
    assert all(r.status == "loaded" for r in results)
    outcome = build(once)
    assert len(outcome.replayed) == 24 + DAYS

    observed_days = []
    assert all(r.status == "loaded" for r in loader.load(daily, history))
    build(daily)
    for day in days:
        before = {
            "facts": query(daily, "select count(*) from gold.fct_order_lines")[0][0],
            "customer_versions": query(daily, "select count(*) from gold.dim_customers")[0][0],
        }
        for path in full.glob(f"*__{day}.*"):
            shutil.copy(path, history)
        loader.load(daily, history)
        build(daily)
        observed_days.append((day, before))
    return once, daily, observed_days


def test_history_is_the_same_however_batches_arrive(built):
    once, daily, _ = built
    for snapshot in ("snp_crm__customers", "snp_erp__products", "snp_erp__stores"):
        assert checksum(once, f"snapshots.{snapshot}", exclude=("dbt_updated_at",)) == \
            checksum(daily, f"snapshots.{snapshot}", exclude=("dbt_updated_at",)), snapshot
    assert gold_state(once) == gold_state(daily)


def test_each_day_adds_its_facts_and_versions(built):
    _, daily, observed_days = built
    for day, before in observed_days:
        accepted_lines = query(daily, """
            select count(*) from silver.stg_erp__order_lines where _batch_date = %s""", (day,))[0][0]
        facts = query(daily, "select count(*) from gold.fct_order_lines where line_load_order in "
                             "(select _load_order from silver.stg_erp__order_lines where _batch_date = %s)",
                      (day,))[0][0]
        assert facts == accepted_lines > 0
    last_day = observed_days[-1][0]
    # Customers changed on the last day got a version starting that day; the deleted one has no current version.
    changed = query(daily, """
        select count(distinct customer_id) from gold.dim_customers
        where valid_from::date = %s and not is_first_version""", (last_day,))[0][0]
    assert changed > 0
    deleted = query(daily, """
        select customer_id from silver.stg_crm__customers
        where is_deleted and deleted_at::date = %s""", (last_day,))
    assert deleted
    for (customer_id,) in deleted:
        assert query(daily, "select count(*) from gold.dim_customers where customer_id = %s and is_current",
                     (customer_id,))[0][0] == 0


def test_scd2_windows_close_for_changed_customers(built):
    _, daily, _ = built
    problems = query(daily, """
        select customer_id from gold.dim_customers
        where customer_id != '-1'
        group by customer_id having count(*) filter (where is_current) > 1""")
    assert problems == []


def test_second_build_changes_nothing(built):
    once, _, _ = built
    before = gold_state(once)
    build(once)
    assert gold_state(once) == before


def test_incremental_equals_full_refresh(built):
    _, daily, _ = built
    incremental = {t: checksum(daily, f"silver.{t}") for t in ("stg_erp__orders", "stg_erp__order_lines")}
    incremental.update(gold_state(daily))
    assert builder.run_build(daily, ["--full-refresh"]).build_returncode == 0
    refreshed = {t: checksum(daily, f"silver.{t}") for t in ("stg_erp__orders", "stg_erp__order_lines")}
    refreshed.update(gold_state(daily))
    assert refreshed == incremental


def test_a_missing_gold_constraint_fails_the_build(built):
    """Silver and gold keys and value rules are enforced by constraints, not tests; a table without
    a declared constraint (an incremental model built before it was declared) must fail
    the build."""
    once, _, _ = built
    dropped = query(once, """select conname, pg_get_constraintdef(oid) from pg_constraint
        where conrelid = 'gold.agg_sales_daily'::regclass and contype in ('p', 'c')""")
    assert len(dropped) == 2, dropped  # the key and net_revenue_amount_eur >= 0
    for name, _ in dropped:
        query(once, f'alter table gold.agg_sales_daily drop constraint "{name}"')
    query(once, "alter table gold.fct_orders alter column order_date drop not null")
    query(once, "alter table silver.stg_erp__order_lines alter column product_id drop not null")
    try:
        assert builder.run_build(once, []).build_returncode != 0
        failures = query(once, "select table_name, problem "
                               "from test_failures.assert_contract_constraints_exist order by 1, 2")
        assert failures == [
            ("agg_sales_daily", "1 declared check constraint(s), 0 in the database"),
            ("agg_sales_daily", "declared primary key missing in the database"),
            ("fct_orders", "declared not-null constraint missing on order_date"),
            ("stg_erp__order_lines", "declared not-null constraint missing on product_id"),
        ]
    finally:
        for name, definition in dropped:
            query(once, f'alter table gold.agg_sales_daily add constraint "{name}" {definition}')
        query(once, "alter table gold.fct_orders alter column order_date set not null")
        query(once, "alter table silver.stg_erp__order_lines alter column product_id set not null")
    assert build(once).build_returncode == 0


def test_runner_build_leaves_out_unit_tests_and_applied_snapshots(built):
    once, _, _ = built
    build(once)
    ran = last_run_node_ids(once)
    kinds = {unique_id.split(".")[0] for unique_id in ran}
    assert "unit_test" not in kinds and {"model", "test"} <= kinds
    # The replay applied the batches: the snapshot nodes are left out, their tests are not.
    assert "snapshot" not in kinds
    assert any(node.startswith("test.") and "snp_crm__customers" in node for node in ran)
    result = dbt.run_dbt(once, ["test", "--select", "test_type:unit"], capture=True)
    assert result.returncode == 0, result.stdout[-3000:]
    passed = re.search(r"PASS=(\d+) WARN=0 ERROR=0", result.stdout)
    assert passed and int(passed.group(1)) >= 7, result.stdout[-3000:]


def test_a_partial_build_runs_only_the_tests_it_can_satisfy(built):
    """`runner build --select +fct_order_lines` does not rebuild the quarantine, so the
    conservation test (which reads it) stays out; the fact's own tests run."""
    once, _, _ = built
    assert builder.run_build(once, ["--select", "+fct_order_lines"]).build_returncode == 0
    names = {unique_id.split(".")[2] for unique_id in last_run_node_ids(once)}
    assert "assert_silver_conserves_bronze_rows" not in names and "int_rejected_rows" not in names
    assert any(name.startswith("relationships_fct_order_lines") for name in names)


def test_relationship_tests_read_the_rows_changed_since_they_last_passed(built):
    """The facts' relationships tests read the rows whose source_load_order is past the
    value stored when each last passed (macros/audit/test_watermarks.sql). An orphan key
    in a changed row fails the test and keeps its watermark; an orphan below the watermark
    is left to the full checks: `--vars '{full_tests: true}'`, or a change to the code of
    a model the test reads."""
    once, _, _ = built
    test = "relationships_fct_order_lines_customer_key__customer_key__ref_dim_customers_"
    stored = dict(query(once, "select test_id, watermark from audit.test_watermarks"))
    assert len(stored) == 7, stored
    (test_id,) = [test_id for test_id in stored if f".{test}." in test_id]
    watermark = stored[test_id]
    assert query(once, "select max(source_load_order) from gold.fct_order_lines") == [(watermark,)]

    def run_test(*extra):
        return dbt.run_dbt(once, ["test", "--select", test, *extra], capture=True)

    def stored_watermark():
        return query(once, "select watermark from audit.test_watermarks where test_id = %s",
                     (test_id,))

    query(once, """insert into gold.fct_order_lines
        select (order_line_id + 1000000000)::bigint, order_id, 'no-such-customer', product_key,
            store_key, date_key, customer_id, product_id, store_id, order_status,
            currency_code, line_number, quantity, unit_price_amount, gross_amount,
            discount_amount, net_amount, gross_amount_eur, discount_amount_eur,
            net_amount_eur, is_cancelled, order_date, ordered_at,
            line_load_order, order_load_order, %s
        from gold.fct_order_lines order by order_line_id limit 1""", (watermark + 1,))
    try:
        failed = run_test()
        assert failed.returncode != 0 and "Got 1 result" in failed.stdout, failed.stdout[-2000:]
        assert stored_watermark() == [(watermark,)]
        # The same orphan in a row written before the watermark: out of the window.
        query(once, "update gold.fct_order_lines set source_load_order = 0 "
                    "where order_line_id > 1000000000")
        assert run_test().returncode == 0
        full = run_test("--vars", "{full_tests: true}")
        assert full.returncode != 0 and "Got 1 result" in full.stdout, full.stdout[-2000:]
        # A watermark stored for other code of the models the test reads is not used.
        query(once, "update audit.test_watermarks set inputs_checksum = 'older code' "
                    "where test_id = %s", (test_id,))
        assert run_test().returncode != 0
    finally:
        query(once, "delete from gold.fct_order_lines where order_line_id > 1000000000")
    assert run_test().returncode == 0
    assert stored_watermark() == [(watermark,)]


def test_changed_rows_tests_compile_before_any_build(warehouse_env):
    """`dbt compile` runs no hooks, so the watermark table may not exist yet: the tests
    then compile to read every row."""
    fresh = empty_database(warehouse_env, "e2e_never_built")
    result = dbt.run_dbt(fresh, ["compile", "--select", "test_name:relationships,fct_orders"],
                         capture=True)
    assert result.returncode == 0, result.stdout[-2000:]
    compiled = (fresh.project_dir / "target" / "compiled").rglob("relationships_fct_orders_*.sql")
    texts = [path.read_text() for path in compiled]
    assert len(texts) == 2 and not any("changed_rows" in text for text in texts)


def test_revenue_reconciles_with_silver_per_day(built):
    once, _, _ = built
    mismatches = query(once, """
        with silver as (
            select orders.order_date, sum(lines.net_amount) as net, sum(lines.quantity) as quantity
            from silver.stg_erp__order_lines as lines
            join silver.stg_erp__orders as orders using (order_id)
            group by 1),
        gold as (
            select order_date, sum(net_amount) as net, sum(quantity) as quantity
            from gold.fct_order_lines group by 1)
        select * from silver full join gold using (order_date)
        where silver.net is distinct from gold.net or silver.quantity is distinct from gold.quantity""")
    assert mismatches == []
    assert query(once, "select count(*) from gold.fct_order_lines")[0][0] > 5000


def readme_queries():
    """The analysts' SQL examples: the README's and docs/querying.md's."""
    root = Path(__file__).resolve().parents[2]
    text = "".join(path.read_text() for path in [root / "README.md", root / "docs" / "querying.md"])
    return re.findall(r"```sql\n(.*?)```", text, flags=re.S)


def test_readme_example_queries_run(built):
    once, _, _ = built
    queries = readme_queries()
    assert len(queries) >= 4
    for sql in queries:
        rows = query(once, sql)
        assert rows, sql


def test_backup_drop_restore_round_trip_keeps_gold_identical(built, tmp_path):
    from runner.core import backup as backups

    once, _, _ = built
    before = gold_state(once)
    made = backups.backup(once, tmp_path / "backups")
    conn = embedded.connect(once)
    with conn, conn.cursor() as cur:
        cur.execute("drop schema gold cascade")
    conn.close()
    backups.restore(once, made, once.dbname, dest=tmp_path / "backups", confirmed=True)
    assert gold_state(once) == before


def test_analyst_reads_gold_and_nothing_else(built, monkeypatch):
    import psycopg2

    from runner.core import roles

    once, _, _ = built
    monkeypatch.setenv("WAREHOUSE_ANALYST_PASSWORD", "analyst-test-pw")
    made = {role.kind: role for role in roles.ensure_roles(once)}
    (once.home / "roles.json").unlink()  # later tests build as the superuser, as before
    assert made["analyst"].password_source == "WAREHOUSE_ANALYST_PASSWORD"
    conn = psycopg2.connect(host=once.host, port=once.port, dbname=once.dbname,
                            user=made["analyst"].name, password="analyst-test-pw")
    conn.autocommit = True
    with conn.cursor() as cur:
        # Privileges, not the read-only default (a session may switch it off), stop writes.
        cur.execute("set default_transaction_read_only = off")
        cur.execute("select count(*) from gold.fct_order_lines")
        assert cur.fetchone()[0] > 0
        cur.execute("select count(distinct email_hash) from gold.dim_customers")
        forbidden = [
            "select * from bronze.erp_orders limit 1",
            "select * from silver.stg_crm__customers limit 1",
            "select * from silver.int_rejected_rows limit 1",
            "select * from snapshots.snp_crm__customers limit 1",
            "insert into gold.dim_date (date_key, calendar_date) values (1, current_date)",
            "delete from gold.fct_orders",
            "create table gold.mine (x int)",
            "create table public.mine (x int)",
            "create schema mine",
        ]
        for statement in forbidden:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(statement)
    conn.close()


def test_every_gold_example_query_runs_and_answers(built):
    """The example query at the end of each gold model's description runs on a built
    warehouse and returns rows: what the docs site shows an analyst works."""
    import re

    once, _, _ = built
    manifest = json.loads((PROJECT_DIR / "target" / "manifest.json").read_text())
    examples = {node["name"]: re.search(r"Example: `([^`]+)`", node["description"]).group(1)
                for node in manifest["nodes"].values()
                if node["resource_type"] == "model" and node["fqn"][1] == "marts"}
    assert len(examples) >= 14
    for name, example in examples.items():
        assert query(once, f"select count(*) from ({example}) as example")[0][0] > 0, name


def test_gold_holds_no_clear_personal_data(built):
    once, _, _ = built
    columns = {row[0] for row in query(once, """
        select column_name from information_schema.columns where table_schema = 'gold'""")}
    assert not columns & {"email", "phone_number", "first_name", "last_name", "address_line1", "postal_code"}
    emails = {row[0] for row in query(once, "select email from silver.stg_crm__customers where email is not null")}
    hashes = {row[0] for row in query(once, "select email_hash from gold.dim_customers where email_hash is not null")}
    assert hashes and not hashes & emails
    # consistent: as many distinct hashes as distinct emails among snapshotted customers
    assert query(once, """select count(distinct email) = count(distinct email_hash)
        from snapshots.snp_crm__customers join gold.dim_customers on dbt_scd_id = customer_key""")[0][0]


def test_killed_build_recovers_to_the_same_gold(built, landing):
    import os
    import signal
    import subprocess
    import sys
    import time

    once, daily, _ = built
    full, history, _ = landing
    _, day = gen.next_day(full)
    for path in full.glob(f"*__{day}.*"):
        shutil.copy(path, history)
    loader.load(daily, history)
    build(daily)

    loader.load(once, full)
    env = {**os.environ, "WAREHOUSE_DB": once.dbname}
    process = subprocess.Popen([sys.executable, "-m", "runner.cli", "build", "--skip-freshness"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 300
    in_gold = False
    while time.monotonic() < deadline and process.poll() is None:
        active = query(once, """select count(*) from pg_stat_activity
            where datname = current_database() and state = 'active'
            and query ilike '%%"gold"."fct_order_lines%%'""")[0][0]
        if active:
            in_gold = True
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert in_gold, "the build finished before it reached gold; nothing was interrupted"

    build(once)
    assert gold_state(once) == gold_state(daily)


def test_late_source_fails_runner_build(built, run_cli, monkeypatch):
    once, _, _ = built
    # Freshness reads the load log: the products file was last loaded three days ago.
    late = "update bronze.load_log set started_at = started_at - interval '3 days' " \
        "where entity = 'products'"
    query(once, late)
    monkeypatch.setenv("WAREHOUSE_DB", once.dbname)
    result = run_cli("build", "--select", "dim_date")
    assert result.exit_code == 1
    assert "`dbt source freshness` reports a source late beyond its error threshold" in result.output
    query(once, late.replace("- interval", "+ interval"))
    assert run_cli("build", "--select", "dim_date").exit_code == 0


# Last in the module: these two add a batch to `daily` and to `once`.
def test_full_refresh_with_a_pending_batch_rebuilds_the_snapshot_inputs(
        built, landing, tmp_path):
    """The snapshots' inputs are built in the same `dbt build` as the replay node that reads
    them: with --full-refresh they are rebuilt from scratch, like every other model."""
    _, daily, _ = built
    full, _, _ = landing
    extra = tmp_path / "landing"
    shutil.copytree(full, extra)  # every batch `daily` has, and the generator's state
    gen.next_day(extra)
    assert {r.status for r in loader.load(daily, extra)} == {"loaded", "skipped"}
    tables = ("silver.base_crm__customers", "silver.base_erp__products",
              "silver.base_erp__stores", "silver.country_codes", "silver.base_erp__orders")
    oids = {table: query(daily, f"select '{table}'::regclass::oid")[0][0] for table in tables}
    outcome = builder.run_build(daily, ["--full-refresh"])
    assert outcome.build_returncode == 0 and len(outcome.replayed) == 1
    for table in tables:  # a new table each: rebuilt, not merged into
        assert query(daily, f"select '{table}'::regclass::oid")[0][0] != oids[table], table


def test_a_customer_whose_orders_are_all_cancelled_leaves_the_lifetime_value_report(
        built, tmp_path):
    """The report is incremental by customer (delete+insert): a customer whose orders
    have all been cancelled yields no row to replace the old one, so a pre-hook deletes
    the rows of customers with new orders first."""
    once, _, _ = built
    (customer_id,) = query(once, """select customer_id from gold.rpt_customer_lifetime_value
        order by order_count desc, customer_id limit 1""")[0]
    (batch_date,) = query(once, """select (max(batch_date) + 1)::text from bronze.load_log""")[0]
    orders = query(once, """
        select order_id, customer_id, store_id,
            to_char(ordered_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS'), currency_code
        from silver.stg_erp__orders where customer_id = %s""", (customer_id,))
    assert len(orders) > 1
    assert query(once, """select count(*) > 0 from gold.agg_customer_activity_monthly
        where customer_id = %s""", (customer_id,)) == [(True,)]
    (tmp_path / f"erp__orders__{batch_date}.csv").write_text("\n".join(
        ["order_id,customer_id,store_id,order_ts,status,currency,updated_at,promo_code"]
        + [f"{order_id},{customer},{store},{ordered_at},cancelled,{currency},"
           f"{batch_date} 18:00:00," for order_id, customer, store, ordered_at, currency in orders]
    ) + "\n")
    assert [r.status for r in loader.load(once, tmp_path)] == ["loaded"]
    build(once)
    assert query(once, """select count(*) from gold.fct_orders
        where customer_id = %s and not is_cancelled""", (customer_id,)) == [(0,)]
    assert query(once, """select count(*) from gold.rpt_customer_lifetime_value
        where customer_id = %s""", (customer_id,)) == [(0,)]
    assert query(once, """select count(*) from gold.agg_customer_activity_monthly
        where customer_id = %s""", (customer_id,)) == [(0,)]
