"""Verified, atomic logical backups (pg_dump directory format) and safe restores.

A backup is written to ``<dest>/.incomplete-<id>/`` and renamed to ``<dest>/<id>/`` only
when pg_dump succeeded and the manifest (row counts, SHA-256 of every file) is written,
so an interrupted backup never looks valid. A restore goes to a new database first; the
target is swapped only after the row counts match the manifest, and only after a safety
backup of the target was taken.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import psycopg2
from psycopg2 import sql

from runner import __version__
from runner.core import citus, embedded, names
from runner.core.load import sha256_of
from runner.errors import WarehouseError
from runner.settings import Settings, lock_timeout_seconds

MANIFEST = "manifest.json"
VERIFICATION = "verification.json"
INCOMPLETE = ".incomplete-"
DUMP_DIR = "dump"
ID_PATTERN = re.compile(r"^\d{8}T\d{6}Z(-[a-z0-9-]+)?$")
SCRATCH = re.compile(r"^(?P<target>[a-z_][a-z0-9_]*)__restoring_\d{14}$|^verify_[0-9a-f]{12}_(?P<pid>\d+)$")
IGNORABLE_ON_OLDER_SERVER = 'unrecognized configuration parameter "transaction_timeout"'
FINISHED_TABLE_DATA = re.compile(r"finished item (\d+) TABLE DATA ")
LISTED_TABLE_DATA = re.compile(r"^(\d+); \d+ \d+ TABLE DATA (\S+) (\S+) ", re.MULTILINE)
LISTED_OWNER = re.compile(r"^\d+; \d+ \d+ .* (\S+)$", re.MULTILINE)  # an item's last word
SYSTEM_DATABASES = {"postgres", "template0", "template1"}
TOC = "toc.dat"  # the dump's table of contents: every SQL statement pg_restore runs
DEFAULT_COMPRESSION = 1  # gzip level 1: several times faster than the default 6, barely bigger

Progress = Callable[[str], None]


def default_dest(settings: Settings) -> Path:
    return Path(os.environ.get("WAREHOUSE_BACKUP_DIR") or settings.home / "backups")


def die_with_parent() -> None:
    """Linux: end pg_dump / pg_restore if the runner is killed, instead of orphaning them."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _tool(name: str) -> str:
    return str(embedded.bin_path(name))


def tool_version(name: str) -> str:
    result = subprocess.run([_tool(name), "--version"], capture_output=True, text=True)
    return result.stdout.strip()


def _env(settings: Settings, dbname: str | None = None) -> dict[str, str]:
    return {**os.environ, **settings.libpq_env(dbname)}


