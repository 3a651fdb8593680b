"""Database roles for least privilege: transformer (builds), analyst (reads gold), backup.

Names and passwords come from the environment. A password not given is generated once
and kept in <home>/roles.json (mode 0600); it is never printed.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass

from psycopg2 import sql

from runner.core import embedded
from runner.settings import Settings


@dataclass
class Role:
    kind: str
    name: str
    password_source: str


def _names() -> dict[str, str]:
    env = os.environ
    return {
        "analyst_group": env.get("WAREHOUSE_ANALYST_ROLE", "warehouse_analyst"),
        "analyst": env.get("WAREHOUSE_ANALYST_USER", "analyst"),
        "transformer": env.get("WAREHOUSE_TRANSFORMER_USER", "transformer"),
        "backup": env.get("WAREHOUSE_BACKUP_USER", "backup"),
    }


def _password(settings: Settings, kind: str, stored: dict) -> tuple[str, str]:
    variable = f"WAREHOUSE_{kind.upper()}_PASSWORD"
    if os.environ.get(variable):
        return os.environ[variable], variable
    if kind not in stored:
        stored[kind] = secrets.token_urlsafe(24)
    return stored[kind], str(settings.home / "roles.json")


def ensure_roles(settings: Settings) -> list[Role]:
    names = _names()
    path = settings.home / "roles.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    created = []
    conn = embedded.connect(settings)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            def upsert(name: str, password: str | None, options: str) -> None:
                cur.execute("select 1 from pg_roles where rolname = %s", (name,))
                verb = "alter" if cur.fetchone() else "create"
                statement = sql.SQL(f"{verb} role {{}} {options}").format(sql.Identifier(name))
                if password is not None:
                    statement = sql.SQL("{} password {}").format(statement, sql.Literal(password))
                cur.execute(statement)

            database = sql.Identifier(settings.dbname)
            upsert(names["analyst_group"], None, "nologin")
            for kind in ("analyst", "transformer", "backup"):
                password, source = _password(settings, kind, stored)
                upsert(names[kind], password, "login noinherit" if kind == "transformer" else "login")
                cur.execute(sql.SQL("grant connect on database {} to {}").format(
                    database, sql.Identifier(names[kind])))
                created.append(Role(kind, names[kind], source))
            cur.execute(sql.SQL("grant {} to {}").format(
                sql.Identifier(names["analyst_group"]), sql.Identifier(names["analyst"])))
            # The transformer builds: it may create schemas and temporary tables.
            cur.execute(sql.SQL("grant create, temporary on database {} to {}").format(
                database, sql.Identifier(names["transformer"])))
            # The backup role reads everything pg_dump needs, and nothing more.
            cur.execute(sql.SQL("grant pg_read_all_data to {}").format(
                sql.Identifier(names["backup"])))
            # Nobody else may create objects in public (the default before PostgreSQL 15).
            cur.execute("revoke create on schema public from public")
    finally:
        conn.close()
    if stored:
        settings.home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(stored, handle, indent=1)
    return created
