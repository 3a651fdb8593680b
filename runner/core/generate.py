"""Deterministic source data for a consumer-goods company selling in stores and online.

The CRM exports customers as JSON lines (nested address); the ERP exports products,
stores, orders and order lines as CSV with a header. History arrives as one batch per
month (the initial backfill); ``next_day`` appends a daily batch. Every file is named
``<source>__<entity>__<batch date>.<ext>`` and the folder keeps ``_generator.json`` with
the seed, the dirt rates and the state the next batch continues from.

Dirt is injected at configurable rates (``DirtRates``) and counted in the state file, so
tests can check each kind is present at the rate asked for.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

from runner.errors import WarehouseError

STATE_FILE = "_generator.json"
FOUNDED = dt.date(2015, 3, 1)
HISTORY_START = dt.date(2024, 1, 1)
HISTORY_MONTHS = 24
DRIFT_FROM = dt.date(2025, 10, 1)  # batches from here on carry extra columns

FIRST_NAMES = (
    "Olivia Liam Emma Noah Amelia Oliver Sophia Elijah Mia Lucas Isla Mateo Ava Leo Freya "
    "Hugo Lena Jonas Chloe Louis Julia Finn Sara Luca Nora Elias Ella Milan Zoe Max"
).split()
LAST_NAMES = (
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson Evans "
    "Walker White Roberts Green Hall Wood Jackson Clarke Muller Schmidt Martin Bernard "
    "Dubois Jansen Visser Bakker Garcia Miller"
).split()
# (iso2, spellings the CRM uses, calling code, cities, currency)
COUNTRIES = (
    ("GB", ("United Kingdom", "UK", "gb", "Great Britain", "GB"), "44",
     ("London", "Manchester", "Leeds", "Bristol", "Glasgow"), "GBP"),
    ("US", ("United States", "USA", "us", "U.S.", "US"), "1",
     ("New York", "Chicago", "Austin", "Seattle", "Boston"), "USD"),
    ("DE", ("Germany", "Deutschland", "de", "DE"), "49",
     ("Berlin", "Hamburg", "Munich", "Cologne"), "EUR"),
    ("FR", ("France", "fr", "FR", "République française"), "33",
     ("Paris", "Lyon", "Marseille", "Lille"), "EUR"),
    ("NL", ("Netherlands", "Holland", "nl", "NL"), "31",
     ("Amsterdam", "Rotterdam", "Utrecht"), "EUR"),
)
REGIONS = {"GB": "UK & Ireland", "US": "North America", "DE": "DACH", "FR": "Western Europe",
           "NL": "Western Europe"}
CATEGORIES = {
    "Beverages": ("Coffee", "Tea", "Juice", "Water"),
    "Snacks": ("Crisps", "Chocolate", "Nuts", "Biscuits"),
    "Personal Care": ("Shampoo", "Soap", "Toothpaste", "Deodorant"),
    "Household": ("Detergent", "Paper", "Cleaner", "Candles"),
    "Pantry": ("Pasta", "Rice", "Sauce", "Cereal"),
}
BRANDS = ("Northwind", "Acme", "Bluebird", "Evergreen", "Sunrise", "Highland", "Koru")
SEGMENTS = ("consumer", "consumer", "consumer", "small business", "VIP")
LINES_PER_ORDER = (1, 1, 2, 2, 3, 3, 4, 4)  # 2.5 lines per order on average
QUANTITIES = (1, 1, 1, 2, 2, 3, 4, 6)
STATUSES = ("completed", "completed", "completed", "completed", "shipped", "pending")
CUSTOMER_FIELDS = ("customer_id", "first_name", "last_name", "email", "phone", "address",
                   "segment", "created_at", "updated_at")
PRODUCT_COLUMNS = ["product_id", "sku", "product_name", "category", "subcategory", "brand",
                   "unit_price", "currency", "updated_at"]
STORE_COLUMNS = ["store_id", "store_name", "channel", "city", "country", "opened_date"]
ORDER_COLUMNS = ["order_id", "customer_id", "store_id", "order_ts", "status", "currency",
                 "updated_at"]
LINE_COLUMNS = ["order_line_id", "order_id", "line_number", "product_id", "quantity",
                "unit_price", "discount_amount", "updated_at"]


@dataclass
class DirtRates:
    """Share of eligible records that get each kind of dirt (0 turns a kind off)."""

    missing_field: float = 0.01
    exact_duplicate: float = 0.01
    newer_duplicate: float = 0.01
    bad_email: float = 0.03
    bad_phone: float = 0.02
    bad_quantity: float = 0.005
    bad_price: float = 0.005
    orphan_line: float = 0.005
    bad_date: float = 0.005
    messy_text: float = 0.05

    @classmethod
    def parse(cls, overrides: list[str], base: float | None = None) -> "DirtRates":
        rates = cls() if base is None else cls(**{f.name: base for f in fields(cls)})
        names = {f.name for f in fields(cls)}
        for item in overrides:
            name, _, value = item.partition("=")
            name = name.strip().replace("-", "_")
            if name not in names or not value:
                raise WarehouseError(
                    f"--dirt-rate {item!r}: expected KIND=RATE with KIND one of "
                    f"{', '.join(sorted(names))}."
                )
            try:
                rate = float(value)
            except ValueError:
                rate = -1.0
            if not 0 <= rate <= 1:
                raise WarehouseError(f"--dirt-rate {item!r}: RATE must be between 0 and 1.")
            setattr(rates, name, rate)
        return rates


@dataclass
class State:
    seed: int
    scale: float
    dirt: dict
    batches: list = field(default_factory=list)
    customers: int = 0
    products: int = 0
    stores: int = 0
    orders: int = 0
    order_lines: int = 0
    deleted_customers: list = field(default_factory=list)
    customer_ranges: list = field(default_factory=list)  # [first number, period start, days]
    order_ranges: list = field(default_factory=list)  # [first order id, period start, days]
    prices: dict = field(default_factory=dict)
    categories: dict = field(default_factory=dict)
    dirt_counts: dict = field(default_factory=dict)
    eligible_counts: dict = field(default_factory=dict)


def targets(scale: float) -> dict[str, int]:
    """Entity totals for the two-year history at ``scale`` (scale 1 = 1M order lines)."""
    return {
        "customers": max(50, round(100_000 * scale)),
        "products": max(30, round(5_000 * scale)),
        "stores": max(8, round(200 * scale)),
        "orders": max(200, round(400_000 * scale)),
    }


class Batch:
    """Writes one batch's files and applies dirt; ``rng`` is seeded by (seed, batch date)."""

    def __init__(self, folder: Path, state: State, date: dt.date, period_days: int):
        self.folder = folder
        self.state = state
        self.date = date
        self.period_start = date - dt.timedelta(days=period_days - 1)
        self.period_days = period_days
        self.rng = random.Random(f"{state.seed}:{date.isoformat()}")
        self.rates = DirtRates(**state.dirt)
        self.drift = date >= DRIFT_FROM
        self.plans: dict[tuple[str, ...], list] = {}  # kinds -> [total rate, steps, offers]
        self.days = [(self.period_start + dt.timedelta(days=d)).isoformat()
                     for d in range(period_days)]

    # -- dirt bookkeeping -------------------------------------------------------------
    def pick(self, kinds: tuple[str, ...]) -> str | None:
        """At most one kind of dirt for one record: each kind with its own rate."""
        plan = self.plans.get(kinds)
        if plan is None:
            cumulative, steps = 0.0, []
            for kind in kinds:
                cumulative += getattr(self.rates, kind)
                steps.append((kind, cumulative))
            plan = self.plans[kinds] = [cumulative, steps, 0]
        plan[2] += 1
        draw = self.rng.random()
        if draw >= plan[0]:
            return None
        for kind, bound in plan[1]:
            if draw < bound:
                self.state.dirt_counts[kind] = self.state.dirt_counts.get(kind, 0) + 1
                return kind
        return None

    def dirty(self, kind: str) -> bool:
        return self.pick((kind,)) is not None

    def close(self) -> None:
        """Add this batch's offers to the eligible counts (the denominators of the rates)."""
        for kinds, (_, _, count) in self.plans.items():
            for kind in kinds:
                self.state.eligible_counts[kind] = self.state.eligible_counts.get(kind, 0) + count

    def messy(self, text: str) -> str:
        if not text or not self.dirty("messy_text"):
            return text
        shape = self.rng.randrange(3)
        if shape == 0:
            return f"  {text} "
        if shape == 1:
            return text.upper()
        return "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(text))

    def timestamp(self) -> str:
        day = self.days[int(self.rng.random() * self.period_days)]
        seconds = 7 * 3600 + int(self.rng.random() * 15 * 3600)
        return f"{day} {seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"

    def order_range(self, order_id: int) -> list:
        ranges = self.state.order_ranges
        if ranges[-1][0] <= order_id:
            return ranges[-1]
        return next(r for r in reversed(ranges) if r[0] <= order_id)

    def order_timestamp(self, order_id: int, order_range: list | None = None) -> str:
        """When order ``order_id`` was placed: a pure function of the id, so a later
        correction of the order carries the same time."""
        _, start, days, *_ = order_range or self.order_range(order_id)
        day = dt.date.fromisoformat(start) + dt.timedelta(days=order_id * 2654435761 % days)
        seconds = 7 * 3600 + order_id * 40503 % (15 * 3600)
        return f"{day.isoformat()} {seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"

    def order_parties(self, order_id: int, order_range: list | None = None) -> tuple[int, int]:
        """(customer number, store number) of an order: pure functions of the id too."""
        _, _, _, customers, stores = order_range or self.order_range(order_id)
        mixed = (order_id * 0x9E3779B1 + self.state.seed * 0x85EBCA77) & 0xFFFFFFFF
        return mixed % customers + 1, (mixed >> 11) % stores + 1

    def maybe_bad_date(self, value: str) -> str:
        if not self.dirty("bad_date"):
            return value
        return self.rng.choice(
            ["2031-07-04 10:00:00", "1999-12-31 23:59:59", "31/02/2024", "not a date"]
        )

    # -- customers (CRM, JSON lines) ------------------------------------------------------
    def created_at(self, number: int) -> str:
        """When the CRM first saw customer ``number``: a pure function of the number."""
        first, start, days = next(r for r in reversed(self.state.customer_ranges) if r[0] <= number)
        day = dt.date.fromisoformat(start) + dt.timedelta(days=number * 7 % days)
        return f"{day.isoformat()} {8 + number % 12:02d}:{number % 60:02d}:00"

    def customer(self, number: int, version: int) -> dict:
        rng = self.rng
        created_at = self.created_at(number)
        first = FIRST_NAMES[number * 7 % len(FIRST_NAMES)]
        last = LAST_NAMES[number * 13 % len(LAST_NAMES)]
        iso, spellings, calling, cities, _ = COUNTRIES[rng.randrange(len(COUNTRIES))]
        domain = rng.choice(("example.com", "mail.test", "post.example.org"))
        email = f"{first}.{last}{number}{'' if version == 0 else version}@{domain}".lower()
        if self.dirty("bad_email"):
            email = rng.choice((
                email.replace("@", "@@"), email.replace("@", " at "), email.split("@")[0],
                email.replace("@", "@.") , f"{first} {last}@{domain}",
            ))
        elif rng.random() < 0.1:
            email = f" {email.upper()} "  # fixable: case and whitespace only
        local = f"{rng.randrange(10**8, 10**9)}"
        phone = rng.choice((
            f"+{calling} {local[:3]} {local[3:6]} {local[6:]}",
            f"0{local}",
            f"00{calling}-{local}",
            f"(0{local[:3]}) {local[3:6]}-{local[6:]}",
            f"0{local[:3]}.{local[3:6]}.{local[6:]}",
        ))
        if self.dirty("bad_phone"):
            phone = rng.choice(("12345", "n/a", "+00 000", "phone me", "0" * 20))
        record = {
            "customer_id": f"CUST-{number:07d}",
            "first_name": self.messy(first),
            "last_name": self.messy(last),
            "email": email,
            "phone": phone,
            "address": {
                "line1": f"{rng.randrange(1, 300)} {rng.choice(LAST_NAMES)} Street",
                "city": self.messy(rng.choice(cities)),
                "postal_code": f"{rng.randrange(10000, 99999)}",
                "country": self.messy(rng.choice(spellings)),
            },
            "segment": self.messy(rng.choice(SEGMENTS)),
            "created_at": created_at if version else self.maybe_bad_date(created_at),
            "updated_at": self.timestamp() if version else created_at,
        }
        if self.dirty("missing_field"):
            record[self.rng.choice(("customer_id", "email", "created_at"))] = None
        if self.drift:
            record["loyalty_tier"] = rng.choice(("bronze", "silver", "gold"))
        return record

    def write_customers(self, new: int, updates: int, deletions: int) -> None:
        state, rng = self.state, self.rng
        records = []
        if new:
            state.customer_ranges.append(
                [state.customers + 1, self.period_start.isoformat(), self.period_days])
        if state.customers:
            deleted = set(state.deleted_customers)
            for _ in range(updates):
                number = rng.randrange(1, state.customers + 1)
                if number not in deleted:
                    records.append(self.customer(number, rng.randrange(1, 10**6)))
            for _ in range(deletions):
                number = rng.randrange(1, state.customers + 1)
                if number not in deleted:
                    deleted.add(number)
                    state.deleted_customers.append(number)
                    records.append({"customer_id": f"CUST-{number:07d}", "is_deleted": True,
                                    "updated_at": self.timestamp()})
        for number in range(state.customers + 1, state.customers + new + 1):
            records.append(self.customer(number, 0))
        state.customers += new
        lines = []
        for record in records:
            line = json.dumps(record, ensure_ascii=False)
            lines.append(line)
            if self.dirty("exact_duplicate"):
                lines.append(line)
            elif record.get("customer_id") and self.dirty("newer_duplicate"):
                newer = dict(record, updated_at=f"{self.date.isoformat()} 23:59:59")
                lines.append(json.dumps(newer, ensure_ascii=False))
        self.write_text("crm", "customers", "jsonl", "\n".join(lines) + ("\n" if lines else ""))

    # -- ERP (CSV) -------------------------------------------------------------------------
    def write_csv(self, entity: str, header: list[str], rows: list[list]) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        duplicate = ("exact_duplicate",)
        for row in rows:
            writer.writerow(row)
            if self.pick(duplicate):
                writer.writerow(row)
        self.write_text("erp", entity, "csv", buffer.getvalue())

    def write_text(self, source: str, entity: str, ext: str, text: str) -> None:
        path = self.folder / f"{source}__{entity}__{self.date.isoformat()}.{ext}"
        path.write_text(text, encoding="utf-8")

    def product_row(self, number: int) -> list:
        state = self.state
        category = state.categories[str(number)]
        subcategory = CATEGORIES[category][number % len(CATEGORIES[category])]
        brand = BRANDS[number % len(BRANDS)]
        name = f"{brand} {subcategory} {100 + number % 900}g"
        price = state.prices[str(number)]
        if self.dirty("bad_price"):
            price = self.rng.choice((0, -price))
        row = [f"P{number:05d}", f"SKU-{number:06d}", self.messy(name), category,
               subcategory, brand, f"{price:.2f}", "GBP", self.timestamp()]
        if self.dirty("missing_field"):
            row[self.rng.choice((0, 2, 6))] = ""
        return row

    def write_products(self, new: int, changes: int) -> None:
        state, rng = self.state, self.rng
        changed = []
        for number in range(state.products + 1, state.products + new + 1):
            state.categories[str(number)] = list(CATEGORIES)[number % len(CATEGORIES)]
            state.prices[str(number)] = round(rng.uniform(0.8, 25.0), 2)
            changed.append(number)
        for _ in range(changes if state.products else 0):
            number = rng.randrange(1, state.products + 1)
            if rng.random() < 0.7:
                state.prices[str(number)] = round(state.prices[str(number)] * rng.uniform(0.9, 1.2), 2)
            else:
                state.categories[str(number)] = rng.choice(list(CATEGORIES))
            changed.append(number)
        state.products += new
        self.write_csv("products", PRODUCT_COLUMNS, [self.product_row(n) for n in changed])

    def write_stores(self, total: int) -> None:
        rows = []
        for number in range(1, total + 1):
            iso, spellings, _, cities, _ = COUNTRIES[number % len(COUNTRIES)]
            online = number % 10 == 0
            city = cities[number % len(cities)]
            rows.append([
                f"S{number:04d}",
                f"{'Online ' + iso if online else city + ' ' + str(number)}",
                "online" if online else self.messy("store"),
                "" if online else city,
                spellings[0],
                (FOUNDED + dt.timedelta(days=37 * number)).isoformat(),
            ])
        self.state.stores = total
        self.write_csv("stores", STORE_COLUMNS, rows)

    def write_orders(self, count: int, corrections: int) -> None:
        state, rng = self.state, self.rng
        header = ORDER_COLUMNS + (["promo_code"] if self.drift else [])
        lines_header = LINE_COLUMNS
        orders, lines = [], []
        prices = state.prices
        if count:
            state.order_ranges.append([state.orders + 1, self.period_start.isoformat(),
                                       self.period_days, state.customers, state.stores])
        rand = rng.random
        line_dirt = ("bad_quantity", "bad_price", "orphan_line", "missing_field")
        for order_id in range(state.orders + 1, state.orders + count + 1):
            customer, store = self.order_parties(order_id)
            ts = self.order_timestamp(order_id)
            currency = COUNTRIES[store % len(COUNTRIES)][4]
            if rand() < 0.2:
                currency = currency.lower()
            row = [order_id, f"CUST-{customer:07d}", f"S{store:04d}", self.maybe_bad_date(ts),
                   STATUSES[int(rand() * len(STATUSES))], self.messy(currency), ts]
            if self.dirty("missing_field"):
                row[rng.choice((1, 2))] = ""
            if self.drift:
                row.append(rng.choice(("", "", "SPRING10", "VIP5")))
            orders.append(row)
            for line_number in range(1, LINES_PER_ORDER[int(rand() * len(LINES_PER_ORDER))] + 1):
                state.order_lines += 1
                product = int(rand() * state.products) + 1
                quantity = QUANTITIES[int(rand() * len(QUANTITIES))]
                price = prices[str(product)]
                discount = round(price * quantity * 0.1, 2) if rand() < 0.15 else 0
                line = [state.order_lines, order_id, line_number, f"P{product:05d}", quantity,
                        f"{price:.2f}", f"{discount:.2f}", ts]
                kind = self.pick(line_dirt)
                if kind == "bad_quantity":
                    line[4] = rng.choice((0, -1, -quantity))
                elif kind == "bad_price":
                    line[5] = rng.choice(("0.00", f"{-price:.2f}"))
                elif kind == "orphan_line":
                    if rand() < 0.5:
                        line[3] = f"P{90000 + rng.randrange(9999):05d}"
                    else:
                        line[1] = 900_000_000 + line[0]
                elif kind == "missing_field":
                    line[rng.choice((1, 3, 4))] = ""
                lines.append(line)
        for _ in range(corrections if state.orders else 0):
            order_id = rng.randrange(1, state.orders + 1)
            customer, store = self.order_parties(order_id)
            row = [order_id, f"CUST-{customer:07d}",
                   f"S{store:04d}", self.order_timestamp(order_id), "cancelled",
                   COUNTRIES[store % len(COUNTRIES)][4], f"{self.date.isoformat()} 18:00:00"]
            if self.drift:
                row.append("")
            orders.append(row)
        state.orders += count
        self.write_csv("orders", header, orders)
        self.write_csv("order_lines", lines_header, lines)


