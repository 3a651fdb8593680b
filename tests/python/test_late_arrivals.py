"""Late arrivals on incremental builds: a line that waits for its product reaches the facts.

Regression test: the scale-5 benchmark found that a line accepted once its product
arrived (a day after the line) never reached the incremental fct_order_lines, and its
order's totals in fct_orders stayed short.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil

from conftest import built_sample, checksum, empty_database, query
from runner.core import build as builder
from runner.core import generate as gen
from runner.core import load as loader

ORDER_ID, LINE_ID, PRODUCT_ID = 990000001, 990000001, "P-LATE-0001"


def write(path, header, row):
    path.write_text(header + "\n" + row + "\n")


def test_line_waiting_for_its_product_reaches_the_facts(database, tmp_path):
    settings = database
    landing = tmp_path / "landing"
    state, customer, store, product = built_sample(settings, landing, reuse=True)
    day_one = dt.date.fromisoformat(state.batches[-1]) + dt.timedelta(days=1)
    day_two = day_one + dt.timedelta(days=1)

    # Day one: an order with a line for a product the ERP has not sent yet, then a line
    # for a known product (loaded after it, so the facts' watermark passes the first).
    at = f"{day_one} 10:00:00"
    write(landing / f"erp__orders__{day_one}.csv",
          "order_id,customer_id,store_id,order_ts,status,currency,updated_at,promo_code",
          f"{ORDER_ID},{customer},{store},{at},shipped,GBP,{at},")
    write(landing / f"erp__order_lines__{day_one}.csv",
          "order_line_id,order_id,line_number,product_id,quantity,unit_price,discount_amount,updated_at",
          f"{LINE_ID},{ORDER_ID},1,{PRODUCT_ID},2,5.00,0.00,{at}\n"
          f"{LINE_ID + 1},{ORDER_ID},2,{product},1,3.00,0.00,{at}")
    loader.load(settings, landing)
    assert builder.run_build(settings, [], freshness=False).build_returncode == 0
    assert query(settings, "select rejection_reason from silver.base_erp__order_lines "
                           "where order_line_id = %s", (LINE_ID,)) == [("awaiting_product",)]
    assert query(settings, "select line_count, quantity from gold.fct_orders where order_id = %s",
                 (ORDER_ID,)) == [(1, 1)]

    # Day two: the product arrives, within the lateness window.
    write(landing / f"erp__products__{day_two}.csv",
          "product_id,sku,product_name,category,subcategory,brand,unit_price,currency,updated_at",
          f"{PRODUCT_ID},SKU-LATE,Late Tea 100G,Beverages,Tea,Koru,5.00,GBP,{day_two} 09:00:00")
    loader.load(settings, landing)
    # The build's reconciliation tests (fact = silver, orders = lines) must pass too.
    assert builder.run_build(settings, [], freshness=False).build_returncode == 0

    line = query(settings, "select quantity, net_amount, product_key != '-1' from "
                           "gold.fct_order_lines where order_line_id = %s", (LINE_ID,))
    assert [(quantity, float(net), keyed) for quantity, net, keyed in line] == [(2, 10.0, True)]
    totals = query(settings, "select line_count, quantity, net_amount from gold.fct_orders "
                             "where order_id = %s", (ORDER_ID,))
    assert [(count, quantity, float(net)) for count, quantity, net in totals] == [(2, 3, 13.0)]


NEW_CUSTOMER = "CUST-9900001"
GOLD_LINEAGE = ("source_load_order", "max_source_load_order", "_loaded_at", "loaded_at",
                "dbt_updated_at", "built_at", "_built_at")


def gold_tables(settings):
    return [row[0] for row in query(settings, """
        select table_schema || '.' || table_name from information_schema.tables
        where table_schema = 'gold' and table_type = 'BASE TABLE' order by 1""")]


def write_late_batch(folder, day, product_row):
    at = f"{day} 10:00:00"
    (folder / f"crm__customers__{day}.jsonl").write_text(json.dumps({
        "customer_id": NEW_CUSTOMER, "first_name": "Late", "last_name": "Arrival",
        "email": "late.arrival@example.com", "phone": "(0249) 424-142",
        "address": {"line1": "1 Main Street", "city": "Leeds", "postal_code": "LS1",
                    "country": "UK"},
        "segment": "consumer", "created_at": at, "updated_at": at}) + "\n")
    (folder / f"erp__products__{day}.csv").write_text(
        "product_id,sku,product_name,category,subcategory,brand,unit_price,currency,updated_at\n"
        + product_row(at) + "\n")


def test_a_late_batch_is_applied_as_if_it_had_come_on_time(warehouse_env, tmp_path):
    on_time, late = (empty_database(warehouse_env, f"late_{name}") for name in ("on_time", "late"))
    landing = tmp_path / "landing"
    state = gen.generate(landing, seed=11, scale=0.01)
    day_one = dt.date.fromisoformat(state.batches[-1]) + dt.timedelta(days=1)
    day_two = day_one + dt.timedelta(days=1)
    loader.load(on_time, landing)
    product = query(on_time, r"""
        select product_id, sku, product_name, category, subcategory, brand, currency
        from bronze.erp_products
        where product_id ~ '^P\d+$' and currency = 'GBP' and unit_price ~ '^\d+\.\d\d$'
        order by product_id limit 1""")[0]

    def product_row(at):
        return ",".join([*product[:6], "99.00", product[6], at])

    # day two (on time in both): a store file, so the late database has seen a newer batch
    stores = sorted(landing.glob("erp__stores__*.csv"))[-1].read_text()
    (landing / f"erp__stores__{day_two}.csv").write_text(stores)
    late_files = tmp_path / "late_files"
    late_files.mkdir()
    write_late_batch(late_files, day_one, product_row)

    # on time: every batch, in order, one build
    for path in late_files.iterdir():
        shutil.copy(path, landing)
    loader.load(on_time, landing)
    assert builder.run_build(on_time, [], freshness=False).build_returncode == 0

    # late: day one's files arrive after day two was built
    held_back = {path.name for path in late_files.iterdir()}
    partial = tmp_path / "partial"
    shutil.copytree(landing, partial, ignore=lambda _, names: [n for n in names if n in held_back])
    loader.load(late, partial)
    assert builder.run_build(late, [], freshness=False).build_returncode == 0
    for path in late_files.iterdir():
        shutil.copy(path, partial)
    loader.load(late, partial)
    outcome = builder.run_build(late, [], freshness=False)
    assert outcome.build_returncode == 0
    assert outcome.late == [str(day_one)]

    assert query(late, "select count(*) from gold.dim_customers where customer_id = %s",
                 (NEW_CUSTOMER,)) == [(1,)]
    windows = query(late, "select unit_price_amount, valid_from::text, valid_to::text from gold.dim_products "
                          "where product_id = %s order by valid_from", (product[0],))
    assert windows[-1][:2] == (99, f"{day_one} 10:00:00+00")
    assert windows[-2][2] == f"{day_one} 10:00:00+00"
    tables = gold_tables(late)
    assert "gold.fct_order_lines" in tables and "gold.dim_customers" in tables
    for relation in tables:
        assert checksum(late, relation, exclude=GOLD_LINEAGE) == \
            checksum(on_time, relation, exclude=GOLD_LINEAGE), relation


def customer_line(customer_id, at):
    return json.dumps({
        "customer_id": customer_id, "first_name": "Late", "last_name": "File",
        "email": "late.file@example.com", "phone": "(0249) 424-142",
        "address": {"line1": "2 Main Street", "city": "York", "postal_code": "YO1",
                    "country": "UK"},
        "segment": "consumer", "created_at": at, "updated_at": at}) + "\n"


def reached_gold(settings, customer_id):
    return (query(settings, "select count(*) from snapshots.snp_crm__customers "
                            "where customer_id = %s", (customer_id,))[0][0],
            query(settings, "select count(*) from gold.dim_customers where customer_id = %s",
                  (customer_id,))[0][0])


def test_a_file_loaded_after_its_date_was_built_is_applied(warehouse_env, tmp_path):
    settings = empty_database(warehouse_env, "late_files")
    landing = tmp_path / "landing"
    state, *_ = built_sample(settings, landing, reuse=True)
    stores = sorted(landing.glob("erp__stores__*.csv"))[-1].read_text()
    day_one = dt.date.fromisoformat(state.batches[-1]) + dt.timedelta(days=1)
    day_two = day_one + dt.timedelta(days=1)

    # The ordinary repair: day one's CRM file has a broken line and fails to load, the
    # night's build applies day one without it, the fixed file is loaded the next night.
    (landing / f"erp__stores__{day_one}.csv").write_text(stores)
    crm = landing / f"crm__customers__{day_one}.jsonl"
    crm.write_text(customer_line("CUST-9900101", f"{day_one} 09:00:00") + '{"customer_id": \n')
    assert [r.status for r in loader.load(settings, landing) if r.name == crm.name] == ["failed"]
    assert builder.run_build(settings, [], freshness=False).build_returncode == 0
    crm.write_text(customer_line("CUST-9900101", f"{day_one} 09:00:00")
                   + customer_line("CUST-9900102", f"{day_one} 09:30:00"))
    assert [r.status for r in loader.load(settings, landing) if r.name == crm.name] == ["loaded"]
    outcome = builder.run_build(settings, [], freshness=False)
    assert outcome.build_returncode == 0
    assert outcome.late == [str(day_one)]
    assert reached_gold(settings, "CUST-9900101") == (1, 1)
    assert reached_gold(settings, "CUST-9900102") == (1, 1)

    # A file for the newest date already built: applied, not ignored.
    (landing / f"erp__stores__{day_two}.csv").write_text(stores)
    loader.load(settings, landing)
    assert builder.run_build(settings, [], freshness=False).build_returncode == 0
    (landing / f"crm__customers__{day_two}.jsonl").write_text(
        customer_line("CUST-9900103", f"{day_two} 09:00:00"))
    loader.load(settings, landing)
    outcome = builder.run_build(settings, [], freshness=False)
    assert outcome.build_returncode == 0
    assert outcome.late == [str(day_two)]
    assert reached_gold(settings, "CUST-9900103") == (1, 1)

    # Applied once: the next build has nothing to replay.
    outcome = builder.run_build(settings, [], freshness=False)
    assert (outcome.replayed, outcome.late) == ([], [])

    # A warehouse built before files were tracked: its files are taken as applied when
    # they were loaded before their batch was, so upgrading replays nothing.
    query(settings, "drop table audit.snapshot_files")
    assert builder.plan_batches(settings).pending == []
    assert len(query(settings, "select * from audit.snapshot_files")) == len(
        query(settings, "select * from bronze.load_log where status = 'loaded'"))


def test_a_line_moved_to_another_order_leaves_its_old_order(warehouse_env, tmp_path):
    """A newer version of a line that names a different order, or of an order that names
    another day, store and customer: the incremental gold equals a full refresh of the same
    data, for the groups left (day, store, month, product, customer) as for the ones joined;
    an order left with no line goes."""
    settings = empty_database(warehouse_env, "moved_lines")
    landing = tmp_path / "landing"
    state, *_ = built_sample(settings, landing, reuse=True)
    day_one = dt.date.fromisoformat(state.batches[-1]) + dt.timedelta(days=1)
    # Orders on different days, stores and customers: a two-line order gives a line to
    # another, a one-line order gives its only line away and is left empty.
    orders = query(settings, """
        select orders.order_id, count(*), min(lines.order_line_id)
        from gold.fct_orders as orders
        inner join gold.fct_order_lines as lines on orders.order_id = lines.order_id
        where not orders.is_cancelled
        group by orders.order_id, orders.order_date, orders.store_id, orders.customer_id
        order by orders.order_date, orders.store_id, orders.customer_id""")
    singles = [row for row in orders if row[1] == 1]
    pairs = [row for row in orders if row[1] >= 2]
    giver, emptied = pairs[0], singles[0]
    taker, other_taker, relocated = orders[-1], orders[-2], pairs[1]
    assert len({giver[0], emptied[0], taker[0], other_taker[0], relocated[0]}) == 5
    moved = [(giver[2], taker[0]), (emptied[2], other_taker[0])]
    rows = []
    for line_id, new_order in moved:
        product, quantity, price, discount = query(settings, """
            select product_id, quantity, unit_price_amount, discount_amount
            from silver.stg_erp__order_lines where order_line_id = %s""", (line_id,))[0]
        rows.append(f"{line_id},{new_order},90,{product},{quantity},{price},{discount},"
                    f"{day_one} 10:00:00")
    write(landing / f"erp__order_lines__{day_one}.csv",
          "order_line_id,order_id,line_number,product_id,quantity,unit_price,discount_amount,updated_at",
          "\n".join(rows))
    # Another two-line order moves to the earliest order's day, store and customer.
    order_id, currency = query(settings, "select order_id, currency_code from "
                               "silver.stg_erp__orders where order_id = %s", (relocated[0],))[0]
    customer, store, ordered_at = query(settings, """
        select customer_id, store_id, ordered_at at time zone 'UTC' from silver.stg_erp__orders
        where order_id = %s""", (orders[0][0],))[0]
    at = f"{ordered_at:%Y-%m-%d %H:%M:%S}"
    write(landing / f"erp__orders__{day_one}.csv",
          "order_id,customer_id,store_id,order_ts,status,currency,updated_at,promo_code",
          f"{order_id},{customer},{store},{at},shipped,{currency},{day_one} 10:00:00,")
    loader.load(settings, landing)
    assert builder.run_build(settings, [], freshness=False).build_returncode == 0
    assert query(settings, "select count(*) from gold.fct_orders where order_id = %s",
                 (emptied[0],)) == [(0,)]

    tables = gold_tables(settings)
    incremental = {table: checksum(settings, table, exclude=GOLD_LINEAGE) for table in tables}
    assert builder.run_build(settings, ["--full-refresh"], freshness=False).build_returncode == 0
    for table in tables:
        assert checksum(settings, table, exclude=GOLD_LINEAGE) == incremental[table], table


# Late files against a re-derivation from scratch of the same data: runner build re-derives
# only the keys a late batch touches and rewrites only the gold rows they change, which
# must leave the snapshots and every gold table as replaying every batch into empty
# snapshots and a full refresh would.

ORDERS_HEADER = "order_id,customer_id,store_id,order_ts,status,currency,updated_at,promo_code"
LINES_HEADER = ("order_line_id,order_id,line_number,product_id,quantity,unit_price,"
                "discount_amount,updated_at")


def order_row(order_id, customer, store, at, updated_at=None):
    return f"{order_id},{customer},{store},{at},shipped,GBP,{updated_at or at},"


def line_row(line_id, order_id, product, at):
    return f"{line_id},{order_id},1,{product},2,5.00,0.00,{at}"


def write_order(landing, batch, order_id, customer, store, product, at):
    """An order with one line (its id the order's), in the ERP files of `batch`."""
    write(landing / f"erp__orders__{batch}.csv", ORDERS_HEADER,
          order_row(order_id, customer, store, at))
    write(landing / f"erp__order_lines__{batch}.csv", LINES_HEADER,
          line_row(order_id, order_id, product, at))


def customer_record(customer_id, at, segment="consumer", **extra):
    return json.dumps({
        "customer_id": customer_id, "first_name": "Late", "last_name": "Version",
        "email": "late.version@example.com", "phone": "(0249) 424-142",
        "address": {"line1": "3 Main Street", "city": "Hull", "postal_code": "HU1",
                    "country": "UK"},
        "segment": segment, "created_at": "2020-01-01 09:00:00", "updated_at": at,
        **extra}) + "\n"


def day(state, offset):
    return dt.date.fromisoformat(state.batches[-1]) + dt.timedelta(days=offset)


def build(settings):
    outcome = builder.run_build(settings, [], freshness=False)
    assert outcome.build_returncode == 0
    return outcome


def history(settings):
    """Checksums of every snapshot and gold table (the build time left out)."""
    tables = [row[0] for row in query(settings, """
        select table_schema || '.' || table_name from information_schema.tables
        where table_schema in ('snapshots', 'gold') and table_type = 'BASE TABLE'
        order by 1""")]
    assert "gold.fct_order_lines" in tables and "snapshots.snp_crm__customers" in tables
    return {table: checksum(settings, table, exclude=("built_at", "_built_at"))
            for table in tables}


def assert_same_as_from_scratch(settings):
    """The history runner build left, against every batch replayed into empty snapshots
    and a full refresh of the same data."""
    applied = history(settings)
    for table in ("snp_crm__customers", "snp_erp__products", "snp_erp__stores"):
        query(settings, f"truncate snapshots.{table}")
    query(settings, "delete from audit.snapshot_batches; delete from audit.snapshot_files")
    outcome = builder.run_build(settings, ["--full-refresh"], freshness=False)
    assert outcome.build_returncode == 0 and outcome.late == []
    from_scratch = history(settings)
    assert [t for t in applied if applied[t] != from_scratch[t]] == []


def test_a_late_order_accepts_a_line_rejected_as_unknown_order(warehouse_env, tmp_path):
    settings = empty_database(warehouse_env, "late_unknown_order")
    landing = tmp_path / "landing"
    state, customer, store, product = built_sample(settings, landing, reuse=True)
    order_id, line_id = 990000101, 990000101
    # Day one: a line whose order has not come; day four: other orders, so the lateness
    # window of three days has closed and the line is rejected for good.
    at = f"{day(state, 1)} 10:00:00"
    write(landing / f"erp__order_lines__{day(state, 1)}.csv", LINES_HEADER,
          line_row(line_id, order_id, product, at))
    loader.load(settings, landing)
    build(settings)
    write(landing / f"erp__orders__{day(state, 4)}.csv", ORDERS_HEADER,
          order_row(order_id + 1, customer, store, f"{day(state, 4)} 10:00:00"))
    loader.load(settings, landing)
    build(settings)
    assert query(settings, "select rejection_reason from silver.base_erp__order_lines "
                           "where order_line_id = %s", (line_id,)) == [("unknown_order",)]

    # Day two's orders file arrives late: the order came within the window after all.
    write(landing / f"erp__orders__{day(state, 2)}.csv", ORDERS_HEADER,
          order_row(order_id, customer, store, at))
    loader.load(settings, landing)
    assert build(settings).late == [str(day(state, 2))]
    assert query(settings, "select count(*) from gold.fct_order_lines where order_line_id = %s",
                 (line_id,)) == [(1,)]
    assert_same_as_from_scratch(settings)


def test_a_late_customer_version_between_two_rekeys_the_lines(warehouse_env, tmp_path):
    settings = empty_database(warehouse_env, "late_between")
    landing = tmp_path / "landing"
    state, customer, store, product = built_sample(settings, landing, reuse=True)
    # The customer changes on day one and day three; an order on each of days one to three.
    for offset, segment in ((1, "small business"), (3, "vip")):
        (landing / f"crm__customers__{day(state, offset)}.jsonl").write_text(
            customer_record(customer, f"{day(state, offset)} 08:00:00", segment))
    for offset in (1, 2, 3):
        write_order(landing, day(state, offset), 990000200 + offset, customer, store, product,
                    f"{day(state, offset)} 12:00:00")
    held = landing / f"crm__customers__{day(state, 2)}.jsonl"
    loader.load(settings, landing)
    build(settings)
    keyed_before = query(settings, "select customer_key from gold.fct_orders where order_id = %s",
                         (990000202,))

    # Day two's CRM file arrives late with a version between the two: day two's order is
    # keyed to it now, and day one's version ends when it starts.
    held.write_text(customer_record(customer, f"{day(state, 2)} 08:00:00", "consumer"))
    loader.load(settings, landing)
    assert build(settings).late == [str(day(state, 2))]
    assert query(settings, "select customer_key from gold.fct_orders where order_id = %s",
                 (990000202,)) != keyed_before
    assert_same_as_from_scratch(settings)


def test_a_late_file_for_a_key_deleted_later(warehouse_env, tmp_path):
    settings = empty_database(warehouse_env, "late_deleted")
    landing = tmp_path / "landing"
    state, customer, store, product = built_sample(settings, landing, reuse=True)
    # The customer orders on day one and two and is deleted on day three; a product is
    # changed on day one.
    for offset in (1, 2):
        write_order(landing, day(state, offset), 990000300 + offset, customer, store, product,
                    f"{day(state, offset)} 12:00:00")
    (landing / f"crm__customers__{day(state, 3)}.jsonl").write_text(json.dumps({
        "customer_id": customer, "is_deleted": True,
        "updated_at": f"{day(state, 3)} 08:00:00"}) + "\n")
    loader.load(settings, landing)
    build(settings)

    # Day two's CRM file arrives late with a change to the customer deleted on day three.
    (landing / f"crm__customers__{day(state, 2)}.jsonl").write_text(
        customer_record(customer, f"{day(state, 2)} 08:00:00", "vip"))
    loader.load(settings, landing)
    assert build(settings).late == [str(day(state, 2))]
    assert query(settings, "select count(*) from snapshots.snp_crm__customers "
                           "where customer_id = %s and dbt_valid_to is null", (customer,)) == [(0,)]
    assert_same_as_from_scratch(settings)


def test_a_late_customer_version_that_outranks_a_later_file(warehouse_env, tmp_path):
    """Day three's file brings a change made on day two at 10:00; day two's file, late,
    one made at 20:00. The 10:00 version is no longer one (the 20:00 change was newer
    when day two was applied), so an order of 15:00 goes back to the day-one version: its
    rows keep their old load orders and only the record of what the late batch changed
    gets fct_orders and the aggregates to rewrite them."""
    settings = empty_database(warehouse_env, "late_outranks")
    landing = tmp_path / "landing"
    state, customer, store, product = built_sample(settings, landing, reuse=True)
    (landing / f"crm__customers__{day(state, 1)}.jsonl").write_text(
        customer_record(customer, f"{day(state, 1)} 08:00:00", "small business"))
    (landing / f"crm__customers__{day(state, 3)}.jsonl").write_text(
        customer_record(customer, f"{day(state, 2)} 10:00:00", "vip"))
    write_order(landing, day(state, 2), 990000401, customer, store, product,
                f"{day(state, 2)} 15:00:00")
    loader.load(settings, landing)
    build(settings)
    keyed_before = query(settings, "select customer_key from gold.fct_orders where order_id = %s",
                         (990000401,))

    (landing / f"crm__customers__{day(state, 2)}.jsonl").write_text(
        customer_record(customer, f"{day(state, 2)} 20:00:00", "consumer"))
    loader.load(settings, landing)
    assert build(settings).late == [str(day(state, 2))]
    assert query(settings, "select customer_key from gold.fct_orders where order_id = %s",
                 (990000401,)) != keyed_before
    assert_same_as_from_scratch(settings)
