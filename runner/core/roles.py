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

from runner.core import embedded, names
from runner.errors import WarehouseError
from runner.settings import Settings


@dataclass
class Role:
    kind: str
    name: str
    password_source: str


VARIABLES = {
    "analyst_group": ("WAREHOUSE_ANALYST_ROLE", "warehouse_analyst"),
    "analyst": ("WAREHOUSE_ANALYST_USER", "analyst"),
    "transformer": ("WAREHOUSE_TRANSFORMER_USER", "transformer"),
    "backup": ("WAREHOUSE_BACKUP_USER", "backup"),
}


def _names() -> dict[str, str]:
    found = {kind: names.role(os.environ.get(variable, default), variable)
             for kind, (variable, default) in VARIABLES.items()}
    if len(set(found.values())) < len(found):
        raise WarehouseError(f"the role names must differ: {found}.")
    return found


def _refuse_privileged(cur, settings: Settings, chosen: dict[str, str]) -> None:
    """Never touch (or reset the password of) a superuser or the role the runner uses."""
    cur.execute("select rolname from pg_roles where rolname = any(%s) "
                "and (rolsuper or rolcreaterole or rolreplication or rolbypassrls "
                "or rolname = current_user)", (list(chosen.values()),))
    privileged = [row[0] for row in cur.fetchall()]
    if privileged:
        variables = [VARIABLES[kind][0] for kind, name in chosen.items() if name in privileged]
        raise WarehouseError(
            f"role(s) {', '.join(privileged)} already exist with administrative rights (or are "
            f"the role the runner connects as); refusing to change them. Set "
            f"{', '.join(variables)} to other names."
        )


def _password(settings: Settings, kind: str, stored: dict) -> tuple[str, str]:
    variable = f"WAREHOUSE_{kind.upper()}_PASSWORD"
    if os.environ.get(variable):
        return os.environ[variable], variable
    if kind not in stored:
        stored[kind] = secrets.token_urlsafe(24)
    return stored[kind], str(settings.home / "roles.json")


def ensure_roles(settings: Settings) -> list[Role]:
    chosen = _names()
    path = settings.home / "roles.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    created = []
    conn = embedded.connect(settings)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            _refuse_privileged(cur, settings, chosen)

            def upsert(name: str, password: str | None, options: str) -> None:
                cur.execute("select 1 from pg_roles where rolname = %s", (name,))
                verb = "alter" if cur.fetchone() else "create"
                statement = sql.SQL("{} role {} {}").format(
                    sql.SQL(verb), sql.Identifier(name), sql.SQL(options))
                if password is not None:
                    statement = sql.SQL("{} password {}").format(statement, sql.Literal(password))
                cur.execute(statement)

            database = sql.Identifier(settings.dbname)
            upsert(chosen["analyst_group"], None, "nologin")
            for kind in ("analyst", "transformer", "backup"):
                password, source = _password(settings, kind, stored)
                upsert(chosen[kind], password, "login noinherit" if kind == "transformer" else "login")
                cur.execute(sql.SQL("grant connect on database {} to {}").format(
                    database, sql.Identifier(chosen[kind])))
                created.append(Role(kind, chosen[kind], source))
            cur.execute(sql.SQL("grant {} to {}").format(
                sql.Identifier(chosen["analyst_group"]), sql.Identifier(chosen["analyst"])))
            # The transformer builds: it may create schemas and temporary tables.
            cur.execute(sql.SQL("grant create, temporary on database {} to {}").format(
                database, sql.Identifier(chosen["transformer"])))
            # The backup role reads everything pg_dump needs, and nothing more.
            cur.execute(sql.SQL("grant pg_read_all_data to {}").format(
                sql.Identifier(chosen["backup"])))
            # Nobody else may create objects in public (the default before PostgreSQL 15),
            # temporary tables or large objects: the analyst writes nowhere.
            cur.execute("revoke create on schema public from public")
            cur.execute(sql.SQL("revoke temporary on database {} from public").format(database))
            cur.execute("revoke execute on function lo_create(oid), lo_creat(integer), "
                        "lo_import(text), lo_import(text, oid), lo_from_bytea(oid, bytea) "
                        "from public")
    finally:
        conn.close()
    if stored:
        settings.home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(stored, handle, indent=1)
    return created
