"""One writer at a time, and one DDL step at a time, on locks no reader can take.

Writers coordinate on table locks in the ``runner_locks`` schema, which only the
transformer (its owner, the role that writes) and superusers may use: an advisory lock
would be open to every login, so an analyst could hold it and stop the runner. The locks
live in the warehouse database itself, so they work for every process and host that uses
the same database. A second writer waits up to ``wait`` seconds, then fails with a message
naming the holder (application, pid, since when); a lock dies with its session.
"""

from __future__ import annotations

import contextlib

import psycopg2
import psycopg2.errors

from runner.core import embedded
from runner.errors import WarehouseError
from runner.settings import Settings, lock_timeout_seconds

SCHEMA = "runner_locks"
WRITER = "runner_locks.writer"  # held for a whole command that writes
DDL = "runner_locks.ddl"  # held for one transaction that creates shared tables (bronze, audit)
SETUP_SQL = """
    create schema if not exists runner_locks;
    revoke all on schema runner_locks from public;
    create table if not exists runner_locks.writer ();
    create table if not exists runner_locks.ddl ();
    revoke all on runner_locks.writer, runner_locks.ddl from public;
"""


def ensure_lock_tables(cur) -> None:
    """Create the lock tables once (inside the caller's transaction; a concurrent creator's
    copy wins)."""
    cur.execute("select pg_catalog.to_regclass(%s) is not null, pg_catalog.to_regclass(%s) "
                "is not null", (WRITER, DDL))
    if all(cur.fetchone()):
        return
    cur.execute("savepoint lock_tables")
    try:
        cur.execute(SETUP_SQL)
    except (psycopg2.errors.UniqueViolation, psycopg2.errors.DuplicateObject,
            psycopg2.errors.DuplicateSchema, psycopg2.errors.DuplicateTable):
        cur.execute("rollback to savepoint lock_tables")
    except psycopg2.errors.InsufficientPrivilege:
        info = cur.connection.info
        raise WarehouseError(
            f"the runner's lock tables ({SCHEMA}) are missing and the database refused the "
            f"login {info.user} the right to create them. Grant it (`grant create on database "
            f"{info.dbname} to {info.user}`, as docs/scaling-out.md shows for the etl login), "
            "or run `runner db roles` as the superuser, which sets them up."
        ) from None
    cur.execute("release savepoint lock_tables")


def ddl_lock(cur) -> None:
    """Serialise `create ... if not exists` of shared tables until the caller's transaction
    ends; waits at most WAREHOUSE_LOCK_TIMEOUT seconds."""
    ensure_lock_tables(cur)
    cur.execute("set local lock_timeout = %s", (f"{lock_timeout_seconds()}s",))
    try:
        cur.execute("lock table runner_locks.ddl in exclusive mode")
    except psycopg2.errors.LockNotAvailable:
        raise WarehouseError(
            f"waited {lock_timeout_seconds()} s for another runner creating the warehouse's "
            f"tables ({_holder(cur, DDL)}). Let it finish (or raise WAREHOUSE_LOCK_TIMEOUT) "
            "and run the command again."
        ) from None


@contextlib.contextmanager
def writer_lock(settings: Settings, command: str, wait: float = 0.0):
    """Hold the writer lock while the block runs, on a session of its own (as the
    transformer when `runner db roles` made one: the lock table's owner)."""
    if not 0 <= wait <= 86400:  # nan too
        raise WarehouseError(f"--wait {wait}: give seconds from 0 to 86400.")
    conn = embedded.connect(settings.for_role("transformer"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("set application_name = %s", (f"runner {command}",))
            # The lock is an open transaction that stays idle for the whole command.
            cur.execute("set idle_in_transaction_session_timeout = 0")
            cur.execute("begin")
            ensure_lock_tables(cur)
            cur.execute("commit")
            cur.execute("begin")
            try:
                if wait > 0:
                    cur.execute("set local lock_timeout = %s", (f"{max(int(wait * 1000), 1)}ms",))
                    cur.execute("lock table runner_locks.writer in exclusive mode")
                else:
                    cur.execute("lock table runner_locks.writer in exclusive mode nowait")
            except psycopg2.errors.LockNotAvailable:
                cur.execute("rollback")
                raise WarehouseError(
                    f"another writer holds the warehouse lock ({_holder(cur, WRITER)}). Wait "
                    "for it to finish, or retry with --wait SECONDS."
                ) from None
        yield
    finally:
        conn.close()  # closing the session releases the lock, also after a crash


def _holder(cur, table: str) -> str:
    cur.execute(
        """
        select activity.application_name, activity.pid, activity.backend_start
        from pg_catalog.pg_locks as locks
        join pg_catalog.pg_stat_activity as activity on activity.pid = locks.pid
        where locks.locktype = 'relation' and locks.granted
            and locks.relation = pg_catalog.to_regclass(%s)
            and locks.mode = 'ExclusiveLock'
        limit 1
        """,
        (table,),
    )
    row = cur.fetchone()
    if not row:
        return "holder unknown"
    name, pid, since = row
    # Another role's session shows no details unless this one may read all statistics.
    connected = f", connected since {since:%Y-%m-%d %H:%M:%S %Z}" if since else ""
    return f"'{name or 'another role'}', server pid {pid}{connected}"
