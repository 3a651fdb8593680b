"""The set-based replay of older batches writes the history `dbt snapshot` writes.

Hand-made source files over four batches exercise every rule of both strategies:
changes, a change back, identical resends, a late record with an older timestamp, a new
record with the same timestamp, two records of one key in one batch, a deletion, a
deletion and return, a deletion of a key never seen. Three databases get the same files:
`daily` runs plain `dbt build` after every batch (dbt's own snapshot each time, no replay), `once` loads
all four and runs `runner build` once (replays four), `catch_up` runs it after the first and
then after the other three (replays three on top of existing versions). Their snapshots
must be identical, and `daily`'s must hold the versions worked out by hand below.
"""

from __future__ import annotations

import json

import pytest

from conftest import checksum, empty_database, query
from runner.core import build as builder
from runner.core import dbt
from runner.core import load as loader

BATCHES = ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"]
SNAPSHOTS = ["snp_crm__customers", "snp_erp__products", "snp_erp__stores"]
SNAPSHOT_ONLY = ["--select", "+resource_type:snapshot"]


def customer(number, updated_at, first_name="Ada", city="Seattle"):
    return {
        "customer_id": f"CUST-{number:07d}", "first_name": first_name, "last_name": "Lovelace",
        "email": f"ada{number}@example.com", "phone": "(0249) 424-142",
        "address": {"line1": "1 Main Street", "city": city, "postal_code": "50308",
                    "country": "USA"},
        "segment": "consumer", "created_at": "2024-01-01 09:00:00", "updated_at": updated_at,
    }


def deletion(number, updated_at):
    return {"customer_id": f"CUST-{number:07d}", "is_deleted": True, "updated_at": updated_at}


def product(number, price, updated_at):
    return (f"P{number:05d},SKU-{number:06d},Acme Chocolate {number}g,Snacks,Chocolate,Acme,"
            f"{price},GBP,{updated_at}")


def store(number, name, city="Chicago"):
    return f"S{number:04d},{name},store,{city},United States,2015-04-07"


SOURCE = {
    "2024-01-31": {
        "customers": [customer(1, "2024-01-10 10:00:00"), customer(2, "2024-01-15 10:00:00"),
                      customer(4, "2024-01-20 10:00:00")],
        "products": [product(1, "5.00", "2024-01-02 10:00:00")],
        "stores": [store(1, "Chicago A"), store(2, "Chicago B")],
    },
    "2024-02-29": {
        "customers": [customer(1, "2024-02-10 10:00:00", city="Boston"),
                      # older than the version held: no new version
                      customer(2, "2024-01-05 10:00:00", first_name="Old"),
                      # two records in one batch: one version, the later
                      customer(3, "2024-02-01 10:00:00"),
                      customer(3, "2024-02-20 10:00:00", first_name="Grace"),
                      deletion(4, "2024-02-15 10:00:00")],
        "products": [product(2, "7.00", "2024-02-03 10:00:00")],
        "stores": [store(1, "Chicago A2"), store(2, "Chicago B")],
    },
    "2024-03-31": {
        "customers": [deletion(1, "2024-03-10 10:00:00"),
                      # same timestamp as the version held: no new version (dbt's rule)
                      customer(2, "2024-01-15 10:00:00", first_name="Same"),
                      deletion(5, "2024-03-12 10:00:00")],
        "products": [product(1, "5.50", "2024-03-02 10:00:00")],
        "stores": [store(1, "Chicago A"), store(3, "Chicago C")],
    },
    "2024-04-30": {
        "customers": [customer(1, "2024-04-10 10:00:00", city="Denver"),
                      customer(2, "2024-04-01 10:00:00", first_name="New")],
        "products": [],
        "stores": [store(1, "Chicago A"), store(2, "Chicago B", city="Milwaukee")],
    },
}