def _checksums(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): sha256_of(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _user_relations(cur) -> dict[str, tuple[str, str]]:
    """Every user table (partitions, not their parents): its schema-qualified name as the
    manifest writes it -> (schema, table)."""
    cur.execute(
        """
        select format('%I.%I', namespace.nspname, class.relname), namespace.nspname, class.relname
        from pg_class as class
        join pg_namespace as namespace on namespace.oid = class.relnamespace
        where class.relkind = 'r'
            and namespace.nspname not in ('pg_catalog', 'information_schema')
            and namespace.nspname not like 'pg_toast%%'
            and namespace.nspname not like 'pg_temp%%'
        order by 1
        """
    )
    return {name: (schema, table) for name, schema, table in cur.fetchall()}


def user_tables(cur) -> list[str]:
    """Every user table, schema-qualified (partitions, not their parents)."""
    return list(_user_relations(cur))


def _count(cur, schema: str, table: str) -> int:
    cur.execute(sql.SQL("select count(*) from {}.{}").format(sql.Identifier(schema),
                                                             sql.Identifier(table)))
    return cur.fetchone()[0]


def row_counts(cur, tables: list[str] | None = None) -> dict[str, int]:
    """Exact row count of every user table (or of ``tables``)."""
    relations = _user_relations(cur)
    return {table: _count(cur, *relations[table])
            for table in (relations if tables is None else tables)}


def _row_counts_in_snapshot(settings: Settings, snapshot: str, tables: list[str]) -> dict[str, int]:
    """row_counts as of an exported snapshot, on a connection of its own."""
    conn = embedded.connect(settings)
    try:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with conn.cursor() as cur:
            cur.execute("set transaction snapshot %s", (snapshot,))
            cur.execute("set local lock_timeout = %s", (f"{lock_timeout_seconds()}s",))
            return row_counts(cur, tables)
    finally:
        conn.close()


def _dir_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


@dataclass
class BackupInfo:
    backup_id: str
    path: Path
    status: str  # complete | verified | verify-failed | incomplete
    created_at: dt.datetime | None
    size_bytes: int
    manifest: dict | None
    problem: str | None = None


def _refuse_inside_data_directory(settings: Settings, dest: Path) -> None:
    """Backups never go inside the server's data directory: PostgreSQL owns every file
    there, and a backup of a database inside that database's own folder is lost with it."""
    folders = [settings.pgdata] if settings.embedded else []
    try:
        with embedded.cursor(settings) as cur:
            cur.execute("select pg_catalog.current_setting('data_directory')")
            folders.append(Path(cur.fetchone()[0]))
    except psycopg2.Error:
        pass  # only superusers and pg_read_all_settings may read it
    where = dest.resolve()
    for folder in folders:
        if where == folder.resolve() or folder.resolve() in where.parents:
            raise WarehouseError(
                f"--dest {dest} is inside the database's data directory {folder}; choose a "
                "folder outside it (the default is .warehouse/backups)."
            )


def backup(
    settings: Settings,
    dest: Path,
    *,
    jobs: int = 2,
    label: str | None = None,
    compression: int = DEFAULT_COMPRESSION,
    progress: Progress | None = None,
) -> BackupInfo:
    if label and not re.fullmatch(r"[a-z0-9-]{1,40}", label):
        raise WarehouseError(
            f"--label {label!r}: use up to 40 lower-case letters, digits and dashes."
        )
    citus.require_single_server(settings, "backup")
    _refuse_inside_data_directory(settings, dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        probe = dest / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise WarehouseError(
            f"cannot write backups to {dest} ({error.strerror or error}). Choose a writable "
            "folder with --dest or WAREHOUSE_BACKUP_DIR."
        ) from None
    started = time.monotonic()
    # Ids have whole seconds: a backup started in the same second as another (or as one
    # that was killed and left its .incomplete folder) takes the next free second.
    for _attempt in range(3):
        now = dt.datetime.now(dt.timezone.utc)
        backup_id = now.strftime("%Y%m%dT%H%M%SZ") + (f"-{label}" if label else "")
        final = dest / backup_id
        staging = dest / f"{INCOMPLETE}{backup_id}"
        try:
            if final.exists():
                raise FileExistsError(final)
            staging.mkdir()
            break
        except FileExistsError:
            time.sleep(1.01 - now.microsecond / 1e6)
    else:
        raise WarehouseError(f"backup {backup_id} already exists in {dest}; wait a second and retry.")

    # Count rows and dump in the same snapshot, so the manifest describes the dump exactly.
    # The counting (a scan of every table) runs beside pg_dump, not before it.
    conn = embedded.connect(settings)
    try:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with conn.cursor() as cur:
            cur.execute("select pg_export_snapshot(), current_setting('server_version')")
            snapshot, server_version = cur.fetchone()
            tables = user_tables(cur)
            cur.execute(
                "select nspname from pg_namespace where nspname not like 'pg\\_%%' "
                "and nspname != 'information_schema' order by 1"
            )
            schemas = [row[0] for row in cur.fetchall()]
        with ThreadPoolExecutor(max_workers=1) as pool:
            counting = pool.submit(_row_counts_in_snapshot, settings, snapshot, tables)
            _run_pg_dump(settings, staging / DUMP_DIR, snapshot, jobs, compression, len(tables),
                         progress)
            counts = counting.result()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        conn.close()

    try:
        _write_manifest(staging, _manifest(settings, staging, backup_id, now, label,
                                           server_version, schemas, compression, jobs,
                                           started, counts))
        _fsync_tree(staging)
        os.replace(staging, final)
        _fsync_dir(dest)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise WarehouseError(
            f"could not finish backup {backup_id} in {dest} ({error.strerror or error}); "
            "nothing was kept. Free space (or choose another --dest) and run `runner backup` "
            "again."
        ) from None
    return info(final)


def _write_manifest(folder: Path, manifest: dict) -> None:
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def _manifest(settings, staging, backup_id, now, label, server_version, schemas, compression,
              jobs, started, counts) -> dict:
    return {
        "backup_id": backup_id,
        "created_at": now.isoformat(),
        "label": label,
        "server": {"host": settings.host, "port": settings.port, "version": server_version,
                   "user": settings.user},
        "database": settings.dbname,
        "schemas": schemas,
        "tools": {"pg_dump": tool_version("pg_dump"), "runner": __version__},
        "format": "directory",
        "compression": f"gzip:{compression}",
        "jobs": jobs,
        "duration_seconds": round(time.monotonic() - started, 3),
        "size_bytes": _dir_size(staging / DUMP_DIR),
        "row_counts": counts,
        "checksums": _checksums(staging / DUMP_DIR),
    }


def _run_pg_dump(settings, target: Path, snapshot: str, jobs: int, compression: int,
                 tables: int, progress: Progress | None) -> None:
    command = [
        _tool("pg_dump"), "--format=directory", f"--jobs={jobs}", f"--compress={compression}",
        f"--snapshot={snapshot}", "--no-password", "--verbose", f"--file={target}",
        f"--lock-wait-timeout={lock_timeout_seconds()}s", settings.dbname,
    ]
    returncode, errors = _run_pg_tool(command, _env(settings), tables, progress)
    if returncode != 0 and any("lock" in error or "statement timeout" in error for error in errors):
        raise WarehouseError(
            f"pg_dump waited {lock_timeout_seconds()} s for a table another session holds "
            f"locked ({errors[-1]}); nothing was kept and the database was not changed. "
            "Find the session in pg_locks / pg_stat_activity, let it finish (or raise "
            "WAREHOUSE_LOCK_TIMEOUT) and run the command again."
        )
    if returncode != 0:
        raise WarehouseError(
            "pg_dump failed: " + " | ".join(errors[-3:]) + ". Nothing was kept; fix the cause "
            "and run `runner backup` again."
        )


def _run_pg_tool(command: list[str], env: dict[str, str], tables: int,
                 progress: Progress | None,
                 on_table_data: Callable[[int], None] | None = None) -> tuple[int, list[str]]:
    """Run pg_dump / pg_restore --verbose, reporting each table finished (and passing its
    dump item id to ``on_table_data``); returns the exit code and its error lines (or,
    when it printed none, its last lines)."""
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True,
                               preexec_fn=die_with_parent)
    tail: list[str] = []
    errors: list[str] = []
    done = 0
    for line in process.stderr:
        tail = (tail + [line.rstrip()])[-15:]
        if "error:" in line.lower():
            errors.append(line.strip())
        finished = FINISHED_TABLE_DATA.search(line)
        if finished and on_table_data:
            on_table_data(int(finished.group(1)))
        if finished and progress:
            done += 1
            progress(f"{done}/{tables} tables")
    return process.wait(), errors or tail[-3:]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    for path in [folder, *[p for p in folder.rglob("*") if p.is_dir()]]:
        _fsync_dir(path)


def info(path: Path) -> BackupInfo:
    if path.is_symlink():
        # Never followed: a link could point anywhere, and prune would delete there.
        return BackupInfo(path.name, path, "damaged", None, 0, None,
                          "a symbolic link, not a backup folder (never followed)")
    if path.name.startswith(INCOMPLETE):
        return BackupInfo(path.name[len(INCOMPLETE):], path, "incomplete", None,
                          _dir_size(path), None)
    manifest_path = path / MANIFEST
    if not manifest_path.exists():
        return BackupInfo(path.name, path, "incomplete", None, _dir_size(path), None)
    try:
        manifest = json.loads(manifest_path.read_text())
        created_at = dt.datetime.fromisoformat(manifest["created_at"])
        found = BackupInfo(manifest["backup_id"], path, "complete", created_at,
                           int(manifest["size_bytes"]), manifest)
        if not isinstance(manifest["row_counts"], dict) or not isinstance(manifest["checksums"], dict):
            raise TypeError("row_counts and checksums must be objects")
    except (OSError, ValueError, KeyError, TypeError) as error:
        # One unreadable manifest must not hide the other backups.
        return BackupInfo(path.name, path, "damaged", None, _dir_size(path), None,
                          f"{MANIFEST} is unreadable ({type(error).__name__}: {error})")
    verification = path / VERIFICATION
    try:
        if verification.exists():
            found.status = "verified" if json.loads(verification.read_text())["ok"] else "verify-failed"
    except (OSError, ValueError, KeyError, TypeError):
        found.status = "verify-failed"
    return found


def list_backups(dest: Path) -> list[BackupInfo]:
    if not dest.exists():
        return []
    found = [info(path) for path in dest.iterdir() if (path.is_dir() or path.is_symlink())
             and (ID_PATTERN.match(path.name) or path.name.startswith(INCOMPLETE))]
    epoch = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    return sorted(found, key=lambda b: (b.created_at or epoch, b.backup_id), reverse=True)


def find(dest: Path, backup_id: str) -> BackupInfo:
    path = dest / backup_id
    if ID_PATTERN.match(backup_id) and (dest / f"{INCOMPLETE}{backup_id}").is_dir():
        raise WarehouseError(
            f"backup {backup_id} is incomplete (interrupted before it finished); it cannot be "
            "used. `runner backup prune` removes such leftovers after a day."
        )
    if not ID_PATTERN.match(backup_id) or not path.is_dir():
        known = ", ".join(b.backup_id for b in list_backups(dest)[:5]) or "none"
        raise WarehouseError(
            f"no backup {backup_id!r} in {dest} (newest: {known}). `runner backup list` shows them all."
        )
    found = info(path)
    if found.status == "incomplete":
        raise WarehouseError(f"backup {backup_id} is incomplete (interrupted); it cannot be used.")
    if found.status == "damaged":
        raise WarehouseError(f"backup {backup_id} is damaged: {found.problem}. It cannot be "
                             "used; pick another from `runner backup list`.")
    return found


def check_files(found: BackupInfo, only: str | None = None) -> list[str]:
    """Problems with the backup's files (or with the one file ``only``): missing, extra or
    changed (empty when intact)."""
    expected = found.manifest["checksums"]
    if only is None:
        actual = _checksums(found.path / DUMP_DIR)
    else:
        expected = {name: value for name, value in expected.items() if name == only}
        path = found.path / DUMP_DIR / only
        actual = {only: sha256_of(path)} if path.is_file() else {}
    problems = [f"{path.relative_to(found.path)} is a symbolic link" for path
                in (found.path / DUMP_DIR).rglob("*") if path.is_symlink()]
    problems += [f"{name} is missing" for name in expected if name not in actual]
    problems += [f"{name} is not in the manifest" for name in actual if name not in expected]
    problems += [f"{name} changed (checksum differs)" for name in expected
                 if name in actual and actual[name] != expected[name]]
    return problems


def _pg_restore_list(found: BackupInfo) -> subprocess.CompletedProcess:
    return subprocess.run([_tool("pg_restore"), "--list", str(found.path / DUMP_DIR)],
                          capture_output=True, text=True)


def _table_data_items(found: BackupInfo) -> dict[int, tuple[str, str]]:
    """The dump's table-data items: item id -> (schema, table), from pg_restore --list."""
    return {int(item): (schema, table)
            for item, schema, table in LISTED_TABLE_DATA.findall(_pg_restore_list(found).stdout)}


def _count_table(conn, schema: str, table: str) -> tuple[str, int]:
    """(the table's name as user_tables writes it, its exact row count)."""
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("select format('%%I.%%I', %s, %s), count(*) from {}.{}").format(
                sql.Identifier(schema), sql.Identifier(table)),
            (schema, table),
        )
        return cur.fetchone()


