"""Cleaning gives the same gold on every supported server, whatever its locale.

lower(), upper() and initcap() follow the collation: on a database created without a
locale (the C locale, as the embedded server's clusters were before) they change ASCII
letters only, so 'RÉPUBLIQUE FRANÇAISE' missed its country and 'ÉLODIE' stayed in capitals;
on a UTF-8 server the same files mapped to FR. The folds now name a Unicode collation
(macros/cleaning/text_folding.sql), so a C-locale database on the embedded PostgreSQL 18
and a C.UTF-8 PostgreSQL 15 cluster build the same gold. The comparison skips when Debian's
PostgreSQL 15 is not installed (`apt-get install -y postgresql-15`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
from pathlib import Path

import pytest

from conftest import checksum, query
from runner.core import build as builder
from runner.core import embedded
from runner.core import generate as gen
from runner.core import load as loader
from runner.settings import load_settings

# Spellings the CRM may send: accented capitals, decomposed accents (e + U+0301), no accents.
CUSTOMERS = [
    ("LOC-1", "ÉLODIE", "LEFÈVRE", "RÉPUBLIQUE FRANÇAISE", "ÎLE-DE-FRANCE", "0612345678"),
    ("LOC-2", "e\u0301milie", "c\u0327a\u0300", "Re\u0301publique Franc\u0327aise", "paris",
     "0612345679"),
    ("LOC-3", "JÜRGEN", "GROẞ-MÜLLER", "DEUTSCHLAND", "MÜNCHEN", "015112345678"),
    ("LOC-4", "søren", "ÅSTRÖM", "REPUBLIQUE FRANCAISE", "ÖREBRO", "0612345670"),
]
EXPECTED = [
    ("LOC-1", "Élodie", "Lefèvre", "FR", "Île-De-France", "+33612345678"),
    ("LOC-2", "Émilie", "Çà", "FR", "Paris", "+33612345679"),
    ("LOC-3", "Jürgen", "Groß-Müller", "DE", "München", "+4915112345678"),
    ("LOC-4", "Søren", "Åström", "FR", "Örebro", "+33612345670"),
]


def write_sample(landing: Path) -> None:
    """The generator's sample plus a day of customers spelt as above."""
    state = gen.generate(landing, seed=11, scale=0.01)
    day = dt.date.fromisoformat(state.batches[-1]) + dt.timedelta(days=1)
    at = f"{day} 09:00:00"
    with (landing / f"crm__customers__{day}.jsonl").open("w", encoding="utf-8") as handle:
        for customer_id, first, last, country, city, phone in CUSTOMERS:
            handle.write(json.dumps({
                "customer_id": customer_id, "first_name": first, "last_name": last,
                "email": f"{customer_id.lower()}@example.com", "phone": phone,
                "segment": "VIP", "created_at": at, "updated_at": at,
                "address": {"line1": "1 Rue", "city": city, "postal_code": "1",
                            "country": country},
            }, ensure_ascii=False) + "\n")


def cleaned(settings):
    return query(settings, """
        select customer_id, first_name, last_name, country_code, city, phone_number
        from silver.stg_crm__customers where customer_id like 'LOC-%' order by 1""")


@pytest.fixture(scope="module")
def c_locale_build(warehouse_env, tmp_path_factory):
    """The sample built in a C-locale database on the embedded server (what clusters made
    with `initdb --no-locale` hold)."""
    name = f"t_c_{uuid.uuid4().hex[:8]}"
    conn = embedded.connect(warehouse_env, "postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'create database "{name}" template template0 encoding \'UTF8\' '
                    "locale_provider libc locale 'C'")
    conn.close()
    settings = warehouse_env.with_database(name)
    landing = tmp_path_factory.mktemp("c_locale") / "landing"
    write_sample(landing)
    loader.load(settings, landing)
    outcome = builder.run_build(settings, [], freshness=False)
    yield settings, landing, outcome.build_returncode
    conn = embedded.connect(warehouse_env, "postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'drop database if exists "{name}" with (force)')
    conn.close()


def test_the_database_really_has_the_c_locale(c_locale_build):
    settings, _, _ = c_locale_build
    assert query(settings, "select lower('É') = 'É', datcollate from pg_database "
                           "where datname = current_database()") == [(True, "C")]


def test_accented_capitals_clean_the_same_on_a_c_locale_database(c_locale_build):
    settings, _, returncode = c_locale_build
    assert returncode == 0
    assert cleaned(settings) == EXPECTED


def gold_tables(settings) -> list[str]:
    return [row[0] for row in query(settings, """
        select table_schema || '.' || table_name from information_schema.tables
        where table_schema = 'gold' and table_type = 'BASE TABLE' order by 1""")]


def test_gold_is_the_same_on_a_utf8_postgres_15(c_locale_build, pg15_server):
    embedded_db, landing, returncode = c_locale_build
    assert returncode == 0
    utf8 = load_settings({**os.environ, "WAREHOUSE_DSN": pg15_server})
    assert query(utf8, "select lower('É') = 'é', datcollate from pg_database "
                       "where datname = current_database()") == [(True, "C.UTF-8")]
    loader.load(utf8, landing)
    assert builder.run_build(utf8, [], freshness=False).build_returncode == 0
    assert cleaned(utf8) == EXPECTED
    tables = gold_tables(embedded_db)
    assert tables and tables == gold_tables(utf8)
    differing = [t for t in tables if checksum(utf8, t) != checksum(embedded_db, t)]
    assert differing == [], f"gold tables that differ between the two servers: {differing}"


def test_every_case_fold_names_its_collation():
    """A bare lower()/upper()/initcap()/ilike in a model or macro would follow the server's
    locale again: every fold goes through macros/cleaning/text_folding.sql."""
    from conftest import PROJECT_DIR

    fold = re.compile(r"\b(lower|upper|initcap)\s*\(|\bilike\b|~\*", re.IGNORECASE)
    folders = ("models", "macros", "snapshots", "analyses", "tests/dbt")
    bare = [f"{path.relative_to(PROJECT_DIR)}:{number}"
            for folder in folders for path in sorted((PROJECT_DIR / folder).rglob("*.sql"))
            if path.name != "text_folding.sql"
            for number, line in enumerate(path.read_text().splitlines(), 1)
            if fold.search(line.split("--")[0])]
    assert bare == []
