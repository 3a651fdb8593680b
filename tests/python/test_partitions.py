"""Monthly partitions of bronze orders and order lines, on a real server."""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import query
from runner.core import dbt
from runner.core import generate as gen
from runner.core import load as loader
from runner.core import partitions as parts


@pytest.fixture(scope="module")
def loaded(database, tmp_path_factory):
    landing = tmp_path_factory.mktemp("landing")
    gen.generate(landing, seed=9, scale=0.01)
    assert all(r.status == "loaded" for r in loader.load(database, landing))
    return database


def test_setup_is_idempotent(loaded, run_cli):
    first = run_cli("partitions", "setup", "--months-ahead", "2")
    assert first.exit_code == 0, first.output
    again = run_cli("partitions", "setup", "--months-ahead", "2")
    assert again.output.strip() == "partitions created: 0"


def test_rows_land_in_their_month(loaded):
    misplaced = query(loaded, """
        select count(*) from (
            select tableoid::regclass::text as partition, _batch_date from bronze.erp_orders
            union all
            select tableoid::regclass::text, _batch_date from bronze.erp_order_lines
        ) as placed
        where partition not like '%_p' || to_char(_batch_date, 'YYYYMM')""")[0][0]
    assert misplaced == 0
    months = query(loaded, "select count(distinct tableoid) from bronze.erp_orders")[0][0]
    assert months == 24


def test_one_month_query_touches_one_partition(loaded):
    plan = "\n".join(row[0] for row in query(loaded, """
        explain select count(*) from bronze.erp_orders
        where _batch_date >= '2025-03-01' and _batch_date < '2025-04-01'"""))
    scanned = [line for line in plan.splitlines() if "Scan on erp_orders_" in line]
    assert len(scanned) == 1 and "erp_orders_p202503" in scanned[0], plan


def test_default_rows_move_when_their_partition_appears(loaded, run_cli):
    conn_rows = query(loaded, """
        insert into bronze.erp_orders (order_id, _source_file, _batch_date)
        values ('x1', 'manual', '2031-05-10'), ('x2', 'manual', '2031-05-20')
        returning tableoid::regclass::text""")
    assert {row[0] for row in conn_rows} == {"bronze.erp_orders_default"}
    status = run_cli("partitions", "status")
    assert "2 rows of erp_orders sit in the default partition" in status.output
    assert run_cli("partitions", "setup").exit_code == 0
    placed = query(loaded, "select tableoid::regclass::text from bronze.erp_orders where _source_file = 'manual'")
    assert {row[0] for row in placed} == {"bronze.erp_orders_p203105"}
    assert query(loaded, "select count(*) from bronze.erp_orders_default")[0][0] == 0


def test_retention_archives_verifies_drops_and_restores(loaded, tmp_path, run_cli):
    refused = run_cli("partitions", "retain", "--older-than", "1")
    assert refused.exit_code == 1 and "--no-archive" in refused.output

    before = {row[0]: row[1] for row in query(loaded, """
        select tableoid::regclass::text, md5(string_agg(order_id, ',' order by order_id))
        from bronze.erp_orders where _batch_date < '2024-04-01' group by 1""")}
    total_before = query(loaded, "select count(*) from bronze.erp_orders")[0][0]
    # Today is pretended to be 2026-04: partitions that ended 24+ months before are retired.
    retired, archives = parts.retain(loaded, 24, tmp_path / "archive", no_archive=False,
                                     today=dt.date(2026, 4, 15))
    assert sorted(p.name for p in retired) == [
        "erp_order_lines_p202401", "erp_order_lines_p202402", "erp_order_lines_p202403",
        "erp_orders_p202401", "erp_orders_p202402", "erp_orders_p202403"]
    assert all(parts.verify_archive(a.path) == [] for a in archives)
    assert query(loaded, "select count(*) from bronze.erp_orders where _batch_date < '2024-04-01'")[0][0] == 0

    archive = next(a for a in archives if a.partition == "erp_orders_p202402")
    result = run_cli("partitions", "restore", str(archive.path))
    assert result.exit_code == 0, result.output
    after = {row[0]: row[1] for row in query(loaded, """
        select tableoid::regclass::text, md5(string_agg(order_id, ',' order by order_id))
        from bronze.erp_orders where _batch_date < '2024-04-01' group by 1""")}
    assert after == {"bronze.erp_orders_p202402": before["bronze.erp_orders_p202402"]}
    assert query(loaded, "select count(*) from bronze.erp_orders")[0][0] == \
        total_before - sum(a.rows for a in archives if a.partition.startswith("erp_orders_")) + archive.rows

    # Restoring the same archive again changes nothing.
    again = run_cli("partitions", "restore", str(archive.path))
    assert again.exit_code == 0, again.output
    assert "restored 0 rows" in again.output
    assert query(loaded, "select count(*) from bronze.erp_orders_p202402")[0][0] == archive.rows
    assert len(query(loaded, "select partition_name from bronze.retired_partitions")) == 5

    # Retention applies to bronze only: a full refresh, which would drop the retired months
    # from gold, is refused until they are restored (or the loss is asked for).
    refused = dbt.run_dbt(loaded, ["run", "--full-refresh", "--select", "dim_date"], capture=True)
    assert refused.returncode != 0
    assert "would drop from gold the months retired from bronze" in refused.stdout
    assert "erp_orders_p202401" in refused.stdout
    # +dim_date: the calendar ends a year after the latest order, so it reads the orders.
    allowed = dbt.run_dbt(loaded, ["run", "--full-refresh", "--select", "+dim_date", "--vars",
                                   "{allow_history_loss: true}"], capture=True)
    assert allowed.returncode == 0, allowed.stdout[-2000:]


def test_a_hostile_archive_header_is_refused(loaded, tmp_path):
    import gzip
    import hashlib
    import json

    path = tmp_path / "bronze.erp_orders_p202301.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write('order_id, "x"); drop table bronze.erp_stores; --\n1,2\n')
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_name(path.name + ".json").write_text(json.dumps({
        "table": "bronze.erp_orders", "partition": "erp_orders_p202301", "from": "2023-01-01",
        "to": "2023-02-01", "rows": 1, "sha256": digest}))
    with pytest.raises(Exception, match="are not columns of bronze.erp_orders"):
        parts.restore_archive(loaded, path)
    assert query(loaded, "select to_regclass('bronze.erp_stores') is not null") == [(True,)]


def test_corrupt_archive_is_refused(loaded, tmp_path):
    found = next(p for p in parts.partitions(loaded) if p.name == "erp_orders_p202501")
    archive = parts._archive_partition(loaded, found, tmp_path)
    archive.path.write_bytes(archive.path.read_bytes()[:-10])
    assert parts.verify_archive(archive.path)
    with pytest.raises(Exception, match="did not verify"):
        parts.restore_archive(loaded, archive.path)
