"""The numbers analysts read: each metric defined once, safe to sum, the same in every table.

One warehouse is built from sample data (scale 0.01). Each KPI in the reports and
aggregates is compared with the same metric from MetricFlow (`mf query`); the documented
queries are run and those answering the same question must agree; counts that must not
be summed are shown to overcount when summed; revenue is in one currency; the unknown
members follow one convention; gold carries its descriptions as comments. The singular
dbt tests that reconcile gold are shown to fail on a planted defect.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import PROJECT_DIR, built_sample, query
from runner.core import dbt

DOCS = PROJECT_DIR / "docs" / "querying.md"
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def built(database, tmp_path_factory):
    built_sample(database, tmp_path_factory.mktemp("landing"))
    return database


def mf_query(settings, tmp_path, metrics, group_by, *extra):
    """`mf query` as an analyst runs it from the repository; the rows as dicts."""
    out = tmp_path / f"mf_{len(list(tmp_path.iterdir()))}.csv"
    mf = Path(sys.executable).parent / "mf"
    result = subprocess.run(
        [str(mf), "query", "--metrics", ",".join(metrics), "--group-by", ",".join(group_by),
         "--csv", str(out), *extra],
        cwd=PROJECT_DIR, env=dbt.dbt_environment(settings), capture_output=True, text=True)
    assert result.returncode == 0 and out.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    with out.open() as handle:
        return list(csv.DictReader(handle))


def month(value: str) -> str:
    return value[:10]


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def documented_queries() -> dict[str, str]:
    """docs/querying.md's SQL examples by their first comment line."""
    blocks = re.findall(r"```sql\n(.*?)```", DOCS.read_text(), flags=re.S)
    return {block.splitlines()[0]: block for block in blocks}


def run_dbt_test(settings, name):
    return dbt.run_dbt(settings, ["test", "--select", name], capture=True)


def test_each_kpi_equals_the_metricflow_metric(built, tmp_path):
    """rpt_business_kpis_monthly and the aggregates show, month by month, what MetricFlow
    computes from the one definition in the semantic layer."""
    metrics = ["net_revenue_eur", "orders", "average_order_value_eur", "active_customers",
               "new_customers"]
    from_mf = {month(row["metric_time__month"]): row
               for row in mf_query(built, tmp_path, metrics, ["metric_time__month"])}
    kpis = query(built, """
        select kpi_month::text, net_revenue_amount_eur, order_count,
            average_order_value_amount_eur, active_customers_in_month, new_customers
        from gold.rpt_business_kpis_monthly""")
    assert len(kpis) == len(from_mf) >= 24
    for kpi_month, revenue, orders, aov, active, new in kpis:
        metric = from_mf[kpi_month]
        assert money(metric["net_revenue_eur"]) == revenue, kpi_month
        assert int(metric["orders"]) == orders, kpi_month
        assert money(metric["average_order_value_eur"]) == aov, kpi_month
        assert int(metric["active_customers"]) == active, kpi_month
        assert int(metric["new_customers"]) == new, kpi_month

    aggregates = {
        "agg_sales_monthly": "select sales_month::text, sum(net_revenue_amount_eur) "
                             "from gold.agg_sales_monthly group by 1",
        "agg_sales_daily": "select date_trunc('month', order_date)::date::text, "
                           "sum(net_revenue_amount_eur) from gold.agg_sales_daily group by 1",
        "agg_sales_product_monthly": "select sales_month::text, sum(net_revenue_amount_eur) "
                                     "from gold.agg_sales_product_monthly group by 1",
        "agg_customer_activity_monthly": "select activity_month::text, sum(net_revenue_amount_eur) "
                                         "from gold.agg_customer_activity_monthly group by 1",
    }
    for table, sql in aggregates.items():
        revenue = dict(query(built, sql))
        assert revenue == {m: money(row["net_revenue_eur"]) for m, row in from_mf.items()}, table
    activity = query(built, """select activity_month::text, sum(order_count), count(*)
        from gold.agg_customer_activity_monthly group by 1""")
    for activity_month, orders, active in activity:
        assert (orders, active) == (int(from_mf[activity_month]["orders"]),
                                    int(from_mf[activity_month]["active_customers"]))

    # Retention per cohort and month offset, and lifetime value per current segment.
    retention = mf_query(built, tmp_path, ["retention_rate"],
                         ["metric_time__month", "cohort_period__months_since_first_order"])
    expected = dict(((c, int(k)), r) for c, k, r in query(built, """
        select cohort_month::text, months_since_first_order, retention_rate
        from gold.rpt_cohort_retention"""))
    assert len(retention) == len(expected) > 100
    for row in retention:
        key = (month(row["metric_time__month"]),
               int(row["cohort_period__months_since_first_order"]))
        assert Decimal(row["retention_rate"]).quantize(Decimal("0.0001")) == expected[key], key
    lifetime = mf_query(built, tmp_path, ["average_lifetime_value_eur"],
                        ["customer__customer_segment"])
    expected = dict(query(built, """select customer_segment,
        round(sum(lifetime_revenue_amount_eur) / count(*), 2)
        from gold.rpt_customer_lifetime_value group by 1"""))
    assert {row["customer__customer_segment"]: money(row["average_lifetime_value_eur"])
            for row in lifetime} == expected


