"""Load landing files into bronze with COPY: one transaction per file, nothing half-loaded.

A file is named ``<source>__<entity>__<YYYY-MM-DD>.<ext>``. Each is loaded at most once:
its SHA-256 is recorded in ``bronze.load_log``; the same name with other content is an
error, never a silent reload. A bad file (wrong columns, truncated, not UTF-8, bad JSON)
fails alone with the file, line and problem; the other files still load.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psycopg2
import psycopg2.errors
from psycopg2 import sql

from runner.core import embedded, locking, names
from runner.errors import WarehouseError
from runner.settings import Settings

BRONZE_SQL = Path(__file__).resolve().parent.parent / "sql" / "bronze.sql"
FILE_PATTERN = re.compile(r"^(?P<source>[a-z]+)__(?P<entity>[a-z_]+)__(?P<date>\d{4}-\d{2}-\d{2})\.(?P<ext>csv|jsonl)$")
# (source, entity) -> bronze table, load order within a batch
TABLES = {
    ("erp", "stores"): "erp_stores",
    ("erp", "products"): "erp_products",
    ("crm", "customers"): "crm_customers",
    ("erp", "orders"): "erp_orders",
    ("erp", "order_lines"): "erp_order_lines",
}
ORDER = list(TABLES.values())
PARTITION_MONTHS_AHEAD = 3
KNOWN_CUSTOMER_KEYS = {"customer_id", "first_name", "last_name", "email", "phone", "address",
                       "segment", "created_at", "updated_at", "is_deleted"}
LINEAGE = {"_source_file", "_batch_date", "_loaded_at", "_load_order"}
# A COPY in CSV mode whose quote and delimiter never occur in JSON: each line is one value.
JSON_COPY = "copy bronze.crm_customers (record) from stdin with (format csv, quote e'\\x01', delimiter e'\\x02')"
CSV_COPY = sql.SQL("copy bronze.{} ({}) from stdin with (format csv, header true)")


@dataclass
class FileResult:
    name: str
    status: str  # loaded | skipped | failed
    rows: int = 0
    error: str | None = None
    drift: list[str] = field(default_factory=list)
    seconds: float = 0.0


class HashingReader:
    """Feeds COPY from a file while hashing exactly the bytes sent."""

    def __init__(self, handle):
        self.handle = handle
        self.digest = hashlib.sha256()
        self.bytes = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.handle.read(size)
        self.digest.update(chunk)
        self.bytes += len(chunk)
        return chunk

    def readline(self, size: int = -1) -> bytes:
        line = self.handle.readline(size)
        self.digest.update(line)
        self.bytes += len(line)
        return line


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def install_bronze(conn) -> None:
    with conn.cursor() as cur:
        locking.ddl_lock(cur)
        cur.execute(BRONZE_SQL.read_text())
    conn.commit()


def _name_match(name: str) -> re.Match | None:
    """The name's parts, or None when it does not follow the pattern or its date does
    not exist (``2025-02-30``)."""
    match = FILE_PATTERN.match(name)
    if match:
        try:
            dt.date.fromisoformat(match["date"])
        except ValueError:
            return None
    return match


def landing_files(folder: Path) -> list[tuple[Path, re.Match | None]]:
    if not folder.is_dir():
        raise WarehouseError(
            f"landing folder {folder} does not exist. Create data with "
            f"`runner generate --out {folder}` or pass --landing."
        )
    files = []
    for path in folder.iterdir():
        if path.name.startswith(("_", ".")) or not path.is_file():
            continue
        files.append((path, _name_match(path.name)))

    def sort_key(item):
        path, match = item
        if not match or (match["source"], match["entity"]) not in TABLES:
            return ("9999", 99, path.name)
        return (match["date"], ORDER.index(TABLES[match["source"], match["entity"]]), path.name)

    return sorted(files, key=sort_key)


def _explain(error: psycopg2.Error) -> str:
    """One line from a COPY error: the line number and what was wrong."""
    message = (error.diag.message_primary or str(error)).strip()
    context = error.diag.context or ""
    line = re.search(r"COPY [^,]+, line (\d+)", context)
    return f"line {line.group(1)}: {message}" if line else message


def table_columns(cur, table: str) -> list[str]:
    cur.execute(
        "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 "
        "and not attisdropped order by attnum",
        (f"bronze.{table}",),
    )
    return [row[0] for row in cur.fetchall()]


def _csv_header(path: Path) -> list[str]:
    with open(path, "rb") as handle:
        first = handle.readline()
    if not first.strip():
        raise ValueError("line 1: the file is empty (no header)")
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"line 1: header is not valid UTF-8 ({error.reason})") from None
    header = [names.normalise_column(name) for name in next(csv.reader([text]))]
    unsafe = [name for name in header if not names.NAME.fullmatch(name)]
    if unsafe:
        raise ValueError(
            f"line 1: column name(s) {', '.join(repr(name) for name in unsafe[:3])} are not "
            "allowed: use letters, digits and underscores, starting with a letter or "
            "underscore, at most 63 characters"
        )
    return header


def _check_complete(path: Path) -> None:
    """Every record ends with a newline; a file that does not was cut during transfer
    (a value cut short would otherwise load silently)."""
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        if handle.tell() == 0:
            raise ValueError("line 1: the file is empty")
        handle.seek(-1, 2)
        if handle.read(1) != b"\n":
            raise ValueError(
                "the file does not end with a newline, so its last record may be cut short "
                "(an interrupted transfer?); deliver the complete file again"
            )


def _check_json_objects(cur, file_name: str) -> None:
    """Each line of a JSON-lines file is one object; name the first line that is not."""
    cur.execute(
        """
        select line, jsonb_typeof(record)
        from (
            select record, row_number() over (order by _load_order) as line
            from bronze.crm_customers
            where _source_file = %s
        ) as numbered
        where jsonb_typeof(record) <> 'object'
        order by line
        limit 1
        """,
        (file_name,),
    )
    found = cur.fetchone()
    if found:
        raise ValueError(f"line {found[0]}: a JSON {found[1]}, not an object; each line must "
                         "be one JSON object")


def load_file(conn, path: Path, match: re.Match) -> tuple[FileResult, HashingReader]:
    """Load one file in its own transaction; the caller records failures."""
    table = TABLES[match["source"], match["entity"]]
    started = time.monotonic()
    drift: list[str] = []
    with conn.cursor() as cur:
        cur.execute("set local warehouse.source_file = %s", (path.name,))
        cur.execute("set local warehouse.batch_date = %s", (match["date"],))
        with open(path, "rb") as handle:
            reader = HashingReader(handle)
            _check_complete(path)
            if match["ext"] == "jsonl":
                try:
                    cur.copy_expert(JSON_COPY, reader)
                except psycopg2.errors.NotNullViolation as error:
                    line = re.search(r"line (\d+)", error.diag.context or "")
                    raise ValueError(
                        f"line {line.group(1) if line else '?'}: a blank line; each line must "
                        "be one JSON object") from None
                rows = cur.rowcount
                _check_json_objects(cur, path.name)
                cur.execute(
                    "select distinct jsonb_object_keys(record) from bronze.crm_customers "
                    "where _source_file = %s",
                    (path.name,),
                )
                drift = sorted({row[0] for row in cur.fetchall()} - KNOWN_CUSTOMER_KEYS)
            else:
                header = _csv_header(path)
                known = [c for c in table_columns(cur, table) if c not in LINEAGE]
                missing = [c for c in known if c not in header and c in BASE_COLUMNS[table]]
                if missing:
                    raise ValueError(
                        f"line 1: header lacks {', '.join(missing)}; expected at least "
                        f"{','.join(BASE_COLUMNS[table])}"
                    )
                if len(set(header)) != len(header) or "" in header:
                    raise ValueError("line 1: header has empty or repeated column names")
                for column in header:
                    if column not in known:
                        if column in LINEAGE:
                            raise ValueError(f"line 1: column {column!r} is reserved for lineage")
                        # Schema drift: keep the new column (as text) and report it.
                        cur.execute(sql.SQL("alter table bronze.{} add column if not exists {} text")
                                    .format(sql.Identifier(table), sql.Identifier(column)))
                        drift.append(column)
                columns = sql.SQL(", ").join(map(sql.Identifier, header))
                cur.copy_expert(CSV_COPY.format(sql.Identifier(table), columns), reader)
                rows = cur.rowcount
    return FileResult(path.name, "loaded", rows=rows, drift=drift,
                      seconds=time.monotonic() - started), reader


BASE_COLUMNS = {
    "erp_products": ["product_id", "sku", "product_name", "category", "subcategory", "brand",
                     "unit_price", "currency", "updated_at"],
    "erp_stores": ["store_id", "store_name", "channel", "city", "country", "opened_date"],
    "erp_orders": ["order_id", "customer_id", "store_id", "order_ts", "status", "currency",
                   "updated_at"],
    "erp_order_lines": ["order_line_id", "order_id", "line_number", "product_id", "quantity",
                        "unit_price", "discount_amount", "updated_at"],
}


def _log(conn, path: Path, match, checksum: str, size: int, result: FileResult,
         started_at: dt.datetime) -> None:
    with conn.cursor() as cur:
        cur.execute(
            """
            insert into bronze.load_log as log (file_name, source_system, entity, batch_date,
                checksum_sha256, bytes, rows_loaded, status, error, drift_columns, started_at,
                duration_ms)
            values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            on conflict (file_name) do update set
                checksum_sha256 = excluded.checksum_sha256, bytes = excluded.bytes,
                rows_loaded = excluded.rows_loaded, status = excluded.status,
                error = excluded.error, drift_columns = excluded.drift_columns,
                started_at = excluded.started_at, duration_ms = excluded.duration_ms
            where log.status = 'failed'
            """,
            (
                path.name,
                match["source"] if match else "unknown",
                match["entity"] if match else "unknown",
                match["date"] if match else "1970-01-01",
                checksum,
                size,
                result.rows if result.status == "loaded" else None,
                "loaded" if result.status == "loaded" else "failed",
                result.error,
                result.drift,
                started_at,
                int(result.seconds * 1000),
            ),
        )


def load(
    settings: Settings,
    folder: Path,
    *,
    on_file: Callable[[FileResult], None] | None = None,
) -> list[FileResult]:
    """Load every landing file not loaded yet; returns one result per file seen."""
    files = landing_files(folder)
    conn = embedded.connect(settings)
    results: list[FileResult] = []
    try:
        install_bronze(conn)
        with conn.cursor() as cur:
            cur.execute("select file_name, checksum_sha256, status from bronze.load_log")
            seen = {name: (checksum, status) for name, checksum, status in cur.fetchall()}
        months = sorted({m["date"][:7] for _, m in files if m})
        if months:
            # The same SQL as `runner partitions setup`: every month the files need, plus
            # PARTITION_MONTHS_AHEAD months past the later of today and the newest batch.
            with conn.cursor() as cur:
                cur.execute(
                    "select bronze.ensure_partitions(%s::date, (date_trunc('month', "
                    "greatest(current_date, %s::date)) + make_interval(months => %s))::date)",
                    (months[0] + "-01", months[-1] + "-01", PARTITION_MONTHS_AHEAD),
                )
            conn.commit()
        for path, match in files:
            result = _load_one(conn, path, match, seen.get(path.name))
            results.append(result)
            if on_file:
                on_file(result)
    finally:
        conn.close()
    return results


def _load_one(conn, path: Path, match, previous) -> FileResult:
    started_at = dt.datetime.now(dt.timezone.utc)
    started = time.monotonic()
    if previous and previous[1] == "loaded":
        checksum = sha256_of(path)
        if checksum == previous[0]:
            return FileResult(path.name, "skipped")
        result = FileResult(
            path.name, "failed",
            error=(
                "was loaded before with other content (checksum differs); refused and "
                "recorded in bronze.load_refusals. Landing files are immutable: deliver "
                "corrections as a new file with a new name."
            ),
        )
        with conn.cursor() as cur:
            cur.execute(
                """
                insert into bronze.load_refusals (file_name, checksum_sha256, bytes, reason)
                values (%s, %s, %s, 'loaded before with other content')
                on conflict (file_name, checksum_sha256) do update set refused_at = now()
                """,
                (path.name, checksum, path.stat().st_size),
            )
        conn.commit()
        return result
    if not match or (match["source"], match["entity"]) not in TABLES:
        result = FileResult(
            path.name, "failed",
            error="name does not follow <source>__<entity>__<YYYY-MM-DD>.<csv|jsonl> "
                  f"for a known entity ({', '.join(f'{s}__{e}' for s, e in TABLES)}) "
                  "with a date that exists; rename it and load again",
        )
        _record_failure(conn, path, match, result, started_at)
        return result
    try:
        result, reader = load_file(conn, path, match)
        checksum, size = reader.digest.hexdigest(), reader.bytes
        _log(conn, path, match, checksum, size, result, started_at)
        conn.commit()
        return result
    except (psycopg2.DataError, psycopg2.IntegrityError, psycopg2.ProgrammingError,
            psycopg2.errors.BadCopyFileFormat, ValueError) as error:
        conn.rollback()
        message = _explain(error) if isinstance(error, psycopg2.Error) else str(error)
        result = FileResult(path.name, "failed", error=message,
                            seconds=time.monotonic() - started)
        _record_failure(conn, path, match, result, started_at)
        return result


def _record_failure(conn, path, match, result: FileResult, started_at) -> None:
    _log(conn, path, match, sha256_of(path), path.stat().st_size, result, started_at)
    conn.commit()


def load_status(settings: Settings, limit: int = 50) -> list[tuple]:
    with embedded.cursor(settings) as cur:
        if not embedded.relation_exists(cur, "bronze.load_log"):
            return []
        cur.execute(
            """
            select file_name, status, rows_loaded, bytes, left(checksum_sha256, 12),
                   duration_ms, coalesce(array_to_string(drift_columns, ','), ''),
                   coalesce(error, '')
            from bronze.load_log
            order by started_at desc, file_name desc
            limit %s
            """,
            (limit,),
        )
        return cur.fetchall()