def _pg_restore_counting(command: list[str], env: dict[str, str], found: BackupInfo, conn,
                         progress: Progress | None) -> tuple[int, list[str], dict[str, int]]:
    """Run pg_restore and count each table's rows on ``conn`` as soon as pg_restore reports
    its data loaded (the rows do not change after that), beside pg_restore's other tables
    and indexes. ``conn`` is in autocommit, so each count is a short transaction of its own
    and holds no lock that pg_restore's later ALTER TABLE would wait on for long. Returns
    the exit code, the error lines and the counts taken; a table whose count was missed or
    failed is simply absent (the caller counts it afterwards)."""
    items = _table_data_items(found)
    counting = []
    with ThreadPoolExecutor(max_workers=1) as counter:
        def count_when_loaded(item: int) -> None:
            if item in items:
                counting.append(counter.submit(_count_table, conn, *items[item]))

        try:
            returncode, errors = _run_pg_tool(command, env, len(found.manifest["row_counts"]),
                                              progress, count_when_loaded)
        except BaseException:
            counter.shutdown(cancel_futures=True)
            raise
    counts = dict(future.result() for future in counting if future.exception() is None)
    return returncode, errors, counts


def _admin(settings: Settings):
    conn = embedded.connect(settings, "postgres")
    conn.autocommit = True
    return conn


