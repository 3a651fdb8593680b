"""The landing folder is a trust boundary (issue 33): only regular files inside it are read,
no error quotes what a file holds, one file's failure of any kind stays with that file, and
a file's name creates nothing (partitions) unless the file is accepted."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import re
import subprocess

import psycopg2
import pytest

from conftest import query
from runner.core import load as loader
from runner.core import names

STORES_HEADER = "store_id,store_name,channel,city,country,opened_date"
PRODUCTS_HEADER = "product_id,sku,product_name,category,subcategory,brand,unit_price,currency,updated_at"
SECRET = "s3cret-Pa55word"
TODAY = dt.date.today()


def day(offset: int) -> str:
    return (TODAY - dt.timedelta(days=offset)).isoformat()


def dated_id(name: str) -> str:
    """A test id without the date: each xdist worker collects on its own clock, and the ids
    must be the same in all (a worker that collects after midnight has other dates)."""
    return re.sub(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", "DATE", name)


@pytest.fixture
def landing(tmp_path):
    folder = tmp_path / "landing"
    folder.mkdir()
    return folder


def load(settings, folder, **options):
    return {result.name: result for result in loader.load(settings, folder, **options)}


def logged(settings, name):
    return query(settings, "select status, error from bronze.load_log where file_name = %s",
                 (name,))


def stores(row_id: str) -> str:
    return f"{STORES_HEADER}\n{row_id},Shop {row_id},store,Lyon,FR,2020-01-01\n"


def test_links_and_special_files_are_never_read(database, landing, tmp_path, run_cli):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "pgpass").write_text(f"localhost:5432:*:postgres:{SECRET}\n")
    (outside / "valid.csv").write_text(stores("OUT1"))
    inside = landing / f"erp__stores__{day(40)}.csv"
    inside.write_text(stores("IN0"))
    entries = {
        f"erp__stores__{day(41)}.csv": "a symbolic link",
        f"erp__stores__{day(42)}.csv": "a symbolic link",
        f"erp__stores__{day(43)}.csv": "a symbolic link",
        f"erp__stores__{day(44)}.csv": "a named pipe",
        f"erp__stores__{day(45)}.csv": "a directory",
    }
    names = list(entries)
    (landing / names[0]).symlink_to(outside / "pgpass")
    (landing / names[1]).symlink_to(outside / "valid.csv")
    (landing / names[2]).symlink_to(inside.name)  # even a link to a file inside
    os.mkfifo(landing / names[3])  # would block an open() without O_NONBLOCK
    (landing / names[4]).mkdir()
    (landing / f"erp__stores__{day(46)}.csv").write_text(stores("IN1"))

    results = load(database, landing)

    for name, kind in entries.items():
        assert results[name].status == "failed", name
        assert results[name].error.startswith(f"is {kind}, not a regular file"), results[name].error
        assert logged(database, name) == [("failed", results[name].error)]
    assert results[f"erp__stores__{day(46)}.csv"].status == "loaded"
    assert query(database, "select store_id from bronze.erp_stores order by 1") == [("IN0",), ("IN1",)]
    # Through the CLI too: nothing of the linked file reaches the output.
    result = run_cli("load", "--landing", str(landing))
    assert result.exit_code == 1
    assert "a symbolic link" in result.output
    assert SECRET not in result.output + result.stderr
    assert query(database, "select count(*) from bronze.load_log where error like %s",
                 (f"%{SECRET}%",)) == [(0,)]


@pytest.mark.parametrize(("content", "where"), [
    # a header that is not column names (the first line of a pgpass file)
    (f"localhost:5432:*:postgres:{SECRET}\nS1,A,store,Lyon,FR,2020-01-01\n", "line 1"),
    (f'{STORES_HEADER},"{SECRET} x"\nS1,A,store,Lyon,FR,2020-01-01,x\n', "line 1"),
    # a row with more values than the header
    (f"{STORES_HEADER}\nS1,A,store,Lyon,FR,2020-01-01,{SECRET}\n", "line 2"),
    # a value in another encoding
    (f"{STORES_HEADER}\nS1,{SECRET}\xe9,store,Lyon,FR,2020-01-01\n".encode("latin-1"), "line 2"),
])
def test_errors_say_where_never_what(database, landing, content, where):
    path = landing / f"erp__stores__{day(50)}.csv"
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    result = load(database, landing)[path.name]
    assert result.status == "failed"
    assert result.error.startswith(where), result.error
    assert SECRET.lower() not in result.error.lower() and "postgres" not in result.error
    assert SECRET.lower() not in logged(database, path.name)[0][1].lower()


def test_bad_json_is_named_by_line_not_quoted(database, landing):
    path = landing / f"crm__customers__{day(51)}.jsonl"
    path.write_text('{"customer_id": "C1"}\n{"customer_id": "' + SECRET + '", oops}\n')
    result = load(database, landing)[path.name]
    assert result.error == "line 2: not valid JSON"


def test_any_error_fails_one_file_and_the_load_goes_on(database, landing):
    deep = landing / f"crm__customers__{day(60)}.jsonl"
    deep.write_text('{"customer_id": "C1", "x": ' + "[" * 200_000 + "]" * 200_000 + "}\n")
    after = landing / f"erp__stores__{day(59)}.csv"
    after.write_text(stores("AFTER1"))

    results = load(database, landing)

    assert results[deep.name].status == "failed"
    assert results[deep.name].error.startswith("line 1: nested too deeply"), results[deep.name].error
    assert logged(database, deep.name) == [("failed", results[deep.name].error)]
    assert results[after.name].status == "loaded"


@pytest.fixture
def tiny_tablespace(database):
    """A 1 MB file system under bronze.erp_products, so its COPY meets a full disk."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    mount = database.home / "tiny_tablespace"  # where the server's OS user can reach
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    owner = database.pgdata.stat()  # the server's own OS user must own a tablespace
    os.chown(mount, owner.st_uid, owner.st_gid)
    conn = psycopg2.connect(**database.connect_kwargs())
    try:
        loader.install_bronze(conn)  # in a transaction: it takes the DDL lock table
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("create tablespace landing_tiny location %s", (str(mount),))
            cur.execute("alter table bronze.erp_products set tablespace landing_tiny")
        yield
        with conn.cursor() as cur:
            cur.execute("alter table bronze.erp_products set tablespace pg_default")
    finally:
        conn.rollback()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("drop tablespace if exists landing_tiny")
        conn.close()
        subprocess.run(["umount", str(mount)], check=True)  # also when the set-up failed
        mount.rmdir()