def test_orders_by_region_counts_each_order_once(built, tmp_path):
    """The documented query for orders by region gives the true count (orders not
    cancelled with an accepted line, from silver); summing the per-category counts, the
    mistake the docs warn about, counts orders with several categories more than once."""
    sql = documented_queries()["-- Orders by region and month: count orders in fct_orders (summing agg_sales_monthly's"]
    documented = query(built, sql)
    truth = query(built, """
        select count(distinct orders.order_id)
        from silver.stg_erp__orders as orders
        inner join silver.stg_erp__order_lines as lines using (order_id)
        where orders.order_status != 'cancelled'""")[0][0]
    assert sum(orders for _, _, orders in documented) == truth > 1000
    summed_wrongly = query(built, "select sum(distinct_orders_in_category) "
                                  "from gold.agg_sales_monthly")[0][0]
    assert summed_wrongly > truth
    by_region = mf_query(built, tmp_path, ["orders"],
                         ["metric_time__month", "store_version__region"])
    assert sorted((month(row["metric_time__month"]), row["store_version__region"],
                   int(row["orders"])) for row in by_region) == sorted(
        (str(sales_month), region, orders) for sales_month, region, orders in documented)


def test_documented_queries_for_the_same_question_agree(built):
    """docs/querying.md's two "top 10 products" queries rank the same products with the
    same revenue; every documented query returns rows."""
    queries = documented_queries()
    assert len(queries) >= 6
    answers = {title: query(built, sql) for title, sql in queries.items()}
    assert all(answers.values()), [title for title, rows in answers.items() if not rows]
    top_products = [rows for title, rows in answers.items()
                    if title.startswith("-- Top 10 products by revenue")]
    assert len(top_products) == 2 and len(top_products[0]) == 10
    assert top_products[0] == top_products[1]
    # Customers by current segment: real customers only.
    segments = answers["-- Customers by current segment (the unknown member is never current)"]
    assert "Unknown" not in {segment for segment, _ in segments}
    assert sum(count for _, count in segments) == query(
        built, "select count(distinct customer_id) from silver.stg_crm__customers "
               "where not is_deleted")[0][0]


def test_revenue_is_in_one_reporting_currency(built):
    """Every amount that adds across orders is in EUR, converted per line at the seed's
    rate for the order date; the facts keep the order's own currency beside it."""
    currencies = {row[0] for row in query(
        built, "select distinct currency_code from gold.fct_order_lines")}
    assert currencies == {"EUR", "USD", "GBP"}
    recomputed = query(built, """
        with rates as (
            select currency_code, valid_from, units_per_eur,
                lead(valid_from) over (partition by currency_code order by valid_from) as until
            from silver.exchange_rates)
        select stores.region, sum(round(lines.gross_amount / rates.units_per_eur, 2)
                                  - round(lines.discount_amount / rates.units_per_eur, 2))
        from silver.stg_erp__order_lines as lines
        inner join silver.stg_erp__orders as orders using (order_id)
        inner join silver.stg_erp__stores as stores using (store_id)
        inner join rates on orders.currency_code = rates.currency_code
            and orders.order_date >= rates.valid_from
            and orders.order_date < coalesce(rates.until, 'infinity')
        where orders.order_status != 'cancelled'
        group by 1""")
    by_region = query(built, "select region, sum(net_revenue_amount_eur) "
                             "from gold.agg_sales_monthly group by 1")
    assert dict(by_region) == dict(recomputed)
    native = query(built, """select sum(net_amount) filter (where currency_code = 'GBP'),
        sum(net_amount_eur) filter (where currency_code = 'GBP')
        from gold.fct_order_lines""")[0]
    assert native[1] > native[0]  # a pound buys more than a euro: converted, not relabelled
    columns = {row[0] for row in query(built, """select column_name
        from information_schema.columns where table_schema = 'gold'
        and table_name like any (array['agg%%', 'rpt_business%%', 'rpt_customer%%'])
        and data_type = 'numeric' and column_name not like '%%rate'""")}
    assert columns and all(column.endswith("_eur") for column in columns), columns


