"""The warehouse on a Citus cluster gives the same gold as on one server.

Runs only when WAREHOUSE_CITUS_DSN points at a reachable Citus coordinator with active
workers (docs/scaling-out.md says how to make one); skipped otherwise. The cluster's
database is emptied of the warehouse's schemas first. The same landing files are loaded
and built on the cluster and on the embedded server: after the full build, an
incremental day and a --full-refresh, every gold table holds the same rows (md5 of the
ordered rows), and the facts are sharded and the dimensions replicated as configured.
Last, `runner db roles` makes the cluster-wide roles (the tests leave them there) and
the builds and retention after it run as the transformer.
"""

from __future__ import annotations

import os
from dataclasses import replace

import psycopg2
import pytest
from psycopg2 import sql

from conftest import checksum, query, warehouse_owners
from runner.core import build as builder
from runner.core import generate as gen
from runner.core import load as loader
from runner.settings import load_settings

CITUS_DSN = os.environ.get("WAREHOUSE_CITUS_DSN", "")
SCHEMAS = ("bronze", "silver", "snapshots", "gold", "audit", "test_failures")
DISTRIBUTED = {"gold.fct_order_lines": "order_id", "gold.fct_orders": "order_id"}
REFERENCE = {"gold.dim_customers", "gold.dim_date", "gold.dim_products", "gold.dim_stores"}


def _cluster_or_skip():
    if not CITUS_DSN:
        pytest.skip("WAREHOUSE_CITUS_DSN is not set: these tests need a Citus coordinator "
                    "with active workers (docs/scaling-out.md)")
    try:
        conn = psycopg2.connect(CITUS_DSN, connect_timeout=5)
    except psycopg2.Error as error:
        pytest.skip(f"WAREHOUSE_CITUS_DSN is not reachable: {str(error).strip()}")
    try:
        with conn.cursor() as cur:
            cur.execute("select count(*) from pg_extension where extname = 'citus'")
            if not cur.fetchone()[0]:
                pytest.skip("WAREHOUSE_CITUS_DSN's database has no citus extension")
            cur.execute("select count(*) from citus_get_active_worker_nodes()")
            if not cur.fetchone()[0]:
                pytest.skip("the Citus coordinator at WAREHOUSE_CITUS_DSN has no active workers")
            for schema in SCHEMAS:
                cur.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
        conn.commit()
    finally:
        conn.close()
    return load_settings({**os.environ, "WAREHOUSE_DSN": CITUS_DSN})


@pytest.fixture(scope="module")
def both(database, tmp_path_factory):
    """(cluster, single server, landing folder), both loaded from the same files."""
    cluster = _cluster_or_skip()
    landing = tmp_path_factory.mktemp("citus") / "landing"
    gen.generate(landing, seed=21, scale=0.01)
    for settings in (cluster, database):
        loader.load(settings, landing)
    return cluster, database, landing


def build(settings, *args):
    outcome = builder.run_build(settings, list(args), freshness=False)
    assert outcome.build_returncode == 0, f"the build on {settings.safe_dsn()} failed"


def gold_tables(settings) -> list[str]:
    return [row[0] for row in query(settings, """
        select table_schema || '.' || table_name from information_schema.tables
        where table_schema = 'gold' and table_type = 'BASE TABLE' order by 1""")]


def assert_same_gold(cluster, single):
    tables = gold_tables(single)
    assert tables == gold_tables(cluster)
    differing = [t for t in tables if checksum(cluster, t) != checksum(single, t)]
    assert differing == [], f"gold tables that differ between the cluster and one server: {differing}"


def assert_distribution(cluster):
    rows = query(cluster, """
        select logicalrelid::regclass::text, partmethod,
            column_to_column_name(logicalrelid, partkey), colocationid
        from pg_dist_partition where logicalrelid::regclass::text like 'gold.%'""")
    sharded = {name: column for name, method, column, _ in rows if method == "h"}
    replicated = {name for name, method, _, _ in rows if method == "n"}
    assert sharded == DISTRIBUTED
    assert replicated == REFERENCE
    # The two facts are colocated: their joins on order_id stay on each worker.
    assert len({colocation for name, method, _, colocation in rows if method == "h"}) == 1


def test_full_build_is_distributed_and_equals_one_server(both):
    cluster, single, _ = both
    for settings in (cluster, single):
        build(settings)
    assert_distribution(cluster)
    assert_same_gold(cluster, single)
    # The sharded line fact's key includes order_id; order_line_id's uniqueness is a test.
    key = query(cluster, """
        select pg_get_constraintdef(oid) from pg_constraint
        where conrelid = 'gold.fct_order_lines'::regclass and contype = 'p'""")[0][0]
    assert key == "PRIMARY KEY (order_id, order_line_id)"
    assert query(single, """
        select pg_get_constraintdef(oid) from pg_constraint
        where conrelid = 'gold.fct_order_lines'::regclass and contype = 'p'""")[0][0] \
        == "PRIMARY KEY (order_line_id)"


def test_incremental_day_equals_one_server(both):
    cluster, single, landing = both
    gen.next_day(landing)
    for settings in (cluster, single):
        loader.load(settings, landing)
        build(settings)
    assert_distribution(cluster)
    assert_same_gold(cluster, single)


def test_full_refresh_keeps_the_distribution(both):
    cluster, single, _ = both
    for settings in (cluster, single):
        build(settings, "--full-refresh")
    assert_distribution(cluster)
    assert_same_gold(cluster, single)


def test_backup_refuses_on_a_coordinator(both, tmp_path):
    from runner.core import backup as backups
    from runner.errors import WarehouseError

    cluster, _, _ = both
    with pytest.raises(WarehouseError, match="is a Citus coordinator"):
        backups.backup(cluster, tmp_path / "backups")
    assert not any((tmp_path / "backups").glob("*")), "a refused backup left files behind"


def test_db_roles_hands_the_warehouse_to_the_transformer_but_not_citus(both, run_cli, tmp_path):
    """`runner db roles` on the coordinator as the superuser; the builds and `partitions
    retain` after it run as the transformer, which owns every warehouse schema and table on
    the coordinator and the shards on each worker. Citus's own schemas stay the
    superuser's (old code handed `citus` and `citus_internal` to the transformer)."""
    cluster, _, _ = both
    env = {"WAREHOUSE_DSN": CITUS_DSN}
    try:
        for command in (("db", "roles"), ("build", "--skip-freshness"),
                        ("partitions", "retain", "--older-than", "18", "--archive", str(tmp_path))):
            ran = run_cli(*command, env=env)
            assert ran.exit_code == 0, ran.output + ran.stderr
        assert "retired" in ran.output and any(tmp_path.glob("bronze.*.csv.gz"))
        assert_distribution(cluster)
        workers = query(cluster, "select node_name, node_port from citus_get_active_worker_nodes()")
        for host, port in [(cluster.host, cluster.port), *workers]:
            node = replace(cluster, host=host, port=port)
            assert warehouse_owners(node) == {"transformer"}, f"{host}:{port}"
            assert query(node, """
                select bool_and(rolsuper) from pg_namespace
                join pg_roles on pg_roles.oid = nspowner
                where nspname in ('citus', 'citus_internal')""") == [(True,)], f"{host}:{port}"
    finally:
        (cluster.home / "roles.json").unlink(missing_ok=True)
