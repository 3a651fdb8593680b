"""Load landing files into bronze with COPY: one transaction per file, nothing half-loaded.

A file is named ``<source>__<entity>__<YYYY-MM-DD>.<ext>``. Each is loaded at most once:
its SHA-256 is recorded in ``bronze.load_log``; the same name with other content is an
error, never a silent reload. A bad file (wrong columns, truncated, not UTF-8, bad JSON)
fails alone with the file, line and problem; the other files still load.

The landing folder is a trust boundary: only regular files directly inside it are read
(opened relative to the folder with O_NOFOLLOW, checked with fstat), and no error quotes
what a file holds, only where (line, column) and what kind of problem it is.
"""

from __future__ import annotations

import csv
import datetime as dt
import errno
import hashlib
import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psycopg2
import psycopg2.errorcodes
import psycopg2.errors
from psycopg2 import sql

from runner.core import embedded, locking, names
from runner.errors import WarehouseError
from runner.settings import Settings

BRONZE_SQL = Path(__file__).resolve().parent.parent / "sql" / "bronze.sql"
# Matched whole (fullmatch) and ASCII only: no trailing newline, no Unicode digits or letters.
FILE_PATTERN = re.compile(
    r"(?P<source>[a-z]+)__(?P<entity>[a-z_]+)__(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"\.(?P<ext>csv|jsonl)", re.ASCII)
# (source, entity) -> bronze table, load order within a batch
TABLES = {
    ("erp", "stores"): "erp_stores",
    ("erp", "products"): "erp_products",
    ("crm", "customers"): "crm_customers",
    ("erp", "orders"): "erp_orders",
    ("erp", "order_lines"): "erp_order_lines",
}
ORDER = list(TABLES.values())
# Each entity arrives in one format, so a name says which COPY reads it.
JSON_LINES = {"crm_customers"}
PARTITIONED = {"erp_orders", "erp_order_lines"}
PARTITION_MONTHS_AHEAD = 3
# Batch dates accepted: from MAX_AGE_DAYS before today to DAYS_AHEAD after it. A date
# in a name creates bronze partitions, so it must be bounded (1900-01-01 would create
# thousands). WAREHOUSE_LOAD_MAX_AGE_DAYS or `runner load --max-age-days` widens it.
MAX_AGE_DAYS = 3660
MAX_AGE_VARIABLE = "WAREHOUSE_LOAD_MAX_AGE_DAYS"
DAYS_AHEAD = 7
# The start of a file is enough to tell compressed or binary data from text.
SNIFF_BYTES = 8192
MAGIC = {b"\x1f\x8b": "gzip", b"PK\x03\x04": "zip", b"BZh": "bzip2",
         b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}
BOM = b"\xef\xbb\xbf"
MAX_HEADER_BYTES = 1 << 20
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
    """Feeds COPY from a file while hashing exactly the bytes read. With ``framing`` (the
    bytes a JSON-lines COPY uses as its quote and delimiter), a line holding one of them
    ends the data there and sets ``problem``: the file fails, records never merge."""

    def __init__(self, handle, framing: tuple[bytes, ...] = ()):
        self.handle = handle
        self.digest = hashlib.sha256()
        self.bytes = 0
        self.framing = framing
        self.lines = 0
        self.problem: str | None = None

    def skip(self, size: int) -> None:
        """Hash ``size`` bytes without sending them (a byte-order mark)."""
        self.digest.update(self.handle.read(size))
        self.bytes += size

    def read(self, size: int = -1) -> bytes:
        if self.problem:
            return b""
        chunk = self.handle.read(size)
        self.digest.update(chunk)
        self.bytes += len(chunk)
        hits = [at for at in (chunk.find(byte) for byte in self.framing) if at >= 0]
        if hits:
            at = min(hits)
            line = self.lines + chunk.count(b"\n", 0, at) + 1
            self.problem = (f"line {line}: a raw control character (0x{chunk[at]:02x}); JSON "
                            "allows none outside escapes, so the line is not valid JSON")
            return b""
        self.lines += chunk.count(b"\n")
        return chunk


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _hash_handle(handle) -> tuple[str, int]:
    handle.seek(0)
    digest, size = hashlib.sha256(), 0
    for chunk in iter(lambda: handle.read(1 << 20), b""):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def install_bronze(conn) -> None:
    with conn.cursor() as cur:
        locking.ddl_lock(cur)
        cur.execute(BRONZE_SQL.read_text())
    conn.commit()


def _name_match(name: str) -> re.Match | None:
    """The name's parts, or None when it does not follow the pattern or its date does
    not exist (``2025-02-30``)."""
    match = FILE_PATTERN.fullmatch(name)
    if match:
        try:
            dt.date.fromisoformat(match["date"])
        except ValueError:
            return None
    return match


@dataclass
class LandingFile:
    name: str
    match: re.Match | None
    # What the entry is when it is not a regular file (a symbolic link, a directory, ...).
    special: str | None = None


def _kind(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    for test, kind in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")):
        if test(mode):
            return kind
    return "not a regular file"


def landing_files(folder: Path) -> list[LandingFile]:
    if not folder.is_dir():
        raise WarehouseError(
            f"landing folder {folder} does not exist. Create data with "
            f"`runner generate --out {folder}` or pass --landing."
        )
    files = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(("_", ".")):
                continue
            try:
                special = _kind(entry.stat(follow_symlinks=False).st_mode)
            except FileNotFoundError:  # removed since the listing: nothing to load
                continue
            files.append(LandingFile(entry.name, _name_match(entry.name), special))

    def sort_key(file):
        match = file.match
        if not match or (match["source"], match["entity"]) not in TABLES:
            return ("9999", 99, file.name)
        return (match["date"], ORDER.index(TABLES[match["source"], match["entity"]]), file.name)

    return sorted(files, key=sort_key)


class Refused(Exception):
    """A landing entry that is not read at all (not a regular file inside the folder)."""


def _open_inside(folder_fd: int, name: str):
    """The regular file ``name`` directly inside the opened folder, never through a link:
    O_NOFOLLOW refuses a symbolic link even if one replaced the file since the listing,
    O_NONBLOCK keeps a named pipe from blocking the open, fstat checks what was opened."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, dir_fd=folder_fd)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise Refused(_special_error("a symbolic link")) from None
        raise
    kind = _kind(os.fstat(fd).st_mode)
    if kind:
        os.close(fd)
        raise Refused(_special_error(kind))
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _special_error(kind: str) -> str:
    return (f"is {kind}, not a regular file: only regular files inside the landing folder "
            "are loaded (links are never followed). Copy the file itself into the folder.")


def _explain(error: psycopg2.Error) -> str:
    """One line from a COPY error: the line number and what was wrong, never the data."""
    context = error.diag.context or ""
    line = re.search(r"COPY [^,]+, line (\d+)", context)
    code = error.pgcode or ""
    known = {
        "22P02": "not valid JSON",
        "22021": "bytes that are not UTF-8 text (a NUL byte, or text in another encoding): "
                 "export the file as UTF-8",
        "22P05": "a character PostgreSQL cannot store in text (\\u0000)",
        "54001": "nested too deeply to parse (beyond the server's stack depth limit)",
        "54000": "a line too long for the server to hold",
        "53100": "the database server ran out of disk space while loading it; nothing of "
                 "the file was kept: free space and run `runner load` again",
        "53200": "the database server ran out of memory while loading it; nothing of the "
                 "file was kept",
    }
    if code in known:
        message = known[code]
    elif code == "22P04":
        # COPY's format errors name a column of our list at most, never a value.
        message = (error.diag.message_primary or "bad CSV format").strip()
    else:
        name = psycopg2.errorcodes.lookup(code) if code else type(error).__name__
        message = f"the database refused it ({name.lower()}, SQLSTATE {code or '?'})"
    return f"line {line.group(1)}: {message}" if line else message


def table_columns(cur, table: str) -> list[str]:
    cur.execute(
        "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 "
        "and not attisdropped order by attnum",
        (f"bronze.{table}",),
    )
    return [row[0] for row in cur.fetchall()]


def _csv_header(handle) -> list[str]:
    """The header at the handle's position (which is left unchanged)."""
    start = handle.tell()
    first = handle.readline(MAX_HEADER_BYTES + 1)
    handle.seek(start)
    if not first.strip():
        raise ValueError("line 1: the file is empty (no header)")
    if len(first) > MAX_HEADER_BYTES:
        raise ValueError(f"line 1: the header is longer than {MAX_HEADER_BYTES:,} bytes")
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"line 1: header is not valid UTF-8 ({error.reason})") from None
    header = [names.normalise_column(name) for name in next(csv.reader([text]))]
    unsafe = [str(number) for number, name in enumerate(header, 1)
              if not names.NAME.fullmatch(name)]
    if unsafe:
        # Positions only: the header is the sender's text, and errors reach logs and alerts.
        raise ValueError(
            f"line 1: column name(s) at position {', '.join(unsafe[:5])} of the header are "
            "not allowed: use letters, digits and underscores, starting with a letter or "
            "underscore, at most 63 characters"
        )
    return header


def _check_start(reader: HashingReader) -> None:
    """Refuse compressed or binary data with a message that says so; skip a UTF-8
    byte-order mark (Excel writes one), hashed but not loaded."""
    handle = reader.handle
    start = handle.read(SNIFF_BYTES)
    handle.seek(0)
    for magic, kind in MAGIC.items():
        if start.startswith(magic):
            raise ValueError(f"the file holds {kind}-compressed data, not text: decompress "
                             "it (or deliver it uncompressed) under this name and load again")
    if b"\x00" in start:
        line = start.count(b"\n", 0, start.index(b"\x00")) + 1
        raise ValueError(f"line {line}: a NUL byte: the file holds binary data, not "
                         "UTF-8 text; deliver the text export")
    if start.startswith(BOM):
        reader.skip(len(BOM))


def _check_complete(handle) -> None:
    """Every record ends with a newline; a file that does not was cut during transfer
    (a value cut short would otherwise load silently)."""
    start = handle.tell()
    handle.seek(0, 2)
    if handle.tell() == 0:
        raise ValueError("line 1: the file is empty")
    handle.seek(-1, 2)
    last = handle.read(1)
    handle.seek(start)
    if last != b"\n":
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


def load_file(conn, reader: HashingReader, name: str, match: re.Match) -> FileResult:
    """Load one opened file in its own transaction; the caller records failures."""
    table = TABLES[match["source"], match["entity"]]
    started = time.monotonic()
    drift: list[str] = []
    handle = reader.handle
    with conn.cursor() as cur:
        cur.execute("set local warehouse.source_file = %s", (name,))
        cur.execute("set local warehouse.batch_date = %s", (match["date"],))
        _check_start(reader)
        _check_complete(handle)
        if table in JSON_LINES:
            try:
                cur.copy_expert(JSON_COPY, reader)
            except psycopg2.errors.NotNullViolation as error:
                line = re.search(r"line (\d+)", error.diag.context or "")
                raise ValueError(
                    f"line {line.group(1) if line else '?'}: a blank line; each line must "
                    "be one JSON object") from None
            if reader.problem:
                raise ValueError(reader.problem)
            rows = cur.rowcount
            _check_json_objects(cur, name)
            cur.execute(
                "select distinct jsonb_object_keys(record) from bronze.crm_customers "
                "where _source_file = %s",
                (name,),
            )
            drift = sorted({row[0] for row in cur.fetchall()} - KNOWN_CUSTOMER_KEYS)
        else:
            header = _csv_header(handle)
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
    return FileResult(name, "loaded", rows=rows, drift=drift,
                      seconds=time.monotonic() - started)


BASE_COLUMNS = {
    "erp_products": ["product_id", "sku", "product_name", "category", "subcategory", "brand",
                     "unit_price", "currency", "updated_at"],
    "erp_stores": ["store_id", "store_name", "channel", "city", "country", "opened_date"],
    "erp_orders": ["order_id", "customer_id", "store_id", "order_ts", "status", "currency",
                   "updated_at"],
    "erp_order_lines": ["order_line_id", "order_id", "line_number", "product_id", "quantity",
                        "unit_price", "discount_amount", "updated_at"],
}


def _log(conn, name: str, match, checksum: str, size: int, result: FileResult,
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
                name,
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


def max_age_days(value: int | None = None) -> int:
    """The accepted age of a batch date in days: ``value``, else $WAREHOUSE_LOAD_MAX_AGE_DAYS,
    else MAX_AGE_DAYS."""
    if value is None:
        raw = os.environ.get(MAX_AGE_VARIABLE, "").strip()
        if not raw:
            return MAX_AGE_DAYS
        if not raw.isascii() or not raw.isdigit():
            raise WarehouseError(f"{MAX_AGE_VARIABLE} must be a whole number of days, got "
                                 f"{names.shown(raw)!r}.")
        value = int(raw)
    if not 0 < value <= 36500:
        raise WarehouseError(f"the batch date window must be 1 to 36500 days, got {value}.")
    return value


def _refusal(file: LandingFile, window: tuple[dt.date, dt.date]) -> str | None:
    """Why a name is refused before anything is created for it, or None."""
    match = file.match
    known = ", ".join(f"{source}__{entity}" for source, entity in TABLES)
    if not match or (match["source"], match["entity"]) not in TABLES:
        return ("name does not follow <source>__<entity>__<YYYY-MM-DD>.<csv|jsonl> "
                f"for a known entity ({known}) with a date that exists (lower-case ASCII, "
                "no spaces or control characters); rename it and load again")
    table = TABLES[match["source"], match["entity"]]
    wanted = "jsonl" if table in JSON_LINES else "csv"
    if match["ext"] != wanted:
        return (f"{match['source']}__{match['entity']} files are .{wanted}, not "
                f".{match['ext']}; rename it and load again")
    date = dt.date.fromisoformat(match["date"])
    if not window[0] <= date <= window[1]:
        return (f"batch date {date} is outside the accepted window ({window[0]} to "
                f"{window[1]}); correct the name, or widen the window with --max-age-days "
                f"or {MAX_AGE_VARIABLE} to load old history")
    return None


def load(
    settings: Settings,
    folder: Path,
    *,
    on_file: Callable[[FileResult], None] | None = None,
    max_age: int | None = None,
    today: dt.date | None = None,
) -> list[FileResult]:
    """Load every landing file not loaded yet; returns one result per file seen."""
    today = today or dt.date.today()
    window = (today - dt.timedelta(days=max_age_days(max_age)),
              today + dt.timedelta(days=DAYS_AHEAD))
    files = landing_files(folder)
    folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    conn = embedded.connect(settings)
    results: list[FileResult] = []
    try:
        install_bronze(conn)
        with conn.cursor() as cur:
            cur.execute("select file_name, checksum_sha256, status from bronze.load_log")
            seen = {name: (checksum, status) for name, checksum, status in cur.fetchall()}
        refusals = {file.name: _refusal(file, window) for file in files if not file.special}
        # Partitions only for the months of files that will be loaded: each month the
        # accepted files need, and the months ahead of today, never the span between.
        months = sorted({
            file.match["date"][:7] + "-01" for file in files
            if not file.special and refusals[file.name] is None
            and TABLES[file.match["source"], file.match["entity"]] in PARTITIONED
            and seen.get(file.name, ("", "failed"))[1] != "loaded"
        })
        with conn.cursor() as cur:
            for month in months:
                cur.execute("select bronze.ensure_partitions(%s::date, %s::date)", (month, month))
            cur.execute(
                "select bronze.ensure_partitions(date_trunc('month', %s::date)::date, "
                "(date_trunc('month', %s::date) + make_interval(months => %s))::date)",
                (today, today, PARTITION_MONTHS_AHEAD),
            )
        conn.commit()
        for file in files:
            result = _load_one(conn, folder_fd, file, seen.get(file.name),
                               refusals.get(file.name))
            results.append(result)
            if on_file:
                on_file(result)
    finally:
        conn.close()
        os.close(folder_fd)
    return results


def _load_one(conn, folder_fd: int, file: LandingFile, previous, refusal: str | None) -> FileResult:
    """Load one landing entry; whatever goes wrong with it fails it alone, recorded in
    bronze.load_log (unless the connection itself is lost)."""
    started_at = dt.datetime.now(dt.timezone.utc)
    started = time.monotonic()
    name, match = file.name, file.match
    if file.special:
        return _fail(conn, file, _special_error(file.special), started_at, started)
    try:
        handle = _open_inside(folder_fd, name)
    except Refused as error:
        return _fail(conn, file, str(error), started_at, started)
    except OSError as error:
        return _fail(conn, file, f"could not be opened: {error.strerror}", started_at, started)
    reader = None
    with handle:
        try:
            if previous and previous[1] == "loaded":
                return _refuse_changed(conn, handle, name, previous[0])
            if refusal:
                return _fail(conn, file, refusal, started_at, started, handle)
            json_lines = TABLES[match["source"], match["entity"]] in JSON_LINES
            reader = HashingReader(handle, (b"\x01", b"\x02") if json_lines else ())
            result = load_file(conn, reader, name, match)
            _log(conn, name, match, reader.digest.hexdigest(), reader.bytes, result, started_at)
            conn.commit()
            return result
        except Exception as error:  # noqa: BLE001 - any error fails this file alone
            if conn.closed:
                raise WarehouseError(
                    f"the connection to the database was lost while loading "
                    f"{names.shown(name)}; nothing of that file was kept. Check the server, "
                    "then run `runner load` again."
                ) from None
            conn.rollback()
            # A control character ends the COPY early; the error it then meets is a symptom.
            problem = reader.problem if reader else None
            return _fail(conn, file, problem or _message(error), started_at, started, handle)


def _message(error: Exception) -> str:
    if isinstance(error, psycopg2.Error):
        return _explain(error)
    if isinstance(error, ValueError):
        return str(error)
    if isinstance(error, OSError):
        return f"could not be read: {error.strerror or type(error).__name__}"
    if isinstance(error, csv.Error):
        return "line 1: the header is not readable CSV"
    # Not the exception's text: it may quote the file.
    return f"could not be loaded ({type(error).__name__}); nothing of it was kept"


def _refuse_changed(conn, handle, name: str, checksum_before: str) -> FileResult:
    checksum, size = _hash_handle(handle)
    if checksum == checksum_before:
        return FileResult(name, "skipped")
    with conn.cursor() as cur:
        cur.execute(
            """
            insert into bronze.load_refusals (file_name, checksum_sha256, bytes, reason)
            values (%s, %s, %s, 'loaded before with other content')
            on conflict (file_name, checksum_sha256) do update set refused_at = now()
            """,
            (name, checksum, size),
        )
    conn.commit()
    return FileResult(
        name, "failed",
        error=(
            "was loaded before with other content (checksum differs); refused and "
            "recorded in bronze.load_refusals. Landing files are immutable: deliver "
            "corrections as a new file with a new name."
        ),
    )


def _fail(conn, file: LandingFile, error: str, started_at, started, handle=None) -> FileResult:
    """A failed result, recorded in bronze.load_log with the file's checksum (none for an
    entry that is not read)."""
    result = FileResult(file.name, "failed", error=error, seconds=time.monotonic() - started)
    try:
        checksum, size = _hash_handle(handle) if handle else ("", 0)
    except OSError:
        checksum, size = "", 0
    try:
        _log(conn, file.name, file.match, checksum, size, result, started_at)
        conn.commit()
    except psycopg2.Error as log_error:
        if conn.closed:
            raise WarehouseError(
                f"the connection to the database was lost while recording that "
                f"{names.shown(file.name)} failed ({error}). Check the server, then run "
                "`runner load` again.") from None
        conn.rollback()
        result.error += f" (and it could not be recorded in bronze.load_log: {_explain(log_error)})"
    return result



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