def database_exists(settings: Settings, name: str) -> bool:
    conn = _admin(settings)
    try:
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (name,))
            return cur.fetchone() is not None
    finally:
        conn.close()


def _drop_database(settings: Settings, name: str) -> None:
    conn = _admin(settings)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("drop database if exists {} with (force)").format(
                sql.Identifier(names.checked(name, "database name"))))
    finally:
        conn.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def leftovers(settings: Settings) -> list[str]:
    """Scratch databases a killed restore or verify left behind (a verify's while the
    process that made it still runs is not one)."""
    conn = _admin(settings)
    try:
        with conn.cursor() as cur:
            cur.execute("select datname from pg_database order by 1")
            found = [SCRATCH.match(row[0]) for row in cur.fetchall()]
    finally:
        conn.close()
    return [match.group(0) for match in found
            if match and not (match["pid"] and _alive(int(match["pid"])))]


def drop_leftovers(settings: Settings, say: Progress | None = None) -> list[str]:
    """Drop what ``leftovers`` finds; returns the names dropped."""
    dropped = leftovers(settings)
    for name in dropped:
        _drop_database(settings, name)
        if say:
            say(f"dropped {name}, left behind by an interrupted restore or verify")
    return dropped


def restorer(settings: Settings) -> Settings:
    """Who replays a backup: the transformer, the role that owns the warehouse's objects,
    when `runner db roles` made one. A superuser replaying COPY would run whatever a check
    constraint, default or index expression the transformer wrote calls, with a
    superuser's rights."""
    return settings.for_role("transformer")