def test_a_full_disk_fails_that_file_alone(database, landing, tiny_tablespace):
    big = landing / f"erp__products__{day(70)}.csv"
    row = ",SKU,Tea,Drinks,Tea,Koru,1.00,GBP,2025-01-01 00:00:00\n"
    big.write_text(PRODUCTS_HEADER + "\n" + "".join(f"P{n}{row}" for n in range(60_000)))
    after = landing / f"erp__stores__{day(69)}.csv"
    after.write_text(stores("AFTER2"))

    results = load(database, landing)

    assert results[big.name].status == "failed"
    assert "ran out of disk space" in results[big.name].error, results[big.name].error
    assert logged(database, big.name)[0][0] == "failed"
    assert results[after.name].status == "loaded"


def partitions(settings):
    return {row[0] for row in query(settings, """
        select child.relname from pg_inherits
        join pg_class as child on child.oid = pg_inherits.inhrelid
        join pg_class as parent on parent.oid = pg_inherits.inhparent
        where parent.relname in ('erp_orders', 'erp_order_lines')
            and child.relname !~ 'default$'""")}


def test_a_name_creates_partitions_only_for_an_accepted_file(database, landing, run_cli):
    orders = "order_id,customer_id,store_id,order_ts,status,currency,updated_at\n"
    (landing / "zzz__junk__0001-01-01.csv").write_text("a\n1\n")
    (landing / "erp__orders__1900-01-01.csv").write_text(orders)
    (landing / "erp__orders__9999-12-31.csv").write_text(orders)
    old = dt.date(TODAY.year - 2, 3, 15)
    (landing / f"erp__orders__{old}.csv").write_text(orders + "O1,C1,S1,x,new,GBP,x\n")

    results = load(database, landing)

    assert results["zzz__junk__0001-01-01.csv"].error.startswith("name does not follow")
    for name in ("erp__orders__1900-01-01.csv", "erp__orders__9999-12-31.csv"):
        assert "is outside the accepted window" in results[name].error, results[name].error
        assert logged(database, name)[0][0] == "failed"
    assert results[f"erp__orders__{old}.csv"].status == "loaded"
    months = {f"{TODAY.year}{TODAY.month:02d}"}
    for _ in range(loader.PARTITION_MONTHS_AHEAD):
        last = dt.date(int(max(months)[:4]), int(max(months)[4:]), 1)
        following = (last + dt.timedelta(days=32)).replace(day=1)
        months.add(f"{following.year}{following.month:02d}")
    months.add(f"{old.year}{old.month:02d}")
    assert partitions(database) == {f"{parent}_p{month}" for month in months
                                    for parent in ("erp_orders", "erp_order_lines")}

    # The window is configurable: a narrower one refuses what the default accepts.
    recent = landing / f"erp__stores__{day(30)}.csv"
    recent.write_text(stores("RECENT"))
    result = run_cli("load", "--landing", str(landing), env={loader.MAX_AGE_VARIABLE: "10"})
    assert result.exit_code == 1
    assert logged(database, recent.name)[0][0] == "failed"
    assert "--max-age-days" in logged(database, recent.name)[0][1]
    assert run_cli("load", "--landing", str(landing), "--max-age-days", "31").exit_code == 1
    assert logged(database, recent.name)[0][0] == "loaded"


