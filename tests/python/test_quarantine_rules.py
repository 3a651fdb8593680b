"""No single source value can stop silver or gold.

Every constraint a silver or gold contract enforces (read from dbt's manifest) must have a
quarantine rule in front of it: `COVERS` maps each one to the landing rows that would break
it (each must end in silver.int_rejected_rows under its named rule) or says why no source
value can reach it. A constraint added without an entry here fails
test_every_enforced_constraint_has_a_rule_in_front.

On top of those, a sweep writes one row per hostile value for every source column
(boundary dates both ways, 8 kB+ random text, control characters, huge and tiny numbers,
case and accent variants of every accepted value, JSON of the wrong type) and builds them
all at once, twice and then from scratch: nothing a landing file holds may stop gold.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import string

import pytest
import yaml

from conftest import PROJECT_DIR, built_sample, query
from runner.core import build as builder
from runner.core import load as loader

# Incompressible (random) and longer than a page: too big for any btree index row.
RANDOM = random.Random(33)
LONG_TEXT = "".join(RANDOM.choice(string.ascii_letters + string.digits) for _ in range(9000))

# --- One row breaking each rule. (entity, case, changed fields, expected rule or None when
# the row is accepted with the bad value nulled and flagged.)
CASES = [
    ("store", "store_key_missing", {"store_id": ""}, "missing_key"),
    ("store", "store_key_too_long", {"store_id": LONG_TEXT}, "value_too_long"),
    ("store", "store_key_reserved", {"store_id": "-1"}, "reserved_key"),
    ("store", "store_channel_missing", {"channel": ""}, "missing_required_field"),
    ("store", "store_channel_popup", {"channel": "popup"}, "unknown_channel"),
    ("store", "store_country_atlantis", {"country": "Atlantis"}, "unknown_country"),
    ("store", "store_country_missing", {"country": ""}, "unknown_country"),
    ("product", "product_key_missing", {"product_id": ""}, "missing_key"),
    ("product", "product_key_too_long", {"product_id": LONG_TEXT}, "value_too_long"),
    ("product", "product_key_reserved", {"product_id": "-1"}, "reserved_key"),
    ("product", "product_name_missing", {"product_name": ""}, "missing_required_field"),
    ("product", "product_category_missing", {"category": ""}, "missing_required_field"),
    ("product", "product_category_too_long", {"category": LONG_TEXT}, "value_too_long"),
    ("product", "product_price_missing", {"unit_price": ""}, "missing_required_field"),
    ("product", "product_price_below_a_cent", {"unit_price": "0.004"}, "invalid_price"),
    ("product", "product_update_unparseable", {"updated_at": "0000-01-01 00:00:00"},
     "unparseable_date"),
    ("customer", "customer_key_missing", {"customer_id": None}, "missing_key"),
    ("customer", "customer_key_too_long", {"customer_id": LONG_TEXT}, "value_too_long"),
    ("customer", "customer_key_reserved", {"customer_id": "-1"}, "reserved_key"),
    ("customer", "customer_segment_unknown", {"segment": "Reseller"}, "unknown_segment"),
    ("customer", "customer_update_unparseable", {"updated_at": "0000-01-01 00:00:00"},
     "unparseable_date"),
    ("customer", "customer_email_uppercase_accent", {"email": "ÉLODIE@EXAMPLE.FR"}, None),
    ("customer", "customer_phone_foreign_digits", {"phone": "+٣٣ ٦١٢ ٣٤٥ ٦٧٨"}, None),
    ("order", "order_key_missing", {"order_id": "x"}, "missing_key"),
    ("order", "order_customer_missing", {"customer_id": ""}, "missing_required_field"),
    ("order", "order_store_missing", {"store_id": ""}, "missing_required_field"),
    ("order", "order_customer_too_long", {"customer_id": LONG_TEXT}, "value_too_long"),
    ("order", "order_store_too_long", {"store_id": LONG_TEXT}, "value_too_long"),
    ("order", "order_status_unknown", {"status": "lost"}, "unknown_status"),
    ("order", "order_currency_unknown", {"currency": "XXX"}, "unknown_currency"),
    ("order", "order_year_zero", {"order_ts": "0000-01-01 00:00:00"}, "unparseable_date"),
    # Before var company_founded_date, and so before the first exchange rate (EUR amounts).
    ("order", "order_before_the_rates", {"order_ts": "2014-12-31 23:00:00"}, "date_out_of_range"),
    ("order_line", "line_key_missing", {"order_line_id": "x"}, "missing_key"),
    ("order_line", "line_order_missing", {"order_id": ""}, "missing_required_field"),
    ("order_line", "line_product_missing", {"product_id": ""}, "missing_required_field"),
    ("order_line", "line_product_too_long", {"product_id": LONG_TEXT}, "value_too_long"),
    ("order_line", "line_quantity_zero", {"quantity": "0"}, "invalid_quantity"),
    ("order_line", "line_price_negative", {"unit_price": "-1"}, "invalid_price"),
    ("order_line", "line_discount_negative", {"discount_amount": "-1"}, "invalid_price"),
    ("order_line", "line_discount_above_gross", {"discount_amount": "100"}, "invalid_price"),
]

# Gold and quality models computed from accepted silver rows or generated keys.
BUILT = "computed from accepted silver rows and generated keys; no source value reaches it"
MEMBER = "keyed to the dimension's missing member when the version is not found"
SNAPSHOT = "the snapshot's validity start: updated_at (not null in silver) or the batch end"
UNKNOWN = "a literal: true on the unknown member's row, false on every version"
RATES = ["order_currency_unknown", "order_before_the_rates"]

# Every enforced constraint of every contracted model -> the cases breaking it, or why no
# single source value can.
COVERS = {
    "stg_erp__stores.store_id: primary_key": ["store_key_missing", "store_key_too_long"],
    "stg_erp__stores.sales_channel: check sales_channel in ('store', 'online')":
        ["store_channel_missing", "store_channel_popup"],
    "stg_erp__stores.country_code: not_null": ["store_country_atlantis", "store_country_missing"],
    "stg_erp__products.product_id: primary_key": ["product_key_missing", "product_key_too_long"],
    "stg_erp__products.product_name: not_null": ["product_name_missing"],
    "stg_erp__products.category: not_null": ["product_category_missing"],
    "stg_erp__products.unit_price_amount: not_null": ["product_price_missing"],
    "stg_erp__products.unit_price_amount: check unit_price_amount >= 0.01":
        ["product_price_below_a_cent"],
    "stg_crm__customers.customer_id: primary_key": ["customer_key_missing", "customer_key_too_long"],
    "stg_crm__customers.email: check email ~ '^[a-z0-9._%+-]+@[a-z0-9-]+(\\.[a-z0-9-]+)*\\.[a-z]{2,}$'":
        ["customer_email_uppercase_accent"],
    "stg_crm__customers.phone_number: check phone_number ~ '^\\+[1-9][0-9]{7,14}$'":
        ["customer_phone_foreign_digits"],
    "stg_crm__customers.customer_segment: check customer_segment in ('consumer', 'small business', 'vip')":
        ["customer_segment_unknown"],
    "stg_crm__customers.is_deleted: not_null": "a coalesce of booleans, never null",
    "stg_crm__customers.updated_at: not_null": ["customer_update_unparseable"],
    "stg_erp__orders.order_id: primary_key": ["order_key_missing"],
    "stg_erp__orders.customer_id: not_null": ["order_customer_missing"],
    "stg_erp__orders.store_id: not_null": ["order_store_missing"],
    "stg_erp__orders.order_status: check order_status in ('completed', 'shipped', 'pending', 'cancelled')":
        ["order_status_unknown"],
    "stg_erp__orders.currency_code: check currency_code in ('GBP', 'USD', 'EUR')":
        ["order_currency_unknown"],
    "stg_erp__orders.ordered_at: not_null": ["order_year_zero"],
    "stg_erp__order_lines.order_line_id: primary_key": ["line_key_missing"],
    "stg_erp__order_lines.order_id: not_null": ["line_order_missing"],
    "stg_erp__order_lines.product_id: not_null": ["line_product_missing", "line_product_too_long"],
    "stg_erp__order_lines.quantity: check quantity >= 1": ["line_quantity_zero"],
    "stg_erp__order_lines.unit_price_amount: check unit_price_amount >= 0": ["line_price_negative"],
    "stg_erp__order_lines.discount_amount: check discount_amount >= 0": ["line_discount_negative"],
    "stg_erp__order_lines.net_amount: check net_amount >= 0": ["line_discount_above_gross"],
    "int_rejected_rows.entity: not_null": "a literal per entity",
    "int_rejected_rows.entity: check entity in ('customer', 'product', 'store', 'order', 'order_line')":
        "a literal per entity",
    "int_rejected_rows.rejection_reason: not_null": "only rows with a reason are selected",
    "int_rejected_rows.raw_record: not_null": "the bronze row as JSON, never null",
    "int_rejected_rows._load_order: not_null": "assigned by the loader",
    "int_rejected_rows.entity,_load_order: primary_key": "the loader's order is unique",
    "int_quality__customers_by_batch.batch_date: primary_key": "grouped by batch",
    "int_quality__order_lines_by_batch.batch_date: primary_key": "grouped by batch",
    "int_quality__orders_by_batch.batch_date: primary_key": "grouped by batch",
    "int_quality__products_by_batch.batch_date: primary_key": "grouped by batch",
    "int_quality__stores_by_batch.batch_date: primary_key": "grouped by batch",
    "dim_stores.store_key: primary_key": ["store_key_reserved"],
    "dim_stores.store_id: not_null": ["store_key_missing"],
    "dim_stores.sales_channel: check sales_channel in ('store', 'online', 'Unknown')":
        ["store_channel_popup"],
    "dim_stores.valid_from: not_null": SNAPSHOT,
    "dim_products.product_key: primary_key": ["product_key_reserved"],
    "dim_products.product_id: not_null": ["product_key_missing"],
    "dim_products.category: not_null": ["product_category_missing"],
    "dim_products.unit_price_amount: check unit_price_amount >= 0.01": ["product_price_below_a_cent"],
    "dim_products.valid_from: not_null": ["product_update_unparseable"],
    "dim_customers.customer_key: primary_key": ["customer_key_reserved"],
    "dim_customers.customer_id: not_null": ["customer_key_missing"],
    "dim_customers.valid_from: not_null": ["customer_update_unparseable"],
    "dim_customers.is_unknown_member: not_null": UNKNOWN,
    "dim_products.is_unknown_member: not_null": UNKNOWN,
    "dim_stores.is_unknown_member: not_null": UNKNOWN,
    "dim_date.date_key: primary_key": "a generated calendar",
    "dim_date.calendar_date: not_null": "a generated calendar",
    "dim_date.fiscal_quarter: check fiscal_quarter between 1 and 4": "a generated calendar",
    "fct_orders.order_id: primary_key": ["order_key_missing"],
    "fct_orders.customer_key: not_null": MEMBER,
    "fct_orders.store_key: not_null": MEMBER,
    "fct_orders.date_key: not_null": ["order_year_zero"],
    "fct_orders.order_date: not_null": ["order_year_zero"],
    "fct_orders.net_amount: check net_amount >= 0": ["line_discount_above_gross"],
    "fct_order_lines.order_line_id: primary_key": ["line_key_missing"],
    "fct_order_lines.order_id: not_null": ["line_order_missing"],
    "fct_order_lines.customer_key: not_null": MEMBER,
    "fct_order_lines.product_key: not_null": MEMBER,
    "fct_order_lines.store_key: not_null": MEMBER,
    "fct_order_lines.date_key: not_null": ["order_year_zero"],
    "fct_order_lines.order_date: not_null": ["order_year_zero"],
    "fct_order_lines.quantity: check quantity > 0": ["line_quantity_zero"],
    "fct_order_lines.discount_amount: check discount_amount >= 0": ["line_discount_negative"],
    "fct_order_lines.net_amount: check net_amount >= 0": ["line_discount_above_gross"],
    # An order's currency is one the rates seed has (unknown_currency) and its date is not
    # before the first rate (date_out_of_range), so every line converts.
    "fct_order_lines.gross_amount_eur: not_null": RATES,
    "fct_order_lines.discount_amount_eur: not_null": RATES,
    "fct_order_lines.net_amount_eur: not_null": RATES,
    "fct_orders.gross_amount_eur: not_null": RATES,
    "fct_orders.discount_amount_eur: not_null": RATES,
    "fct_orders.net_amount_eur: not_null": RATES,
    "agg_sales_daily.order_date: not_null": BUILT,
    "agg_sales_daily.net_revenue_amount_eur: check net_revenue_amount_eur >= 0": BUILT,
    "agg_sales_daily.order_date,store_id,product_category: primary_key":
        ["product_category_too_long", "store_key_too_long"],
    "agg_sales_monthly.sales_month: not_null": BUILT,
    "agg_sales_monthly.sales_month,store_id,product_category: primary_key":
        ["product_category_too_long", "store_key_too_long"],
    "agg_sales_product_monthly.sales_month: not_null": BUILT,
    "agg_sales_product_monthly.product_id: not_null": BUILT,
    "agg_sales_product_monthly.net_revenue_amount_eur: check net_revenue_amount_eur >= 0": BUILT,
    "agg_sales_product_monthly.sales_month,product_id: primary_key": ["product_key_too_long"],
    "agg_customer_activity_monthly.customer_id: not_null": BUILT,
    "agg_customer_activity_monthly.activity_month: not_null": BUILT,
    "agg_customer_activity_monthly.order_count: check order_count > 0": BUILT,
    "agg_customer_activity_monthly.first_order_month: not_null": BUILT,
    "agg_customer_activity_monthly.customer_id,activity_month: primary_key":
        ["customer_key_too_long", "order_customer_too_long"],
    "agg_customer_activity_monthly.: check first_order_month <= activity_month": BUILT,
    "rpt_business_kpis_monthly.kpi_month: primary_key": BUILT,
    "rpt_cohort_retention.cohort_month: not_null": BUILT,
    "rpt_cohort_retention.months_since_first_order: not_null": BUILT,
    "rpt_cohort_retention.months_since_first_order: check months_since_first_order >= 0": BUILT,
    "rpt_cohort_retention.retention_rate: check retention_rate between 0 and 1": BUILT,
    "rpt_cohort_retention.cohort_month,months_since_first_order: primary_key": BUILT,
    "rpt_customer_lifetime_value.customer_id: primary_key":
        ["customer_key_too_long", "order_customer_too_long"],
    "rpt_customer_lifetime_value.order_count: check order_count >= 1": BUILT,
    "rpt_customer_lifetime_value.customer_tenure_days: check customer_tenure_days >= 0": BUILT,
    "rpt_data_quality_batches.entity: not_null": BUILT,
    "rpt_data_quality_batches.batch_date: not_null": BUILT,
    "rpt_data_quality_batches.rows_collapsed: check rows_collapsed >= 0": BUILT,
    "rpt_data_quality_batches.quality_score: not_null": BUILT,
    "rpt_data_quality_batches.quality_score: check quality_score between 0 and 1": BUILT,
    "rpt_data_quality_batches.entity,batch_date: primary_key": BUILT,
}

# --- The sweep: hostile values by kind of column, one row each.
TEXT = ["", " ", "-1", "\t\r\n", LONG_TEXT, "\x01\x02\x1b[31m\x7f", "line\nbreak", "\u00a0nbsp\u2003",
        "\u200bzero\u200dwidth", "\u202eevil", "😀", "\"quoted\"", "'; drop table x; --", "NULL",
        "\\N", "Ｆｕｌｌｗｉｄｔｈ", "e\u0301", "İı"]
NUMBER = ["0", "-0", "-1", "0.004", "0.000001", "1e308", "9" * 40, "99999999999999999999",
          "9223372036854775808", "-9223372036854775808", "2147483648", "32768", "NaN",
          "Infinity", "١٢", "0x10", "1,5", " 7 ", "1.5e3", "." , "-"]
STAMP = ["0000-01-01 00:00:00", "0001-01-01 00:00:00", "9999-12-31 23:59:59", "1900-01-01 00:00",
         "1969-12-31 23:59:59", "2999-01-01 00:00:00", "-infinity", "infinity", "epoch", "now",
         "2024-02-30 00:00", "2024-13-01 00:00", "2024-01-01 24:00", "10000-01-01 00:00:00",
         "0000-00-00 00:00:00", "2024-01-01T00:00:00+14:00", "1999-12-31 23:59:59"]
# Number shapes for keys, none of them an id the sample already has: a line moving to
# another order is a change of its own (see the report on fct_orders), not a hostile value.
KEY = ["0", "-0", "-1", " 990399001 ", "+990399002", "990399003.0", "9" * 40,
       "99999999999999999999", "9223372036854775808", "-9223372036854775808", "1e308", "NaN",
       "١٢", "0x10", "1,5", ".", "-"]
DATE = ["0000-01-01", "0001-01-01", "9999-12-31", "1900-01-01", "2024-02-30", "infinity", "x"]


def variants(value: str) -> list[str]:
    """Case and accent variants of an accepted value."""
    accented = value.translate(str.maketrans("aeiouAEIOU", "áéíóúÁÉÍÓÚ"))
    return [value.upper(), value.title(), f"  {value.lower()}  ", accented, accented.upper(),
            value.replace("i", "ı").upper(), value.upper().replace("I", "İ")]


# The accepted value lists the base rules and the staging contracts read (var accepted_values).
ACCEPTED = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]["accepted_values"]


def accepted(name: str) -> list[str]:
    return [v for value in ACCEPTED[name] for v in variants(value)]


COLUMNS = {
    "store": {"store_id": TEXT, "store_name": TEXT, "channel": TEXT + accepted("sales_channel"),
              "city": TEXT, "country": TEXT + variants("République française"), "opened_date": DATE},
    "product": {"product_id": TEXT, "sku": TEXT, "product_name": TEXT, "category": TEXT,
                "subcategory": TEXT, "brand": TEXT, "unit_price": NUMBER,
                "currency": TEXT + accepted("currency_code"), "updated_at": STAMP},
    "order": {"order_id": KEY + TEXT, "customer_id": TEXT, "store_id": TEXT, "order_ts": STAMP,
              "status": TEXT + accepted("order_status"),
              "currency": TEXT + accepted("currency_code"), "updated_at": STAMP,
              "promo_code": TEXT},
    "order_line": {"order_line_id": KEY + TEXT, "order_id": NUMBER + TEXT,
                   "line_number": NUMBER, "product_id": TEXT, "quantity": NUMBER,
                   "unit_price": NUMBER, "discount_amount": NUMBER, "updated_at": STAMP},
}
JSON_ODD = [None, 0, -1, 1e308, 10**30, True, [], {}, ["a"], {"a": 1}]
CUSTOMER_FIELDS = {
    "customer_id": TEXT, "first_name": TEXT, "last_name": TEXT, "email": TEXT, "phone": TEXT + NUMBER,
    "segment": TEXT + accepted("customer_segment"), "loyalty_tier": TEXT,
    "created_at": STAMP, "updated_at": STAMP, "is_deleted": ["true", "TRUE", "1", "yes"],
    "address.line1": TEXT, "address.city": TEXT, "address.postal_code": TEXT,
    "address.country": TEXT + variants("République française") + variants("Deutschland"),
}
FILES = {"store": "erp__stores", "product": "erp__products", "customer": "crm__customers",
         "order": "erp__orders", "order_line": "erp__order_lines"}
HEADERS = {
    "store": ["store_id", "store_name", "channel", "city", "country", "opened_date"],
    "product": ["product_id", "sku", "product_name", "category", "subcategory", "brand",
                "unit_price", "currency", "updated_at"],
    "order": ["order_id", "customer_id", "store_id", "order_ts", "status", "currency", "updated_at",
              "promo_code"],
    "order_line": ["order_line_id", "order_id", "line_number", "product_id", "quantity",
                   "unit_price", "discount_amount", "updated_at"],
}
# A column each case leaves alone and that tells its row apart in raw_record.
TAG = {"store": "store_name", "product": "sku", "customer": "first_name", "order": "order_id",
       "order_line": "order_line_id"}


def valid_row(entity, number, day, live):
    at = f"{day} 10:00:00"
    if entity == "store":
        return {"store_id": f"QZ-S{number}", "store_name": f"Hostile {number}", "channel": "store",
                "city": "Paris", "country": "France", "opened_date": "2016-01-01"}
    if entity == "product":
        return {"product_id": f"QZ-P{number}", "sku": f"QZ-SKU-{number}", "product_name": "Tea",
                "category": "Pantry", "subcategory": "Tea", "brand": "Acme", "unit_price": "2.50",
                "currency": "EUR", "updated_at": at}
    if entity == "customer":
        return {"customer_id": f"QZ-C{number}", "first_name": f"Hostile{number}",
                "last_name": "Test", "email": f"q{number}@example.com", "phone": "+33612345678",
                "segment": "consumer", "created_at": at, "updated_at": at,
                "address": {"line1": "1 Rue", "city": "Paris", "postal_code": "75001",
                            "country": "France"}}
    if entity == "order":
        return {"order_id": str(990300000 + number), "customer_id": live["customer"],
                "store_id": live["store"], "order_ts": at, "status": "shipped", "currency": "EUR",
                "updated_at": at, "promo_code": ""}
    return {"order_line_id": str(990300000 + number), "order_id": live["order"], "line_number": "1",
            "product_id": live["product"], "quantity": "1", "unit_price": "5.00",
            "discount_amount": "0.00", "updated_at": at}


def with_value(row, field, value):
    changed = json.loads(json.dumps(row))
    if field.startswith("address."):
        changed["address"][field.split(".", 1)[1]] = value
    else:
        changed[field] = value
    return changed


def write_rows(landing, day, rows):
    for entity, entity_rows in rows.items():
        path = landing / f"{FILES[entity]}__{day}.{'jsonl' if entity == 'customer' else 'csv'}"
        with path.open("w", newline="", encoding="utf-8") as handle:
            if entity == "customer":
                for row in entity_rows:
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            else:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(HEADERS[entity])
                writer.writerows([row[c] for c in HEADERS[entity]] for row in entity_rows)


def hostile_rows(day, live):
    """Landing rows per entity: one per rule case, one per hostile value, and an order
    line for each hostile store, product and customer; and the cases by name."""
    rows = {entity: [] for entity in FILES}
    cases = {}
    for number, (entity, case, fields, reason) in enumerate(CASES):
        row = valid_row(entity, number, day, live)
        for field, value in fields.items():
            row = with_value(row, field, value)
        rows[entity].append(row)
        cases[case] = (entity, row, reason)
    number = len(CASES)
    sweep = {entity: COLUMNS.get(entity, CUSTOMER_FIELDS) for entity in FILES}
    for entity, columns in sweep.items():
        for field, values in columns.items():
            for value in values:
                rows[entity].append(with_value(valid_row(entity, number, day, live), field, value))
                number += 1
    for field in [*CUSTOMER_FIELDS, "address"]:  # JSON of the wrong type in every field
        for value in JSON_ODD:
            rows["customer"].append(with_value(valid_row("customer", number, day, live), field, value))
            number += 1
    # Sold: every hostile store, product and customer gets an order line, so its values
    # reach the facts, the aggregates and their keys (a category is part of a key there).
    for entity, key in (("store", "store_id"), ("product", "product_id"), ("customer", "customer_id")):
        for row in list(rows[entity]):
            if not isinstance(row.get(key), str):
                continue
            order = valid_row("order", number, day, live)
            line = valid_row("order_line", number, day, live)
            number += 1
            if entity == "product":
                line["product_id"] = row[key]
            else:
                order[key] = row[key]
                line["order_id"] = order["order_id"]
                rows["order"].append(order)
            rows["order_line"].append(line)
    return rows, cases


@pytest.fixture(scope="module")
def hostile_build(database, tmp_path_factory):
    settings = database
    landing = tmp_path_factory.mktemp("hostile") / "landing"
    state, customer, store, product = built_sample(settings, landing, reuse=True)
    order = query(settings, "select order_id::text from silver.stg_erp__orders order by 1 limit 1")[0][0]
    live = {"customer": customer, "store": store, "product": product, "order": order}
    day = dt.date.fromisoformat(state.batches[-1]) + dt.timedelta(days=1)
    rows, cases = hostile_rows(day, live)
    write_rows(landing, day, rows)
    results = loader.load(settings, landing)
    fresh = {r.name: r for r in results if str(day) in r.name}
    assert sorted(r.status for r in fresh.values()) == ["loaded"] * 5, [
        (r.name, r.status, r.error) for r in fresh.values()]
    # Incremental, again (nothing left stuck), and from scratch.
    outcomes = [builder.run_build(settings, args, freshness=False).build_returncode
                for args in ([], [], ["--full-refresh"])]
    return {"settings": settings, "day": day, "cases": cases, "rows": rows,
            "outcomes": outcomes}


def constraint_ids(manifest) -> set[str]:
    found = set()
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or node["package_name"] != "warehouse":
            continue
        if not node["config"].get("contract", {}).get("enforced"):
            continue
        declared = [(c["name"], x) for c in node["columns"].values() for x in c["constraints"]]
        declared += [(",".join(x.get("columns") or []), x) for x in node["constraints"]]
        for column, constraint in declared:
            check = f" {constraint['expression']}" if constraint["type"] == "check" else ""
            found.add(f"{node['name']}.{column}: {constraint['type']}{check}")
    return found


def test_every_enforced_constraint_has_a_rule_in_front(hostile_build):
    manifest = json.loads((PROJECT_DIR / "target" / "manifest.json").read_text())
    declared = constraint_ids(manifest)
    assert sorted(declared - COVERS.keys()) == [], (
        "enforced constraints with no quarantine rule in front: add a rule to the base model "
        "and a case to CASES/COVERS here")
    assert sorted(COVERS.keys() - declared) == [], "COVERS lists constraints no contract declares"
    known = {case for _, case, _, _ in CASES}
    for key, cover in COVERS.items():
        assert isinstance(cover, str) or set(cover) <= known, key


def test_hostile_values_never_stop_the_build(hostile_build):
    assert hostile_build["outcomes"] == [0, 0, 0]


@pytest.mark.parametrize("case", [case for _, case, _, _ in CASES])
def test_each_broken_rule_is_quarantined_by_name(hostile_build, case):
    settings, day = hostile_build["settings"], hostile_build["day"]
    entity, row, reason = hostile_build["cases"][case]
    tag = {TAG[entity]: row[TAG[entity]]}
    rejected = query(settings, """
        select rejection_reason from silver.int_rejected_rows
        where entity = %s and _batch_date = %s and raw_record @> %s::jsonb""",
                     (entity, day, json.dumps(tag)))
    if reason is None:  # accepted: the bad email or phone is nulled and flagged instead
        assert rejected == []
        assert query(settings, """
            select email is null or phone_number is null, has_valid_email and has_valid_phone
            from silver.stg_crm__customers where customer_id = %s""",
                     (row["customer_id"],)) == [(True, False)]
    else:
        assert rejected == [(reason,)]


def test_every_hostile_row_is_in_silver_or_quarantine(hostile_build):
    settings, day = hostile_build["settings"], hostile_build["day"]
    for entity, model in (("store", "base_erp__stores"), ("product", "base_erp__products"),
                          ("customer", "base_crm__customers"), ("order", "base_erp__orders"),
                          ("order_line", "base_erp__order_lines")):
        parsed = query(settings, f"select count(*) from silver.{model} where _batch_date = %s",
                       (day,))[0][0]
        assert parsed == len(hostile_build["rows"][entity]), entity


@pytest.mark.parametrize("entity, field, name, model, key, column", [
    ("order", "status", "order_status", "stg_erp__orders", "order_id", "order_status"),
    ("order", "currency", "currency_code", "stg_erp__orders", "order_id", "currency_code"),
    ("store", "channel", "sales_channel", "stg_erp__stores", "store_id", "sales_channel"),
    ("customer", "segment", "customer_segment", "stg_crm__customers", "customer_id",
     "customer_segment"),
])
def test_case_variants_of_accepted_values_are_accepted(hostile_build, entity, field, name, model,
                                                        key, column):
    """'SHIPPED', 'Shipped' and '  shipped  ' are 'shipped'; accented ones are quarantined."""
    expected = {}
    for value in ACCEPTED[name]:
        for variant in {value.upper(), value.title(), f"  {value.lower()}  "} - {value}:
            expected.update({row[key]: value for row in hostile_build["rows"][entity]
                             if row.get(field) == variant and row[key] not in expected})
    assert expected
    found = dict(query(hostile_build["settings"],
                       f"select {key}::text, {column} from silver.{model} where {key}::text = any(%s)",
                       (list(expected),)))
    assert found == expected