def _refuse_foreign_owners(settings: Settings, found: BackupInfo) -> None:
    """A superuser restores only a dump whose every object a superuser owned: anything
    else could run its owner's code with the superuser's rights. (A login that is no
    superuser, an external server's say, restores as itself.)"""
    owners = set(LISTED_OWNER.findall(_pg_restore_list(found).stdout)) - {"pg_database_owner"}
    conn = _admin(settings)
    try:
        with conn.cursor() as cur:
            cur.execute("select rolname from pg_catalog.pg_roles where rolsuper")
            superusers = {row[0] for row in cur.fetchall()}
    finally:
        conn.close()
    others = sorted(owners - superusers)
    if others and settings.user in superusers:
        raise WarehouseError(
            f"backup {found.backup_id} holds objects owned by {', '.join(others[:3])}, and "
            f"restoring it as the superuser {settings.user} would run their code with "
            "superuser rights. Run `runner db roles` first: restores then run as the "
            "transformer. Nothing was changed."
        )


def _restore_into(settings: Settings, found: BackupInfo, dbname: str, jobs: int,
                  progress: Progress | None) -> dict[str, int]:
    """Create ``dbname``, restore the backup into it as ``restorer``, return its row counts."""
    role = restorer(settings)
    if role.user == settings.user:
        _refuse_foreign_owners(settings, found)
    conn = _admin(settings)
    try:
        with conn.cursor() as cur:
            database = sql.Identifier(names.checked(dbname, "database name"))
            cur.execute(sql.SQL("create database {}").format(database))
            if role.user != settings.user:
                cur.execute(sql.SQL("grant create, temporary on database {} to {}").format(
                    database, sql.Identifier(role.user)))
    finally:
        conn.close()
    server_major = _server_major(role)
    dump_major = int(found.manifest["tools"]["pg_dump"].split()[-1].split(".")[0])
    older_server = server_major < dump_major
    # Into an older server, pg_dump's newer session settings (e.g. transaction_timeout,
    # PostgreSQL 17+) fail harmlessly: go on past errors, accept only those, and let the
    # row-count check below decide.
    command = [
        _tool("pg_restore"), f"--jobs={jobs}", "--no-owner", "--verbose",
        "--no-password", f"--dbname={dbname}", str(found.path / DUMP_DIR),
    ]
    if not older_server:
        command.insert(2, "--exit-on-error")
    conn = psycopg2.connect(**role.connect_kwargs(dbname))
    conn.autocommit = True
    try:
        returncode, errors, counts = _pg_restore_counting(
            command, _env(role, dbname), found, conn, progress)
        only_newer_settings = all(IGNORABLE_ON_OLDER_SERVER in error for error in errors)
        if returncode != 0 and not (older_server and only_newer_settings):
            reason = " | ".join(errors[-3:])
            if older_server:
                reason += (f" (the backup was written by pg_dump {dump_major} and the server "
                           f"runs PostgreSQL {server_major}: restoring into an older major "
                           "version may need objects or settings it lacks)")
            raise WarehouseError(f"pg_restore failed: {reason}")
        with conn.cursor() as cur:
            missed = [table for table in user_tables(cur) if table not in counts]
            counts.update(row_counts(cur, missed))
        return counts
    finally:
        conn.close()