@pytest.mark.parametrize("name", [
    f"erp__stores__{day(80)}.csv\n",          # a second file for the same entity and date
    f"erp__stores__{day(80)}.csv ",
    f" erp__stores__{day(80)}.csv",
    f"erp__stores__{day(80)}.CSV",
    f"ERP__stores__{day(80)}.csv",
    f"erp__st\u043eres__{day(80)}.csv",        # Cyrillic o
    "erp__stores__\u0662\u0660\u0662\u0665-01-01.csv",  # Arabic-Indic digits
    f"erp__stores__{day(80)}.jsonl",          # the same entity and date in another format
    f"crm__customers__{day(80)}.csv",
    f"erp__stores__{day(80)}\x1b[2J.csv",
], ids=dated_id)
def test_lookalike_names_are_refused(database, landing, name, run_cli):
    (landing / f"erp__stores__{day(80)}.csv").write_text(stores("REAL"))
    (landing / name).write_text(stores("TWIN"))
    results = load(database, landing)
    assert results[name].status == "failed"
    assert query(database, "select count(*) from bronze.erp_stores where store_id = 'TWIN'") == [(0,)]
    output = run_cli("load", "--landing", str(landing)).output
    # The name is printed escaped: it cannot end a line or drive the terminal.
    assert f"FAILED {names.shown(name)}: " in output
    if not name.isprintable():
        assert name not in output


def test_byte_order_mark_is_skipped_but_hashed(database, landing):
    path = landing / f"erp__stores__{day(90)}.csv"
    path.write_bytes(b"\xef\xbb\xbf" + stores("BOM1").encode())
    assert load(database, landing)[path.name].status == "loaded"
    assert query(database, "select store_name from bronze.erp_stores where store_id = 'BOM1'") == [("Shop BOM1",)]
    assert query(database, "select checksum_sha256 from bronze.load_log where file_name = %s",
                 (path.name,)) == [(hashlib.sha256(path.read_bytes()).hexdigest(),)]
    assert load(database, landing)[path.name].status == "skipped"


def test_a_byte_order_mark_before_json(database, landing):
    path = landing / f"crm__customers__{day(91)}.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"customer_id": "BOM2"}).encode() + b"\n")
    assert load(database, landing)[path.name].status == "loaded"


@pytest.mark.parametrize(("content", "expected"), [
    (gzip.compress(stores("GZ").encode(), mtime=0), "the file holds gzip-compressed data"),
    (b"PK\x03\x04" + b"\x00" * 40 + b"\n", "the file holds zip-compressed data"),
    (stores("NUL").encode().replace(b"Lyon", b"Ly\x00n"), "line 2: a NUL byte"),
    (f"{STORES_HEADER}\r\nS1,A,store,Lyon,FR,2020-01-01\nS2,B,store,Lyon,FR,2020-01-01\r\n".encode(),
     "line 2:"),  # mixed line endings
    (("x" * (loader.MAX_HEADER_BYTES + 10)).encode() + b"\n", "line 1: the header is longer"),
])
def test_binary_and_odd_content_says_what_it_is(database, landing, content, expected):
    path = landing / f"erp__stores__{day(100)}.csv"
    path.write_bytes(content)
    result = load(database, landing)[path.name]
    assert result.status == "failed"
    assert result.error.startswith(expected), result.error
    assert "interrupted transfer" not in result.error


def test_crlf_files_load(database, landing):
    path = landing / f"erp__stores__{day(101)}.csv"
    path.write_bytes(stores("CRLF").replace("\n", "\r\n").encode())
    assert load(database, landing)[path.name].status == "loaded"
    assert query(database, "select opened_date from bronze.erp_stores where store_id = 'CRLF'") == [("2020-01-01",)]


@pytest.mark.parametrize("control", ["\x01", "\x02"])
def test_a_raw_control_character_never_merges_json_lines(database, landing, control):
    # Split across two lines, each half a record; COPY's quote (0x01) would join them.
    path = landing / f"crm__customers__{day(110)}.jsonl"
    path.write_text('{"customer_id": "C1"}\n'
                    f'{{"customer_id": "M1",{control}\n{control}"first_name": "Merged"}}\n'
                    '{"customer_id": "C3"}\n')
    result = load(database, landing)[path.name]
    assert result.status == "failed"
    assert result.error.startswith(f"line 2: a raw control character (0x0{ord(control)})"), result.error
    assert query(database, "select count(*) from bronze.crm_customers where _source_file = %s",
                 (path.name,)) == [(0,)]


@pytest.mark.parametrize("extra", [
    ["xmin"],                                   # a system column's name
    [f"extra_{n}" for n in range(1700)],        # beyond PostgreSQL's 1600 columns
])
def test_header_names_the_database_refuses_fail_alone(database, landing, extra):
    path = landing / f"erp__stores__{day(120)}.csv"
    path.write_text(f"{STORES_HEADER},{','.join(extra)}\n"
                    f"S1,A,store,Lyon,FR,2020-01-01,{','.join('x' for _ in extra)}\n")
    after = landing / f"erp__stores__{day(119)}.csv"
    after.write_text(stores("AFTER3"))
    results = load(database, landing)
    assert results[path.name].status == "failed"
    assert results[path.name].error.startswith("the database refused it"), results[path.name].error
    assert results[after.name].status in ("loaded", "skipped")
    assert "extra_1" not in [row[0] for row in query(database, """
        select column_name from information_schema.columns
        where table_schema = 'bronze' and table_name = 'erp_stores'""")]
