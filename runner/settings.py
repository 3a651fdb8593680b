"""Where the warehouse lives and how to reach it, resolved from the environment.

Precedence (first match wins):

1. ``WAREHOUSE_DSN`` — a libpq connection string or URL to any PostgreSQL 14+.
2. ``PGHOST`` (with the other standard ``PG*`` variables) — an external server.
3. Otherwise the embedded server the runner owns, whose data lives in ``WAREHOUSE_HOME``
   (default ``<project>/.warehouse``).

Nothing here ever prints a password: ``Settings.safe_dsn`` masks it.
"""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

import psycopg2.extensions

from runner.core import names
from runner.errors import WarehouseError

DEFAULT_DATABASE = "warehouse"
# A non-prod target's schema prefix may not be one of the layers' own schemas (a dev build
# would overwrite prod) nor a schema PostgreSQL or every role shares.
FORBIDDEN_SCHEMA_PREFIXES = {"public", "information_schema", "bronze", "silver", "gold",
                             "snapshots", "audit", "elementary"}
STATE_FILE = "server.json"
ROLES_FILE = "roles.json"


def find_project_dir() -> Path:
    """The dbt project: ``WAREHOUSE_PROJECT_DIR``, else the nearest folder up from here
    holding ``dbt_project.yml``, else the checkout this package was installed from."""
    explicit = os.environ.get("WAREHOUSE_PROJECT_DIR")
    if explicit:
        return Path(explicit).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "dbt_project.yml").is_file():
            return folder
    return Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    project_dir: Path
    home: Path
    host: str
    port: int | None
    user: str
    password: str
    dbname: str
    embedded: bool
    target: str

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    def dsn(self, dbname: str | None = None) -> str:
        """A libpq URL including the password (for subprocess environments only)."""
        return self._url(self.password, dbname)

    def safe_dsn(self, dbname: str | None = None) -> str:
        """The same URL with the password masked: safe for messages and logs."""
        return self._url("***" if self.password else "", dbname)

    def _url(self, password: str, dbname: str | None) -> str:
        auth = quote(self.user, safe="")
        if password:
            auth += ":" + (password if password == "***" else quote(password, safe=""))
        return f"postgresql://{auth}@{self.host}:{self.port}/{dbname or self.dbname}"

    def connect_kwargs(self, dbname: str | None = None) -> dict:
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": dbname or self.dbname,
            "connect_timeout": 10,
            "application_name": "warehouse-runner",
        }

    def libpq_env(self, dbname: str | None = None) -> dict[str, str]:
        """Environment for psql / pg_dump / pg_restore: the password travels here, never in argv."""
        env = {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGDATABASE": dbname or self.dbname,
            "PGCONNECT_TIMEOUT": "10",
        }
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    def dbt_env(self) -> dict[str, str]:
        """Environment read by profiles.yml (see profiles.yml.example)."""
        return {
            "WAREHOUSE_HOST": self.host,
            "WAREHOUSE_PORT": str(self.port),
            "WAREHOUSE_USER": self.user,
            "WAREHOUSE_PASSWORD": self.password,
            "WAREHOUSE_DB": self.dbname,
            "WAREHOUSE_TARGET": self.target,
        }

    def layer_schema(self, layer: str) -> str:
        """The schema dbt uses for a layer (see macros/schema/generate_schema_name.sql)."""
        if self.target == "prod":
            return layer
        return f"{schema_prefix(os.environ)}_{layer}"

    def with_database(self, dbname: str) -> "Settings":
        return replace(self, dbname=dbname)

    @property
    def roles_key(self) -> str:
        """How roles.json names this database: its name on the embedded server, host, port
        and name on any other (one WAREHOUSE_HOME may serve several servers)."""
        return self.dbname if self.embedded else f"{self.host}:{self.port}/{self.dbname}"

    def for_role(self, kind: str) -> "Settings":
        """The same server as the least-privileged login `runner db roles` made for ``kind``
        (transformer: load and build; backup: backups), when it made one for this database
        (on the embedded server or any other); else these settings. So whichever login
        WAREHOUSE_DSN names, the transformer owns and builds the warehouse once it exists."""
        try:
            stored = json.loads((self.home / ROLES_FILE).read_text())
        except (OSError, ValueError):
            return self
        name = stored.get("names", {}).get(kind)
        password = os.environ.get(f"WAREHOUSE_{kind.upper()}_PASSWORD") or stored.get(kind)
        if not name or not password or self.roles_key not in stored.get("databases", []):
            return self
        return replace(self, user=name, password=password)


def _embedded_state(home: Path) -> dict:
    path = home / STATE_FILE
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise WarehouseError(
            f"cannot read {path}: {error}. Remove the file and run `runner db start` "
            "to choose a new port and password."
        ) from error


