"""The source generator: determinism, dirt at the requested rates, next-day batches."""

from __future__ import annotations

import csv
import hashlib
import json
import re

import pytest

from runner.core import generate as gen

EMAIL = re.compile(r"^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$")


def digest_folder(folder):
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.iterdir())
    }


def read_csv(folder, entity):
    rows = []
    for path in sorted(folder.glob(f"erp__{entity}__*.csv")):
        with open(path, newline="") as handle:
            rows.extend(csv.DictReader(handle))
    return rows


def read_customers(folder):
    return [
        json.loads(line)
        for path in sorted(folder.glob("crm__customers__*.jsonl"))
        for line in path.read_text().splitlines()
    ]


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    folder = tmp_path_factory.mktemp("landing")
    gen.generate(folder, seed=7, scale=0.05)
    return folder


def test_same_seed_same_bytes(tmp_path, landing):
    gen.generate(tmp_path / "again", seed=7, scale=0.05)
    assert digest_folder(tmp_path / "again") == digest_folder(landing)
    gen.generate(tmp_path / "other", seed=8, scale=0.05)
    assert digest_folder(tmp_path / "other") != digest_folder(landing)


def test_file_names_say_source_entity_and_date(landing):
    names = [p.name for p in landing.iterdir() if not p.name.startswith("_")]
    assert len(names) == 24 * 5 - 23  # stores arrive once, in the first batch
    assert all(re.fullmatch(r"(crm|erp)__[a-z_]+__\d{4}-\d{2}-\d{2}\.(csv|jsonl)", n) for n in names)


def test_sizes_follow_scale(landing):
    state = gen.load_state(landing)
    assert state.customers == pytest.approx(5_000, rel=0.01)
    assert state.orders == pytest.approx(20_000, rel=0.05)
    assert state.order_lines == pytest.approx(50_000, rel=0.05)


def test_every_kind_of_dirt_at_its_rate(landing):
    state = gen.load_state(landing)
    rates = gen.DirtRates()
    for kind, eligible in state.eligible_counts.items():
        observed = state.dirt_counts.get(kind, 0) / eligible
        expected = getattr(rates, kind)
        # binomial noise: within 4 standard deviations
        tolerance = 4 * (expected * (1 - expected) / eligible) ** 0.5
        assert abs(observed - expected) <= tolerance, (kind, observed, expected)
    assert set(state.eligible_counts) == {f for f in rates.__dataclass_fields__}


def test_dirt_is_really_in_the_files(landing):
    lines = read_csv(landing, "order_lines")
    customers = read_customers(landing)
    orders = read_csv(landing, "orders")
    emails = [c.get("email") for c in customers if c.get("email")]
    bad_emails = [e for e in emails if not EMAIL.match(e.strip().lower())]
    assert 0.01 < len(bad_emails) / len(emails) < 0.06
    assert any(e != e.strip() or e != e.lower() for e in emails)  # fixable mess too
    assert any(line["quantity"] and int(line["quantity"]) <= 0 for line in lines)
    assert any(line["unit_price"] and float(line["unit_price"]) <= 0 for line in lines)
    assert any(line["product_id"].startswith("P9") for line in lines)  # unknown products
    assert any(line["order_id"] and int(line["order_id"]) > 900_000_000 for line in lines)
    assert any(o["order_ts"].startswith(("2031", "1999")) for o in orders)
    assert any(o["order_ts"] in ("31/02/2024", "not a date") for o in orders)
    assert any(o["customer_id"] == "" for o in orders)
    assert any(c.get("customer_id") is None for c in customers)
    assert any(c.get("is_deleted") for c in customers)
    keys = [(c.get("customer_id"), c.get("updated_at")) for c in customers]
    assert len(keys) > len(set(keys))  # exact duplicates
    phones = [c["phone"] for c in customers if c.get("phone")]
    assert len({re.sub(r"\d", "9", p) for p in phones}) >= 5  # many shapes


def test_schema_drift_in_later_batches(landing):
    early = (landing / "erp__orders__2024-01-31.csv").read_text().splitlines()[0]
    late = (landing / "erp__orders__2025-12-31.csv").read_text().splitlines()[0]
    assert "promo_code" not in early and late.endswith(",promo_code")
    late_customer = json.loads((landing / "crm__customers__2025-12-31.jsonl").read_text().splitlines()[0])
    assert "loyalty_tier" in late_customer


def test_rates_are_configurable(tmp_path):
    clean = gen.generate(tmp_path / "clean", seed=1, scale=0.01, dirt=gen.DirtRates.parse([], base=0))
    assert clean.dirt_counts == {}
    heavy = gen.generate(tmp_path / "heavy", seed=1, scale=0.02,
                         dirt=gen.DirtRates.parse(["bad_email=0.5"]))
    observed = heavy.dirt_counts["bad_email"] / heavy.eligible_counts["bad_email"]
    assert 0.4 < observed < 0.6


def test_next_day_appends_one_batch_with_changes(tmp_path):
    folder = tmp_path / "landing"
    first = gen.generate(folder, seed=3, scale=0.01)
    before = set(p.name for p in folder.iterdir())
    state, date = gen.next_day(folder)
    added = sorted(set(p.name for p in folder.iterdir()) - before)
    assert str(date) == "2026-01-01"
    assert len(added) == 4 and all("2026-01-01" in name for name in added)
    customers = [json.loads(l) for l in (folder / "crm__customers__2026-01-01.jsonl").read_text().splitlines()]
    existing = [c for c in customers if c.get("customer_id") and int(c["customer_id"][5:]) <= first.customers]
    assert any(c.get("is_deleted") for c in existing)
    assert any(not c.get("is_deleted") for c in existing)  # updated customers
    assert state.orders > first.orders


def test_cli_rejects_bad_arguments(run_cli, tmp_path):
    result = run_cli("generate", "--out", str(tmp_path / "x"), "--scale", "-1")
    assert result.exit_code == 1 and "Error: --scale must be a positive number" in result.output
    result = run_cli("generate", "--out", str(tmp_path / "x"), "--dirt-rate", "bogus=1")
    assert result.exit_code == 1 and "expected KIND=RATE" in result.output
    result = run_cli("generate", "--out", str(tmp_path / "x"), "--dirt-rate", "bad_email=2")
    assert result.exit_code == 1 and "between 0 and 1" in result.output
    result = run_cli("generate", "--out", str(tmp_path / "none"), "--next-day")
    assert result.exit_code == 1 and "holds no generated data" in result.output
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


@pytest.mark.parametrize("edit", ["old_version", "not_json"])
def test_next_day_refuses_a_state_it_cannot_extend(tmp_path, landing, edit):
    folder = tmp_path / "landing"
    folder.mkdir()
    saved = json.loads((landing / gen.STATE_FILE).read_text())
    if edit == "old_version":  # written before the generator kept id ranges
        del saved["order_ranges"], saved["customer_ranges"]
        text = json.dumps(saved)
    else:
        text = json.dumps(saved)[:-40]
    (folder / gen.STATE_FILE).write_text(text)
    with pytest.raises(gen.WarehouseError, match="runner generate --out NEW_FOLDER|not valid JSON"):
        gen.next_day(folder)
    assert sorted(p.name for p in folder.iterdir()) == [gen.STATE_FILE]  # nothing written
