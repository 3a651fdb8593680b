"""One bad value never stops gold: out-of-range numbers are quarantined in silver and an
unknown store is keyed to the missing member, and `runner build` still succeeds."""

from __future__ import annotations

import datetime as dt

from conftest import built_sample, query
from runner.core import build as builder
from runner.core import load as loader

ORDER_ID, LINE_ID = 990000101, 990000101


def test_out_of_range_quantity_and_unknown_store_do_not_stop_gold(database, tmp_path):
    settings = database
    landing = tmp_path / "landing"
    state, customer, _, product = built_sample(settings, landing, reuse=True)
    day = dt.date.fromisoformat(state.batches[-1]) + dt.timedelta(days=1)
    at = f"{day} 10:00:00"
    (landing / f"erp__orders__{day}.csv").write_text(
        "order_id,customer_id,store_id,order_ts,status,currency,updated_at\n"
        f"{ORDER_ID},{customer},S-NOWHERE,{at},shipped,GBP,{at}\n")
    (landing / f"erp__order_lines__{day}.csv").write_text(
        "order_line_id,order_id,line_number,product_id,quantity,unit_price,discount_amount,updated_at\n"
        f"{LINE_ID},{ORDER_ID},1,{product},2147483648,5.00,0.00,{at}\n"
        f"{LINE_ID + 1},{ORDER_ID},2,{product},1,5.00,0.00,{at}\n")
    loader.load(settings, landing)

    for _ in range(2):  # and again: nothing is left stuck for the next run
        assert builder.run_build(settings, [], freshness=False).build_returncode == 0

    assert query(settings, "select rejection_reason from silver.base_erp__order_lines "
                           "where order_line_id = %s", (LINE_ID,)) == [("value_out_of_range",)]
    assert query(settings, "select store_key, line_count, quantity from gold.fct_orders "
                           "where order_id = %s", (ORDER_ID,)) == [("-1", 1, 1)]


def test_lint_gives_the_fresh_verdict_on_a_built_warehouse(database, run_cli):
    # `database` was built by the test above: base_erp__order_lines exists, so compiling
    # against it would render its incremental branch (what `make demo; make test` hit).
    assert query(database, "select to_regclass('silver.base_erp__order_lines') is not null") == [(True,)]
    result = run_cli("lint", "models/staging/erp/base/base_erp__order_lines.sql")
    assert result.exit_code == 0, result.output
    assert "lint clean" in result.output