# (key, valid from, valid to) of every version, worked out by hand from SOURCE.
END = "23:59:59.999999"
EXPECTED = {
    "snp_crm__customers": [
        ("CUST-0000001", "2024-01-10 10:00:00", "2024-02-10 10:00:00"),
        ("CUST-0000001", "2024-02-10 10:00:00", f"2024-03-31 {END}"),
        ("CUST-0000001", "2024-04-10 10:00:00", None),
        ("CUST-0000002", "2024-01-15 10:00:00", "2024-04-01 10:00:00"),
        ("CUST-0000002", "2024-04-01 10:00:00", None),
        ("CUST-0000003", "2024-02-20 10:00:00", None),
        ("CUST-0000004", "2024-01-20 10:00:00", f"2024-02-29 {END}"),
    ],
    "snp_erp__products": [
        ("P00001", "2024-01-02 10:00:00", "2024-03-02 10:00:00"),
        ("P00001", "2024-03-02 10:00:00", None),
        ("P00002", "2024-02-03 10:00:00", None),
    ],
    "snp_erp__stores": [
        ("S0001", f"2024-01-31 {END}", f"2024-02-29 {END}"),
        ("S0001", f"2024-02-29 {END}", f"2024-03-31 {END}"),
        ("S0001", f"2024-03-31 {END}", None),
        ("S0002", f"2024-01-31 {END}", f"2024-04-30 {END}"),
        ("S0002", f"2024-04-30 {END}", None),
        ("S0003", f"2024-03-31 {END}", None),
    ],
}
KEYS = {"snp_crm__customers": "customer_id", "snp_erp__products": "product_id",
        "snp_erp__stores": "store_id"}


def write_batch(folder, batch):
    files = SOURCE[batch]
    (folder / f"crm__customers__{batch}.jsonl").write_text(
        "".join(json.dumps(record) + "\n" for record in files["customers"]))
    (folder / f"erp__products__{batch}.csv").write_text("\n".join(
        ["product_id,sku,product_name,category,subcategory,brand,unit_price,currency,"
         "updated_at", *files["products"]]) + "\n")
    (folder / f"erp__stores__{batch}.csv").write_text("\n".join(
        ["store_id,store_name,channel,city,country,opened_date", *files["stores"]]) + "\n")


def load(settings, folder, batches):
    for batch in batches:
        write_batch(folder, batch)
    statuses = {r.status for r in loader.load(settings, folder)}
    assert statuses <= {"loaded", "skipped"} and "loaded" in statuses


def load_and_build(settings, folder, batches):
    load(settings, folder, batches)
    outcome = builder.run_build(settings, SNAPSHOT_ONLY, freshness=False)
    assert outcome.build_returncode == 0
    return outcome


@pytest.fixture(scope="module")
def replayed(warehouse_env, tmp_path_factory):
    databases = {name: empty_database(warehouse_env, f"replay_{name}")
                 for name in ("daily", "once", "catch_up")}

    daily = tmp_path_factory.mktemp("daily")
    for batch in BATCHES:
        load(databases["daily"], daily, [batch])
        result = dbt.run_dbt(
            databases["daily"], ["build", *SNAPSHOT_ONLY, "--indirect-selection", "buildable"],
            capture=True)
        assert result.returncode == 0, result.stdout[-3000:]
    once = load_and_build(databases["once"], tmp_path_factory.mktemp("once"), BATCHES)
    assert once.replayed == BATCHES
    catch_up = tmp_path_factory.mktemp("catch_up")
    load_and_build(databases["catch_up"], catch_up, BATCHES[:1])
    assert load_and_build(databases["catch_up"], catch_up, BATCHES[1:]).replayed == BATCHES[1:]
    return databases


@pytest.mark.parametrize("snapshot", SNAPSHOTS)
def test_daily_snapshots_hold_the_versions_worked_out_by_hand(replayed, snapshot):
    rows = query(replayed["daily"], f"""
        select {KEYS[snapshot]}, dbt_valid_from::timestamp::text, dbt_valid_to::timestamp::text
        from snapshots.{snapshot} order by 1, 2""")
    assert rows == EXPECTED[snapshot]


@pytest.mark.parametrize("snapshot", SNAPSHOTS)
@pytest.mark.parametrize("replay", ["once", "catch_up"])
def test_replayed_history_equals_daily_history(replayed, replay, snapshot):
    relation = f"snapshots.{snapshot}"
    assert checksum(replayed[replay], relation, exclude=("dbt_updated_at",)) == \
        checksum(replayed["daily"], relation, exclude=("dbt_updated_at",))


def test_every_replayed_batch_is_recorded_once(replayed):
    for settings in (replayed["once"], replayed["catch_up"]):
        audit = builder.plan_batches(settings).audit_schema
        assert [row[0] for row in query(settings, f"""
            select batch_date::text from {audit}.snapshot_batches order by 1""")] == BATCHES
