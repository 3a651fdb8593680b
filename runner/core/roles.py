"""Database roles for least privilege: transformer (builds), analyst (reads gold), backup.

Names and passwords come from the environment. A password not given is generated once
and kept in <home>/roles.json (mode 0600); it is never printed.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg2
import psycopg2.errors
from psycopg2 import sql

from runner.core import embedded, names
from runner.errors import WarehouseError
from runner.settings import Settings, lock_timeout_seconds, whole_number


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


# Predefined roles a configured role may be a member of (besides the analysts' group for
# the analyst); membership, direct or inherited, of any other pg_* role is refused.
ALLOWED_PREDEFINED = {"backup": {"pg_read_all_data"}}
SAFE_PREDEFINED = {"pg_database_owner"}  # every database's owner is one implicitly


def _refuse_privileged(cur, chosen: dict[str, str]) -> None:
    """Never touch (or reset the password of) a role that is, or can become (by inheriting
    or SET ROLE to a role it is a member of), a superuser, a role maker, a database maker,
    a replication or RLS-bypassing role, a member of a predefined role such as
    pg_execute_server_program or pg_write_all_data, another of the configured roles, or
    the role the runner connects as."""
    cur.execute(
        """
        select candidate.rolname, granted.rolname
        from pg_catalog.pg_roles as candidate
        join pg_catalog.pg_roles as granted
            on pg_catalog.pg_has_role(candidate.oid, granted.oid, 'MEMBER')
        where candidate.rolname = any(%(chosen)s)
            and (granted.rolsuper or granted.rolcreaterole or granted.rolcreatedb
                or granted.rolreplication or granted.rolbypassrls
                or granted.rolname = current_user
                or (granted.rolname like 'pg\\_%%' and granted.rolname <> all(%(safe)s))
                or (granted.rolname = any(%(chosen)s) and granted.rolname <> candidate.rolname))
        order by 1, 2
        """, {"chosen": list(chosen.values()), "safe": sorted(SAFE_PREDEFINED)})
    kind_of = {name: kind for kind, name in chosen.items()}
    allowed = {(chosen["analyst"], chosen["analyst_group"])} | {
        (chosen[kind], predefined) for kind, roles in ALLOWED_PREDEFINED.items()
        for predefined in roles}
    privileged = [(role, through) for role, through in cur.fetchall()
                  if (role, through) not in allowed]
    if privileged:
        details = "; ".join(
            f"{role} ({VARIABLES[kind_of[role]][0]})"
            + ("" if role == through else f" through {through}")
            for role, through in privileged)
        raise WarehouseError(
            f"refusing to change role(s) with administrative rights, a predefined role's "
            f"powers or another configured role's rights: {details}. Set those variables to "
            "other names, or revoke the rights first."
        )


def _require_superuser(cur, settings: Settings, chosen: dict[str, str]) -> None:
    """Only a superuser can do all of it: with `createrole` alone, PostgreSQL 16+ creates
    the logins and then refuses to grant pg_read_all_data, and nobody but a member of the
    transformer can hand it the warehouse."""
    cur.execute("select rolsuper from pg_roles where rolname = current_user")
    if not cur.fetchone()[0]:
        raise WarehouseError(
            f"`runner db roles` needs a superuser, and {settings.user} is not one: it creates "
            f"logins, grants {chosen['backup']} pg_read_all_data and hands the warehouse to "
            f"{chosen['transformer']} (`createrole` is not enough). Nothing was changed. Run it "
            f"once as a superuser (WAREHOUSE_DSN=postgresql://postgres@{settings.host}:"
            f"{settings.port}/{settings.dbname} runner db roles); afterwards the runner loads "
            f"and builds as {chosen['transformer']}, whichever login WAREHOUSE_DSN names."
        )


def _password(settings: Settings, kind: str, stored: dict) -> tuple[str, str]:
    variable = f"WAREHOUSE_{kind.upper()}_PASSWORD"
    if os.environ.get(variable):
        return os.environ[variable], variable
    if kind not in stored:
        stored[kind] = secrets.token_urlsafe(24)
    return stored[kind], str(settings.home / "roles.json")


def warehouse_schemas(settings: Settings) -> list[str]:
    """The schemas the runner and dbt write, by name (the target's, and the lock tables')."""
    return [*(settings.layer_schema(layer) for layer in (
        "bronze", "silver", "gold", "snapshots", "audit", "test_failures", "elementary")),
        "runner_locks"]


def hand_over(settings: Settings, transformer: str, previous: tuple[str, ...] = (),
              warehouse: list[str] | tuple[str, ...] = ()) -> int:
    """Make ``transformer`` the owner of the schemas and objects this login built (the
    superuser's plain `dbt`, say) or a ``previous`` transformer login owned, and of the
    ``warehouse`` schemas and what is in them whoever made it (an `etl` login's first
    load), so the role that builds can rebuild them. Returns how many objects changed
    owner."""
    owner = sql.Identifier(transformer)
    taken = {"previous": list(previous), "warehouse": list(warehouse)}
    changed = 0
    try:
        with embedded.cursor(settings) as cur:
            cur.execute("set search_path = pg_catalog, pg_temp")
            # A login that may not act as the transformer (an `etl` login on an external
            # server) cannot give it anything; `db roles` took the warehouse from it.
            cur.execute("select rolsuper or pg_has_role(%s, 'member') from pg_roles "
                        "where rolname = current_user", (transformer,))
            if not cur.fetchone()[0]:
                return 0
            # Changing an owner locks the object: an analyst's open transaction on a gold
            # table must not stop every command here.
            cur.execute("set lock_timeout = %s", (f"{lock_timeout_seconds()}s",))
            # Only what this login built (the superuser's plain `dbt`, say): never another
            # role's objects, nor an extension's, whose functions superusers call.
            cur.execute(
                """
                select nspname from pg_namespace
                where nspname !~ '^pg_' and nspname not in ('information_schema', 'public')
                    and (nspowner = current_user::regrole
                        or pg_get_userbyid(nspowner) = any(%(previous)s)
                        or nspname = any(%(warehouse)s))
                    and nspowner <> %(transformer)s::regrole
                    and not exists (
                        select from pg_extension where extnamespace = pg_namespace.oid)
                    -- Nor a schema an extension made (Citus's citus and citus_internal).
                    and not exists (
                        select from pg_depend
                        where pg_depend.classid = 'pg_namespace'::regclass
                            and pg_depend.objid = pg_namespace.oid and pg_depend.deptype = 'e')
                """, {**taken, "transformer": transformer})
            for (schema,) in cur.fetchall():
                cur.execute(sql.SQL("alter schema {} owner to {}").format(
                    sql.Identifier(schema), owner))
                changed += 1
            # Tables (with their indexes and owned sequences), views, standalone sequences.
            cur.execute(
                """
                select namespace.nspname, class.relname,
                    case class.relkind when 'S' then 'sequence' when 'v' then 'view'
                        when 'm' then 'materialized view' else 'table' end
                from pg_class as class
                join pg_namespace as namespace on namespace.oid = class.relnamespace
                where class.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
                    and namespace.nspname !~ '^pg_'
                    and namespace.nspname not in ('information_schema', 'public')
                    and (class.relowner = current_user::regrole
                        or pg_get_userbyid(class.relowner) = any(%(previous)s)
                        or namespace.nspname = any(%(warehouse)s))
                    and class.relowner <> %(transformer)s::regrole
                    and not exists (
                        select from pg_depend
                        where pg_depend.objid = class.oid and pg_depend.deptype in ('a', 'i')
                            and class.relkind = 'S')
                    and not exists (
                        select from pg_depend
                        where pg_depend.classid = 'pg_class'::regclass
                            and pg_depend.objid = class.oid and pg_depend.deptype = 'e')
                """, {**taken, "transformer": transformer})
            for schema, name, kind in cur.fetchall():
                cur.execute(sql.SQL("alter {} {}.{} owner to {}").format(
                    sql.SQL(kind), sql.Identifier(schema), sql.Identifier(name), owner))
                changed += 1
            cur.execute(
                """
                select namespace.nspname, proc.proname,
                    pg_get_function_identity_arguments(proc.oid)
                from pg_proc as proc
                join pg_namespace as namespace on namespace.oid = proc.pronamespace
                where namespace.nspname !~ '^pg_'
                    and namespace.nspname not in ('information_schema', 'public')
                    and (proc.proowner = current_user::regrole
                        or pg_get_userbyid(proc.proowner) = any(%(previous)s)
                        or namespace.nspname = any(%(warehouse)s))
                    and proc.proowner <> %(transformer)s::regrole
                    and not exists (
                        select from pg_depend
                        where pg_depend.classid = 'pg_proc'::regclass
                            and pg_depend.objid = proc.oid and pg_depend.deptype = 'e')
                """, {**taken, "transformer": transformer})
            for schema, name, arguments in cur.fetchall():
                # The argument list is the catalog's own rendering of the signature.
                cur.execute(sql.SQL("alter routine {}.{}({}) owner to {}").format(
                    sql.Identifier(schema), sql.Identifier(name), sql.SQL(arguments), owner))
                changed += 1
    except psycopg2.errors.LockNotAvailable:
        raise WarehouseError(
            f"waited {lock_timeout_seconds()} s to hand the warehouse's tables to "
            f"{transformer} while another session kept one open. Find it in "
            "pg_stat_activity (an idle transaction, often), end it, and run the command again."
        ) from None
    return changed


def login(settings: Settings, kind: str = "analyst") -> Settings:
    """``settings`` as the login `runner db roles` made for ``kind``, after checking that its
    password (WAREHOUSE_<KIND>_PASSWORD, else roles.json) still works."""
    path = settings.home / "roles.json"
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        stored = {}
    name = stored.get("names", {}).get(kind)
    variable = f"WAREHOUSE_{kind.upper()}_PASSWORD"
    password = os.environ.get(variable) or stored.get(kind)
    if not name or not password:
        raise WarehouseError(f"there is no {kind} login yet: run `runner db roles` first.")
    found = replace(settings, user=names.role(name, f"{path}: names.{kind}"), password=password)
    try:
        psycopg2.connect(**found.connect_kwargs()).close()
    except psycopg2.OperationalError as error:
        if "password authentication failed" not in str(error):
            raise WarehouseError(f"cannot connect as {name}: "
                                 f"{str(error).strip().replace(password, '***')}") from None
        where = variable if os.environ.get(variable) else str(path)
        raise WarehouseError(
            f"the {kind} login {name} no longer accepts the password in {where} (was it "
            f"changed with ALTER ROLE or \\password?). Run `runner db roles` to set it back "
            f"(or put the new one in {variable} first)."
        ) from None
    return found


def write_pgpass(settings: Settings, path: Path) -> Path:
    """A pgpass file (mode 0600) holding only ``settings``' own login."""
    def field(value) -> str:
        return str(value).replace("\\", "\\\\").replace(":", "\\:")

    line = ":".join(field(value) for value in (
        settings.host, settings.port, settings.dbname, settings.user, settings.password))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(line + "\n")
    os.chmod(path, 0o600)
    return path


def as_transformer(settings: Settings) -> Settings:
    """``settings`` switched to the transformer login when `runner db roles` made one for
    this database, after handing it whatever another role (plain `dbt` as the superuser,
    say) created since; otherwise ``settings`` unchanged."""
    switched = settings.for_role("transformer")
    if switched.user != settings.user:
        hand_over(settings, switched.user)
    return switched


def analyst_defaults(settings: Settings) -> dict[str, str]:
    """The analyst login's session defaults: reads only, queries and idle transactions
    that end, gold first on the search path. Defaults guard against accidents (a session
    may change them); privileges are what keep the analyst to gold."""
    seconds = whole_number("WAREHOUSE_ANALYST_STATEMENT_TIMEOUT", 300, 1, 86400)
    return {
        "default_transaction_read_only": "on",
        "statement_timeout": f"{seconds}s",
        "idle_in_transaction_session_timeout": "60s",
        "search_path": settings.layer_schema("gold"),
    }


def _retire(cur, kind: str, old: str, chosen: dict[str, str], database) -> None:
    """Take back what `runner db roles` gave a role that is no longer the configured one
    (its variable was renamed): a renamed analyst login must not keep reading gold."""
    role = sql.Identifier(old)
    if kind == "analyst":
        cur.execute(sql.SQL("revoke {} from {}").format(
            sql.Identifier(chosen["analyst_group"]), role))
    elif kind == "transformer":
        cur.execute(sql.SQL("revoke create, temporary on database {} from {}").format(
            database, role))
    elif kind == "backup":
        cur.execute(sql.SQL("revoke pg_read_all_data from {}").format(role))
    elif kind == "analyst_group":
        cur.execute(sql.SQL("revoke {} from {}").format(role, sql.Identifier(chosen["analyst"])))
    if kind != "analyst_group":
        cur.execute(sql.SQL("revoke connect on database {} from {}").format(database, role))


def ensure_roles(settings: Settings) -> list[Role]:
    chosen = _names()
    defaults = analyst_defaults(settings)
    connection_limit = whole_number("WAREHOUSE_ANALYST_CONNECTION_LIMIT", 20, 1, 1000)
    lock_timeout = lock_timeout_seconds()
    path = settings.home / "roles.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    previous = {kind: names.role(name, f"{path}: names.{kind}")
                for kind, name in stored.get("names", {}).items() if kind in VARIABLES}
    created = []
    conn = embedded.connect(settings)
    try:
        # One transaction: a refusal or error half-way leaves no role half-made.
        with conn, conn.cursor() as cur:
            # The superuser resolves no name through a schema another role can create in.
            cur.execute("set search_path = pg_catalog, pg_temp")
            _require_superuser(cur, settings, chosen)
            _refuse_privileged(cur, chosen)

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
                options = {"transformer": "login noinherit",
                           "analyst": f"login connection limit {connection_limit}"}
                upsert(chosen[kind], password, options.get(kind, "login"))
                cur.execute(sql.SQL("grant connect on database {} to {}").format(
                    database, sql.Identifier(chosen[kind])))
                created.append(Role(kind, chosen[kind], source))
            cur.execute(sql.SQL("grant {} to {}").format(
                sql.Identifier(chosen["analyst_group"]), sql.Identifier(chosen["analyst"])))
            for parameter, value in defaults.items():
                cur.execute(sql.SQL("alter role {} set {} = {}").format(
                    sql.Identifier(chosen["analyst"]), sql.Identifier(parameter),
                    sql.Literal(value)))
            cur.execute("select rolname from pg_roles where rolname = any(%s)",
                        ([name for kind, name in previous.items() if name != chosen[kind]
                          and name not in chosen.values()],))
            still_there = {row[0] for row in cur.fetchall()}
            for kind, old in previous.items():
                if old in still_there:
                    _retire(cur, kind, old, chosen, database)
            # The transformer builds: it may create schemas and temporary tables.
            cur.execute(sql.SQL("grant create, temporary on database {} to {}").format(
                database, sql.Identifier(chosen["transformer"])))
            # No session of another login (an analyst's open transaction on a gold table,
            # say) can make a build wait forever: a lock wait ends in an error.
            cur.execute(sql.SQL("alter role {} set lock_timeout = {}").format(
                sql.Identifier(chosen["transformer"]), sql.Literal(f"{lock_timeout}s")))
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
    # A renamed transformer's objects go to the new one (only the runner's own are taken).
    hand_over(settings, chosen["transformer"], tuple(
        name for kind, name in previous.items()
        if kind == "transformer" and name != chosen["transformer"]), warehouse_schemas(settings))
    stored["names"] = chosen
    # The databases the roles were granted and handed: the runner switches to them there only.
    stored["databases"] = sorted({*stored.get("databases", []), settings.roles_key})
    settings.home.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(stored, handle, indent=1)
    return created