def _server_major(settings: Settings) -> int:
    conn = _admin(settings)
    try:
        with conn.cursor() as cur:
            cur.execute("select current_setting('server_version_num')::int / 10000")
            return cur.fetchone()[0]
    finally:
        conn.close()


def _count_differences(expected: dict[str, int], actual: dict[str, int]) -> list[str]:
    problems = [f"{t}: {actual.get(t)} rows, manifest says {n}" for t, n in expected.items()
                if actual.get(t) != n]
    problems += [f"{t}: not in the manifest" for t in actual if t not in expected]
    return problems


def verify(settings: Settings | None, found: BackupInfo, *, restore_test: bool = False,
           jobs: int = 2, progress: Progress | None = None) -> list[str]:
    """Re-check a backup; returns the problems found (empty = verified) and records them."""
    problems = check_files(found)
    if not problems:
        listing = _pg_restore_list(found)
        if listing.returncode != 0:
            problems.append(f"pg_restore cannot read it: {listing.stderr.strip()}")
    if not problems and restore_test:
        digest = hashlib.sha256(found.backup_id.encode()).hexdigest()[:12]
        scratch = f"verify_{digest}_{os.getpid()}"
        try:
            counts = _restore_into(settings, found, scratch, jobs, progress)
            problems += _count_differences(found.manifest["row_counts"], counts)
        except WarehouseError as error:
            problems.append(str(error))
        finally:
            _drop_database(settings, scratch)
    record = {"ok": not problems, "problems": problems, "restore_test": restore_test,
              "verified_at": dt.datetime.now(dt.timezone.utc).isoformat()}
    (found.path / VERIFICATION).write_text(json.dumps(record, indent=1) + "\n")
    return problems


def prune(dest: Path, *, keep_days: int, keep_last: int) -> list[BackupInfo]:
    """Remove backups older than keep_days beyond the newest keep_last; never the newest
    verified one. Incomplete leftovers older than a day go too. Returns what was removed."""
    backups = list_backups(dest)
    # Damaged backups are kept for a person to look at; prune says so (see the command).
    complete = [b for b in backups if b.status not in ("incomplete", "damaged")]
    newest_verified = next((b for b in complete if b.status == "verified"), None)
    cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=keep_days)
    removed = []
    for index, candidate in enumerate(complete):
        if index < keep_last or candidate is newest_verified or candidate.created_at >= cutoff:
            continue
        shutil.rmtree(candidate.path)
        removed.append(candidate)
    day_ago = time.time() - 86400
    for leftover in (b for b in backups if b.status == "incomplete"):
        if leftover.path.stat().st_mtime < day_ago:
            shutil.rmtree(leftover.path)
            removed.append(leftover)
    return removed


@dataclass
class RestoreOutcome:
    target: str
    replaced_existing: bool
    safety_backup: BackupInfo | None


