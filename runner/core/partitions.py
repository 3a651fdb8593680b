"""Monthly partitions of the high-volume bronze tables: setup, status, retention.

The DDL is SQL (bronze.ensure_* functions, dbt macros partitions_setup and
partitions_retire); this module runs them and does what SQL cannot: archive a partition
to a checksummed file and verify the file before the partition is dropped.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from psycopg2 import sql

from runner.core import dbt, embedded
from runner.core import load as loader
from runner.errors import WarehouseError
from runner.settings import Settings

PARENTS = ("erp_orders", "erp_order_lines")
FUTURE_MONTHS_WANTED = 2


def setup(settings: Settings, months_ahead: int) -> str:
    with embedded.cursor(settings) as cur:
        loader.install_bronze(cur.connection)
    result = dbt.run_dbt_checked(
        settings,
        ["run-operation", "partitions_setup", "--args", json.dumps({"months_ahead": months_ahead})],
        capture=True,
    )
    created = [line for line in result.stdout.splitlines() if "partitions created:" in line]
    return created[-1].split("partitions created:")[-1].strip() if created else "?"


@dataclass
class PartitionInfo:
    parent: str
    name: str
    lower: dt.date | None  # None for the default partition
    upper: dt.date | None
    rows: int
    size_bytes: int


def partitions(settings: Settings) -> list[PartitionInfo]:
    with embedded.cursor(settings) as cur:
        if not embedded.relation_exists(cur, "bronze.erp_orders"):
            return []
        cur.execute(
            """
            select parent.relname, child.relname,
                pg_get_expr(child.relpartbound, child.oid),
                pg_total_relation_size(child.oid)
            from pg_inherits
            join pg_class as parent on parent.oid = pg_inherits.inhparent
            join pg_class as child on child.oid = pg_inherits.inhrelid
            join pg_namespace on pg_namespace.oid = parent.relnamespace
            where pg_namespace.nspname = 'bronze' and parent.relname = any(%s)
            order by parent.relname, child.relname
            """,
            (list(PARENTS),),
        )
        found = []
        for parent, name, bound, size in cur.fetchall():
            cur.execute(sql.SQL("select count(*) from bronze.{}").format(sql.Identifier(name)))
            rows = cur.fetchone()[0]
            dates = [dt.date.fromisoformat(d) for d in _bound_dates(bound)]
            lower, upper = (dates + [None, None])[:2] if dates else (None, None)
            found.append(PartitionInfo(parent, name, lower, upper, rows, size))
        return found


def _bound_dates(bound: str) -> list[str]:
    return re.findall(r"'(\d{4}-\d{2}-\d{2})'", bound)


def warnings_for(found: list[PartitionInfo], today: dt.date | None = None) -> list[str]:
    today = today or dt.date.today()
    this_month = today.replace(day=1)
    problems = []
    for parent in PARENTS:
        mine = [p for p in found if p.parent == parent]
        default = next((p for p in mine if p.lower is None), None)
        if default and default.rows:
            problems.append(
                f"{default.rows:,} rows of {parent} sit in the default partition: run "
                "`runner partitions setup` to move them into monthly partitions."
            )
        ahead = [p for p in mine if p.lower and p.lower > this_month]
        if len(ahead) < FUTURE_MONTHS_WANTED:
            problems.append(
                f"{parent} has {len(ahead)} partition(s) beyond this month (want "
                f"{FUTURE_MONTHS_WANTED}): run `runner partitions setup --months-ahead 3`."
            )
    return problems


@dataclass
class Archive:
    partition: str
    path: Path
    rows: int
    sha256: str


def _archive_partition(settings: Settings, part: PartitionInfo, folder: Path) -> Archive:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"bronze.{part.name}.csv.gz"
    tmp = path.with_suffix(".gz.tmp")
    with embedded.cursor(settings) as cur, gzip.open(tmp, "wb", compresslevel=1) as handle:
        columns = sql.SQL(", ").join(map(sql.Identifier, loader.table_columns(cur, part.name)))
        cur.copy_expert(
            sql.SQL("copy (select {} from bronze.{}) to stdout with (format csv, header true)")
            .format(columns, sql.Identifier(part.name)),
            handle,
        )
    tmp.replace(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    meta = {"table": f"bronze.{part.parent}", "partition": part.name,
            "from": part.lower.isoformat(), "to": part.upper.isoformat(),
            "rows": part.rows, "sha256": digest, "format": "csv+header, gzip"}
    path.with_name(path.name + ".json").write_text(json.dumps(meta, indent=1) + "\n")
    return Archive(part.name, path, part.rows, digest)


def verify_archive(path: Path) -> list[str]:
    meta_path = path.with_name(path.name + ".json")
    if not meta_path.exists():
        return [f"{meta_path} is missing"]
    meta = json.loads(meta_path.read_text())
    problems = []
    if hashlib.sha256(path.read_bytes()).hexdigest() != meta["sha256"]:
        problems.append(f"{path.name}: checksum differs from its .json")
    try:
        with gzip.open(path, "rt", newline="") as handle:
            rows = sum(1 for _ in csv.reader(handle)) - 1
    except (OSError, EOFError) as error:
        return problems + [f"{path.name}: unreadable ({error})"]
    if rows != meta["rows"]:
        problems.append(f"{path.name}: {rows} rows, expected {meta['rows']}")
    return problems


def retain(settings: Settings, older_than_months: int, archive_dir: Path | None,
           no_archive: bool, today: dt.date | None = None) -> tuple[list[PartitionInfo], list[Archive]]:
    if archive_dir is None and not no_archive:
        raise WarehouseError(
            "retention drops data: pass --archive DIR to keep a verified copy of each "
            "partition, or --no-archive to drop without one."
        )
    today = today or dt.date.today()
    month = today.replace(day=1)
    cutoff_month = (month.year * 12 + month.month - 1) - older_than_months
    cutoff = dt.date(cutoff_month // 12, cutoff_month % 12 + 1, 1)
    candidates = [p for p in partitions(settings) if p.upper and p.upper <= cutoff]
    archives = []
    for part in candidates:
        if archive_dir is not None:
            archive = _archive_partition(settings, part, archive_dir)
            problems = verify_archive(archive.path)
            if problems:
                raise WarehouseError(
                    f"the archive of {part.name} did not verify ({'; '.join(problems)}); "
                    "nothing was dropped."
                )
            archives.append(archive)
    if candidates:
        dbt.run_dbt_checked(
            settings,
            ["run-operation", "partitions_retire", "--args",
             json.dumps({"partitions": [p.name for p in candidates]})],
            capture=True,
        )
    return candidates, archives


def restore_archive(settings: Settings, path: Path) -> int:
    """Load an archived partition back: recreate its month and COPY the rows in. Restoring
    an archive whose rows are already back does nothing (returns 0)."""
    problems = verify_archive(path)
    if problems:
        raise WarehouseError(f"archive {path} did not verify: {'; '.join(problems)}")
    meta = json.loads(path.with_name(path.name + ".json").read_text())
    parent = meta.get("table", "").removeprefix("bronze.")
    partition = meta.get("partition", "")
    if parent not in PARENTS or not re.fullmatch(rf"{parent}_p\d{{6}}", partition):
        raise WarehouseError(f"archive {path} is not of a monthly bronze partition "
                             f"(table {meta.get('table')!r}, partition {partition!r}).")
    with gzip.open(path, "rt", newline="") as handle:
        header = next(csv.reader(handle), [])
    # One transaction: the rows and the month's removal from the retired list.
    with embedded.cursor(settings) as cur:
        columns = loader.table_columns(cur, parent)
        unknown = [name for name in header if name not in columns]
        if unknown or not header:
            raise WarehouseError(f"archive {path}: column(s) {unknown or header} are not "
                                 f"columns of bronze.{parent}; nothing was restored.")
        cur.execute("select bronze.ensure_month_partition(%s, %s::date)", (parent, meta["from"]))
        cur.execute(sql.SQL("select count(*) from bronze.{}").format(sql.Identifier(partition)))
        present = cur.fetchone()[0]
        if present == meta["rows"]:
            return 0
        if present:
            raise WarehouseError(
                f"bronze.{partition} already holds {present:,} rows and the archive "
                f"{meta['rows']:,}: it was reloaded some other way. Nothing was restored; "
                "compare them before deciding which to keep."
            )
        with gzip.open(path, "rb") as handle:
            cur.copy_expert(
                sql.SQL("copy bronze.{} ({}) from stdin with (format csv, header true)").format(
                    sql.Identifier(parent), sql.SQL(", ").join(map(sql.Identifier, header))),
                handle)
            rows = cur.rowcount
        cur.execute("delete from bronze.retired_partitions where partition_name = %s",
                    (partition,))
    return rows