def test_unknown_members_follow_one_convention(built):
    """Each dimension's '-1' row: flagged, never current, labels 'Unknown', codes null;
    no other spelling of unknown anywhere in gold; a customer the CRM never sent is not
    'no longer in the CRM'."""
    for dimension, key, labels, codes in [
        ("dim_customers", "customer_key", ["city", "customer_segment", "loyalty_tier"],
         ["country_code", "email_hash", "postal_area"]),
        ("dim_products", "product_key", ["product_name", "category", "subcategory", "brand"],
         ["sku", "currency_code"]),
        ("dim_stores", "store_key", ["store_name", "sales_channel", "city", "region"],
         ["country_code"]),
    ]:
        rows = query(built, f"""select is_unknown_member, is_current, {', '.join(labels + codes)}
            from gold.{dimension} where {key} = '-1'""")
        assert rows == [(True, False, *["Unknown"] * len(labels), *[None] * len(codes))], dimension
        assert query(built, f"select count(*) from gold.{dimension} "
                            f"where is_unknown_member != ({key} = '-1')")[0][0] == 0
    spellings = query(built, """
        select distinct value from (
            select customer_segment from gold.dim_customers
            union all select city from gold.dim_customers
            union all select sales_channel from gold.dim_stores
            union all select region from gold.dim_stores
            union all select store_name from gold.dim_stores
            union all select product_name from gold.dim_products
            union all select category from gold.dim_products
            union all select customer_segment from gold.rpt_customer_lifetime_value
        ) as labels (value)
        where lower(value) like '%%unknown%%'""")
    assert spellings == [("Unknown",)]
    never_in_crm = query(built, """
        select customer_segment, country_code, current_customer_key, is_no_longer_in_crm
        from gold.rpt_customer_lifetime_value
        where customer_id not in (select customer_id from gold.dim_customers)""")
    assert never_in_crm and set(never_in_crm) == {("Unknown", None, "-1", False)}


def test_gold_tables_and_columns_carry_their_descriptions(built):
    """persist_docs: psql's \\d+ and a BI tool show every gold table's and column's
    description."""
    tables, described_tables, columns, described_columns = query(built, """
        select count(distinct tables.oid),
            count(distinct tables.oid) filter (where obj_description(tables.oid) is not null),
            count(*),
            count(*) filter (where col_description(tables.oid, attributes.attnum) is not null)
        from pg_class as tables
        inner join pg_namespace on pg_namespace.oid = tables.relnamespace
        inner join pg_attribute as attributes
            on attributes.attrelid = tables.oid and attributes.attnum > 0
            and not attributes.attisdropped
        where pg_namespace.nspname = 'gold' and tables.relkind in ('r', 'p')""")[0]
    assert tables >= 14 and columns > 180
    assert (described_tables, described_columns) == (tables, columns)
    comment = query(built, "select col_description('gold.fct_order_lines'::regclass, "
                           "(select attnum from pg_attribute where attname = 'line_load_order' "
                           "and attrelid = 'gold.fct_order_lines'::regclass))")[0][0]
    assert comment.startswith("Lineage, not a measure")