def restore(settings: Settings, found: BackupInfo, target: str, *, dest: Path, jobs: int = 2,
            confirmed: bool, progress: Progress | None = None) -> RestoreOutcome:
    """Restore into a new database, check it, then (if confirmed) swap it in for ``target``."""
    # The table of contents (the SQL pg_restore runs) is checked before anything runs; the
    # table data is hashed while pg_restore loads it into the new database.
    check_target(target)
    citus.require_single_server(settings, "restore")
    _refuse_if_damaged(found, check_files(found, only=TOC), target)
    exists = database_exists(settings, target)
    if exists and not confirmed:
        raise WarehouseError(
            f"database {target!r} exists and would be replaced. Re-run with --yes (or answer "
            "the prompt on a terminal) to confirm."
        )
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d%H%M%S")
    staging = f"{target}__restoring_{stamp}"
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            checking = pool.submit(check_files, found)
            try:
                counts = _restore_into(settings, found, staging, jobs, progress)
            except WarehouseError:
                _refuse_if_damaged(found, checking.result(), target)  # the likelier cause
                raise
            _refuse_if_damaged(found, checking.result(), target)
        differences = _count_differences(found.manifest["row_counts"], counts)
        if differences:
            raise WarehouseError(
                "the restored copy does not match the backup's manifest ("
                + "; ".join(differences[:3]) + f"). {target!r} was left untouched."
            )
    except BaseException:
        _drop_database(settings, staging)
        raise
    safety = None
    if exists:
        label = re.sub(r"[^a-z0-9-]", "-", f"pre-restore-{target}".lower())[:40]
        try:
            # As the backup role: pg_dump as a superuser reads what other roles control.
            safety = backup(settings.with_database(target).for_role("backup"), dest,
                            jobs=jobs, label=label)
        except BaseException:
            _drop_database(settings, staging)
            raise
    _swap(settings, staging, target, exists, stamp)
    return RestoreOutcome(target, exists, safety)


def check_target(target: str) -> str:
    """``target`` if a restore may replace it: not a database PostgreSQL itself needs,
    nor one of the restore's own scratch names."""
    names.database(target, "--target-db")
    if target in SYSTEM_DATABASES or SCRATCH.match(target) or "__replaced_" in target:
        raise WarehouseError(
            f"--target-db {target!r} is PostgreSQL's own database or a restore's scratch name; "
            "restore into the warehouse database or a new name such as warehouse_copy."
        )
    return target


def _refuse_if_damaged(found: BackupInfo, problems: list[str], target: str) -> None:
    if problems:
        raise WarehouseError(
            f"backup {found.backup_id} is damaged ({'; '.join(problems[:3])}); refusing to "
            f"restore it, and {target!r} was left untouched. Pick another backup from "
            "`runner backup list`."
        )


def _close_to_connections(cur, database: str) -> None:
    """Refuse new connections to ``database`` and end the ones it has."""
    cur.execute(sql.SQL("alter database {} with allow_connections false").format(
        sql.Identifier(database)))
    cur.execute("select pg_terminate_backend(pid) from pg_stat_activity "
                "where datname = %s and pid != pg_backend_pid()", (database,))


def _swap(settings: Settings, staging: str, target: str, exists: bool, stamp: str) -> None:
    """Put ``staging`` in place of ``target`` in one transaction: other sessions see the old
    database or the new one, never none. On any failure the names are as they were, the
    restored copy is dropped, and the error says the target was left untouched."""
    old = f"{target}__replaced_{stamp}"
    conn = _admin(settings)
    try:
        with conn.cursor() as cur:
            try:
                _close_to_connections(cur, staging)
                if exists:
                    _close_to_connections(cur, target)
                cur.execute("begin")
                cur.execute("set local lock_timeout = %s", (f"{lock_timeout_seconds()}s",))
                if exists:
                    cur.execute(sql.SQL("alter database {} rename to {}").format(
                        sql.Identifier(target), sql.Identifier(old)))
                cur.execute(sql.SQL("alter database {} rename to {}").format(
                    sql.Identifier(staging), sql.Identifier(target)))
                cur.execute(sql.SQL("alter database {} with allow_connections true").format(
                    sql.Identifier(target)))
                cur.execute("commit")
            except psycopg2.Error as error:
                cur.execute("rollback")
                if exists:
                    cur.execute(sql.SQL("alter database {} with allow_connections true").format(
                        sql.Identifier(target)))
                cur.execute(sql.SQL("drop database if exists {} with (force)").format(
                    sql.Identifier(staging)))
                raise WarehouseError(
                    f"could not swap the restored copy in ({str(error).strip()}); {target!r} "
                    "was left untouched and the copy dropped. Close the sessions on the "
                    "database (or wait for them) and run the restore again."
                ) from None
            if exists:
                cur.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(old)))
    finally:
        conn.close()
