"""Names that reach SQL from outside (files, options, environment): checked, then quoted.

Every database, schema, role, table and column name the runner puts into a statement
either comes from this module's checks or from the catalog, and is always composed with
``psycopg2.sql.Identifier``; values always travel as parameters.
"""

from __future__ import annotations

import re

from runner.errors import WarehouseError

# PostgreSQL truncates identifiers past 63 bytes; lower case so no quoting rules surprise.
NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Database names get suffixes such as `__restoring_20261202193000` (26 characters): keep
# room for them so a derived name is never silently truncated onto another one.
DATABASE = re.compile(r"^[a-z_][a-z0-9_]{0,35}$")
RESERVED_ROLES = {"postgres", "public", "none", "current_user", "session_user", "current_role",
                  "user", "all"}


def checked(value: str, what: str, pattern: re.Pattern = NAME) -> str:
    """``value`` if it matches ``pattern``; otherwise a WarehouseError naming ``what``."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        longest = 36 if pattern is DATABASE else 63
        raise WarehouseError(
            f"{what} {value!r} is not a safe name: use lower-case letters, digits and "
            f"underscores, starting with a letter or underscore, at most {longest} characters."
        )
    return value


def database(value: str, what: str = "database name") -> str:
    return checked(value, what, DATABASE)


def role(value: str, what: str = "role name") -> str:
    checked(value, what)
    if value in RESERVED_ROLES or value.startswith("pg_"):
        raise WarehouseError(f"{what} {value!r} is reserved by PostgreSQL; choose another name.")
    return value


def normalise_column(raw: str) -> str:
    """A header's column name as bronze stores it: trimmed and lower case."""
    return raw.strip().lower()


def shown(value: str) -> str:
    """A name from outside as it may be printed: control and other unprintable characters
    escaped, so a name cannot end a line or move the cursor in a terminal or a log."""
    return value if value.isprintable() else repr(value)[1:-1]