def _save(folder: Path, state: State) -> None:
    (folder / STATE_FILE).write_text(json.dumps(asdict(state), indent=1, sort_keys=True) + "\n")


def load_state(folder: Path) -> State:
    path = folder / STATE_FILE
    if not path.exists():
        raise WarehouseError(
            f"{folder} holds no generated data ({STATE_FILE} missing). Run "
            f"`runner generate --out {folder}` first."
        )
    try:
        saved = json.loads(path.read_text())
    except ValueError as error:
        raise WarehouseError(
            f"{path} is not valid JSON ({error}), so no day can be added. Restore it from a "
            "copy, or generate a new folder (`runner generate --out NEW_FOLDER`)."
        ) from error
    known = {item.name for item in fields(State)}
    # A folder written by another version of the generator: its state lacks what a next
    # day needs (the id ranges) or has fields this version does not know.
    usable = (
        isinstance(saved, dict)
        and {"seed", "scale", "dirt"} <= set(saved) <= known
        and (not saved.get("batches") or (saved.get("order_ranges") and saved.get("customer_ranges")))
    )
    if not usable:
        raise WarehouseError(
            f"{path} was written by another version of `runner generate`, so this version "
            "cannot add days to it. Generate a new folder (`runner generate --out NEW_FOLDER`) "
            "and load it into a fresh database."
        )
    return State(**saved)