def schema_prefix(env) -> str:
    """WAREHOUSE_SCHEMA, checked: non-prod targets prefix every layer's schema with it."""
    prefix = names.checked(env.get("WAREHOUSE_SCHEMA", "dev"), "WAREHOUSE_SCHEMA")
    if prefix in FORBIDDEN_SCHEMA_PREFIXES or prefix.startswith("pg_"):
        raise WarehouseError(
            f"WAREHOUSE_SCHEMA {prefix!r} is a schema of its own (prod layers, PostgreSQL or "
            "public); pick a prefix such as 'dev' or 'ci_42'."
        )
    return prefix


def whole_number(variable: str, default: int, low: int, high: int, env=None) -> int:
    """The environment variable ``variable`` as a whole number from ``low`` to ``high``
    (``default`` when unset); anything else is an error naming it."""
    value = (os.environ if env is None else env).get(variable, str(default))
    if not value.isdigit() or not low <= int(value) <= high:
        raise WarehouseError(f"{variable} {value!r}: give a whole number from {low} to {high}.")
    return int(value)


def lock_timeout_seconds(env=None) -> int:
    """How long a step waits for a lock another session holds before it gives up with an
    error (WAREHOUSE_LOCK_TIMEOUT, seconds; default 60)."""
    return whole_number("WAREHOUSE_LOCK_TIMEOUT", 60, 1, 86400, env)


def output_file(path: Path, what: str) -> Path:
    """``path`` once it is known a file can be written there (its folder made if missing):
    checked before a command starts work, not when it has done it."""
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "it is a folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = path.parent / f".{path.name}.write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise WarehouseError(
            f"{what} {path}: cannot write a file there ({error.strerror or error}). Choose a "
            "file in a folder the runner may write to."
        ) from None
    return path


def _port(value, where: str) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = 0
    if not 0 < port < 65536:
        raise WarehouseError(f"{where}: port {value!r} is not a number from 1 to 65535.")
    return port


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    settings = _load_settings(os.environ if environ is None else environ)
    names.database(settings.dbname, "the warehouse database name (WAREHOUSE_DB, PGDATABASE "
                                    "or the DSN's dbname)")
    if settings.target != "prod":
        schema_prefix(os.environ if environ is None else environ)
    names.checked(settings.target, "WAREHOUSE_TARGET")
    # Checked here, before any command starts work, not when a long step first needs it.
    lock_timeout_seconds(os.environ if environ is None else environ)
    if os.environ.get("WAREHOUSE_PROJECT_DIR") and not (
            settings.project_dir / "dbt_project.yml").is_file():
        raise WarehouseError(
            f"WAREHOUSE_PROJECT_DIR {settings.project_dir} holds no dbt_project.yml: point it "
            "at the checkout of this project, or unset it.")
    if settings.home.exists() and not settings.home.is_dir():
        raise WarehouseError(
            f"WAREHOUSE_HOME {settings.home} is a file: point it at a folder (it is created "
            "if missing), or unset it for .warehouse/ in the checkout.")
    return settings


def _load_settings(env) -> Settings:
    project_dir = find_project_dir()
    home = Path(env.get("WAREHOUSE_HOME") or project_dir / ".warehouse").resolve()
    target = env.get("WAREHOUSE_TARGET", "prod")

    dsn = env.get("WAREHOUSE_DSN")
    if dsn:
        try:
            parts = psycopg2.extensions.parse_dsn(dsn)
        except psycopg2.ProgrammingError as error:
            raise WarehouseError(
                f"WAREHOUSE_DSN is not a valid connection string ({error}). "
                "Use the form postgresql://user:password@host:5432/dbname."
            ) from None
        return Settings(
            project_dir=project_dir,
            home=home,
            host=parts.get("host", "127.0.0.1"),
            port=_port(parts.get("port", 5432), "WAREHOUSE_DSN"),
            user=parts.get("user", getpass.getuser()),
            password=parts.get("password", env.get("PGPASSWORD", "")),
            dbname=parts.get("dbname", DEFAULT_DATABASE),
            embedded=False,
            target=target,
        )
    if env.get("PGHOST"):
        return Settings(
            project_dir=project_dir,
            home=home,
            host=env["PGHOST"],
            port=_port(env.get("PGPORT", 5432), "PGPORT"),
            user=env.get("PGUSER", getpass.getuser()),
            password=env.get("PGPASSWORD", ""),
            dbname=env.get("PGDATABASE", DEFAULT_DATABASE),
            embedded=False,
            target=target,
        )
    state = _embedded_state(home)
    return Settings(
        project_dir=project_dir,
        home=home,
        host="127.0.0.1",
        port=state.get("port"),
        user=state.get("superuser", "postgres"),
        password=state.get("password", ""),
        dbname=env.get("WAREHOUSE_DB", DEFAULT_DATABASE),
        embedded=True,
        target=target,
    )
