"""One writer at a time: a PostgreSQL advisory lock around every command that writes.

The lock lives in the warehouse database itself, so it works for every process and host
that uses the same database. A second writer waits up to ``wait`` seconds, then fails
with a message naming the holder (application, pid, since when).
"""

from __future__ import annotations

import contextlib
import time

from runner.core import embedded
from runner.errors import WarehouseError
from runner.settings import Settings

LOCK_KEY = "warehouse:writer"


@contextlib.contextmanager
def writer_lock(settings: Settings, command: str, wait: float = 0.0):
    conn = embedded.connect(settings)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("set application_name = %s", (f"runner {command}",))
            deadline = time.monotonic() + max(wait, 0)
            while True:
                cur.execute("select pg_try_advisory_lock(hashtext(%s))", (LOCK_KEY,))
                if cur.fetchone()[0]:
                    break
                if time.monotonic() >= deadline:
                    raise WarehouseError(
                        f"another writer holds the warehouse lock ({holder(cur)}). Wait for "
                        "it to finish, or retry with --wait SECONDS."
                    )
                time.sleep(0.5)
        yield
    finally:
        conn.close()  # closing the session releases the lock, also after a crash


def holder(cur) -> str:
    cur.execute(
        """
        select activity.application_name, activity.pid, activity.backend_start
        from pg_locks as locks
        join pg_stat_activity as activity on activity.pid = locks.pid
        where locks.locktype = 'advisory' and locks.granted
            and locks.objid = (hashtext(%s)::bigint & 4294967295)::oid
        limit 1
        """,
        (LOCK_KEY,),
    )
    row = cur.fetchone()
    if not row:
        return "holder unknown"
    name, pid, since = row
    # Another role's session shows no details unless this one may read all statistics.
    connected = f", connected since {since:%Y-%m-%d %H:%M:%S %Z}" if since else ""
    return f"'{name or 'another role'}', server pid {pid}{connected}"
