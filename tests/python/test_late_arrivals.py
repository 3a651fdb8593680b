"""Late arrivals on incremental builds: a line that waits for its product reaches the facts.

Regression test: the scale-5 benchmark found that a line accepted once its product
arrived (a day after the line) never reached the incremental fct_order_lines, and its
order's totals in fct_orders stayed short.
"""

from __future__ import annotations

import datetime as dt

from conftest import query
from runner.core import build as builder
from runner.core import generate as gen
from runner.core import load as loader

ORDER_ID, LINE_ID, PRODUCT_ID = 990000001, 990000001, "P-LATE-0001"


def write(path, header, row):
    path.write_text(header + "\n" + row + "\n")


def test_line_waiting_for_its_product_reaches_the_facts(database, tmp_path):
    settings = database
    landing = tmp_path / "landing"
    state = gen.generate(landing, seed=11, scale=0.01)
    loader.load(settings, landing)
    assert builder.run_build(settings, [], freshness=False).build_returncode == 0

    customer = query(settings, "select customer_id from silver.stg_crm__customers "
                               "where not is_deleted order by customer_id limit 1")[0][0]
    store = query(settings, "select store_id from silver.stg_erp__stores order by 1 limit 1")[0][0]
    product = query(settings, "select product_id from silver.stg_erp__products order by 1 limit 1")[0][0]
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
