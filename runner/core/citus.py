"""Citus (distributed PostgreSQL): detecting it and describing the cluster.

The warehouse runs unchanged on a Citus coordinator; with the switch on, the models whose
``meta.distribution`` asks for it become distributed or reference tables
(macros/citus/citus.sql). The switch is ``WAREHOUSE_CITUS`` (on/off) when set, otherwise
whether the target database has the citus extension."""

from __future__ import annotations

import os
from dataclasses import dataclass

import psycopg2

from runner.core import embedded
from runner.errors import WarehouseError
from runner.settings import Settings


def extension_version(cur) -> str | None:
    cur.execute("select extversion from pg_extension where extname = 'citus'")
    row = cur.fetchone()
    return row[0] if row else None


def enabled(settings: Settings) -> bool:
    """WAREHOUSE_CITUS when set (on/off), else whether the database has the extension."""
    switch = os.environ.get("WAREHOUSE_CITUS", "").strip().lower()
    if switch in ("on", "off"):
        return switch == "on"
    if switch:
        raise WarehouseError(f"WAREHOUSE_CITUS={switch!r}: use on, off, or leave it unset "
                             "to detect the citus extension.")
    try:
        with embedded.cursor(settings) as cur:
            return extension_version(cur) is not None
    except (WarehouseError, psycopg2.Error):
        return False  # no database to ask yet: nothing is distributed


@dataclass
class Table:
    name: str
    kind: str  # distributed (by column), reference
    column: str | None
    shards: int
    size_bytes: int


@dataclass
class Cluster:
    version: str
    coordinator: str
    workers: list[str]
    tables: list[Table]


def cluster(cur) -> Cluster | None:
    """The cluster as the coordinator sees it, or None when the database is not on Citus."""
    version = extension_version(cur)
    if version is None:
        return None
    cur.execute("select nodename || ':' || nodeport from pg_dist_node "
                "where groupid = 0 and noderole = 'primary'")
    coordinator = cur.fetchone()
    cur.execute("select node_name || ':' || node_port from citus_get_active_worker_nodes() "
                "order by 1")
    workers = [row[0] for row in cur.fetchall()]
    cur.execute("""
        select
            partition.logicalrelid::regclass::text,
            case partition.partmethod when 'h' then 'distributed' else 'reference' end,
            column_to_column_name(partition.logicalrelid, partition.partkey),
            (select count(*) from pg_dist_shard as shard
             where shard.logicalrelid = partition.logicalrelid),
            citus_total_relation_size(partition.logicalrelid)
        from pg_dist_partition as partition
        where partition.partmethod in ('h', 'n')
        order by 1""")
    tables = [Table(*row) for row in cur.fetchall()]
    return Cluster(version, coordinator[0] if coordinator else "not registered", workers, tables)


def require_single_server(settings: Settings, action: str) -> None:
    """Backups and restores are of one database; on Citus the rows live on the workers."""
    try:
        with embedded.cursor(settings) as cur:
            on_citus = extension_version(cur) is not None
    except psycopg2.Error:
        return  # the command's own connection reports the problem
    if on_citus:
        raise WarehouseError(
            f"{settings.dbname} is a Citus coordinator: `runner {action}` works on one "
            "database, and the distributed tables' rows live on the workers, so a dump of "
            "the coordinator would not hold them. Back up the cluster with your Citus "
            "provider's backups, or take `select citus_create_restore_point('name')` and "
            "back up every node at it (see docs/scaling-out.md)."
        )