def test_numeric_gold_columns_are_measures_or_say_why_not(built):
    """Every number in a fact, aggregate or report is a measure of the semantic layer or
    its description says it is not one (lineage, a key, a distinct count, a price, a
    ratio); a planted undocumented column is caught."""
    manifest = json.loads((PROJECT_DIR / "target" / "manifest.json").read_text())
    semantic = json.loads((PROJECT_DIR / "target" / "semantic_manifest.json").read_text())

    def problems(manifest):
        measured = {}
        for model in semantic["semantic_models"]:
            table = model["node_relation"]["alias"]
            words = set()
            for measure in model["measures"]:
                words |= set(re.findall(r"\w+", measure.get("expr") or measure["name"]))
            measured[table] = words
        found = []
        for node in manifest["nodes"].values():
            if node["resource_type"] != "model" or node["fqn"][1] != "marts" \
                    or not re.match(r"(fct|agg|rpt)_", node["name"]) \
                    or node["name"] == "rpt_data_quality_batches":
                continue
            for column in node["columns"].values():
                numeric = re.match(r"(integer|bigint|numeric)", column.get("data_type") or "")
                said = re.search(r"not a measure|never sum|not additive|a key",
                                 column["description"])
                if numeric and column["name"] not in measured.get(node["name"], set()) \
                        and not said and column["name"] not in ADDITIVE[node["name"]]:
                    found.append(f"{node['name']}.{column['name']}")
        return found

    assert problems(manifest) == []
    planted = json.loads(json.dumps(manifest))
    lines = planted["nodes"]["model.warehouse.fct_order_lines"]["columns"]
    lines["line_number"]["description"] = "Position of the line in its order."
    assert problems(planted) == ["fct_order_lines.line_number"]


# Additive columns of the reports and aggregates analysts sum directly (each described
# as such); the facts' additive columns are measures of the semantic layer.
ADDITIVE = {
    "fct_order_lines": {"quantity", "gross_amount", "discount_amount", "net_amount"},
    "fct_orders": {"line_count", "quantity", "gross_amount", "discount_amount", "net_amount",
                   "gross_amount_eur", "discount_amount_eur", "net_amount_eur"},
    "agg_sales_daily": {"line_count", "quantity", "gross_amount_eur", "discount_amount_eur",
                        "net_revenue_amount_eur", "cancelled_amount_eur"},
    "agg_sales_monthly": {"line_count", "quantity", "gross_amount_eur", "discount_amount_eur",
                          "net_revenue_amount_eur", "cancelled_amount_eur"},
    "agg_sales_product_monthly": {"line_count", "quantity", "net_revenue_amount_eur",
                                  "cancelled_amount_eur"},
    "agg_customer_activity_monthly": {"order_count", "net_revenue_amount_eur"},
    "rpt_customer_lifetime_value": {"order_count", "customer_tenure_days"},
    "rpt_cohort_retention": {"months_since_first_order"},
    "rpt_business_kpis_monthly": {"net_revenue_amount_eur", "order_count", "new_customers"},
}


@pytest.mark.parametrize("test_name, defect, repair", [
    ("assert_kpis_agree_across_gold",
     "update gold.rpt_business_kpis_monthly set order_count = order_count + {step} "
     "where kpi_month = (select min(kpi_month) from gold.rpt_business_kpis_monthly)", True),
    ("assert_category_order_counts_are_distinct_orders",
     "update gold.agg_sales_daily set distinct_orders_in_category = "
     "distinct_orders_in_category + {step} where order_date = (select min(order_date) "
     "from gold.agg_sales_daily)", True),
    ("assert_dim_date_covers_every_order_without_gaps",
     "delete from gold.dim_date where calendar_date = date '2024-06-01'", False),
])
def test_gold_reconciliation_tests_fail_on_a_planted_defect(built, test_name, defect, repair):
    assert run_dbt_test(built, test_name).returncode == 0
    query(built, defect.format(step=1))
    try:
        failed = run_dbt_test(built, test_name)
        assert failed.returncode != 0 and "FAIL" in failed.stdout, failed.stdout[-2000:]
    finally:
        if repair:
            query(built, defect.format(step=-1))
        else:
            rebuilt = dbt.run_dbt(built, ["run", "--select", "dim_date"], capture=True)
            assert rebuilt.returncode == 0, rebuilt.stdout[-2000:]
    assert run_dbt_test(built, test_name).returncode == 0