def month_ends(start: dt.date, months: int) -> list[tuple[dt.date, int]]:
    out, first = [], start
    for _ in range(months):
        following = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        out.append((following - dt.timedelta(days=1), (following - first).days))
        first = following
    return out


def generate(
    folder: Path,
    *,
    seed: int = 42,
    scale: float = 0.01,
    dirt: DirtRates | None = None,
    progress: Callable[[int], None] | None = None,
) -> State:
    """Write the two-year history as monthly batches into an empty ``folder``."""
    if scale <= 0:
        raise WarehouseError(f"--scale must be positive, got {scale}.")
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise WarehouseError(
            f"{folder} is not empty. Use `runner generate --next-day --out {folder}` to add "
            "a day, or choose an empty folder."
        )
    total = targets(scale)
    state = State(seed=seed, scale=scale, dirt=asdict(dirt or DirtRates()))
    months = month_ends(HISTORY_START, HISTORY_MONTHS)
    for index, (date, days) in enumerate(months):
        batch = Batch(folder, state, date, days)
        if index == 0:
            batch.write_stores(total["stores"])
        # Customers sign up steadily; a fifth exist before the first month's orders.
        new_customers = total["customers"] // 5 if index == 0 else (
            total["customers"] * 4 // 5 // (HISTORY_MONTHS - 1))
        batch.write_customers(new_customers, updates=state.customers // 100,
                              deletions=state.customers // 1000)
        new_products = total["products"] if index == 0 else 0
        batch.write_products(new_products, changes=state.products // 50)
        season = 1.0 + 0.25 * (date.month in (11, 12)) - 0.1 * (date.month in (1, 2))
        batch.write_orders(round(total["orders"] / HISTORY_MONTHS * season),
                           corrections=state.orders // 500)
        batch.close()
        state.batches.append(date.isoformat())
        if progress:
            progress(1)
    _save(folder, state)
    return state


def next_day(folder: Path) -> tuple[State, dt.date]:
    """Append the next day's batch: new orders, customer and product changes, a deletion."""
    state = load_state(folder)
    date = dt.date.fromisoformat(state.batches[-1]) + dt.timedelta(days=1)
    total = targets(state.scale)
    batch = Batch(folder, state, date, 1)
    batch.write_customers(max(1, total["customers"] // 730), updates=max(3, state.customers // 500),
                          deletions=1)
    batch.write_products(0, changes=max(2, state.products // 200))
    batch.write_orders(max(5, total["orders"] // 730), corrections=max(1, state.orders // 5000))
    batch.close()
    state.batches.append(date.isoformat())
    _save(folder, state)
    return state, date
