"""The company's entities and how each batch changes them: customers sign up, change and
leave (CRM), products are added and repriced, stores open, orders and their lines are
placed and sometimes cancelled later (ERP). Every draw comes from the batch's ``rng``,
seeded by (seed, batch date), so a folder is the same every time it is generated."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from runner.core.generate.dirt import Dirt, DirtRates

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
    """One batch: its days, its random draws, its dirt and its files (``files`` writes
    them: runner/core/generate/writers.py)."""

    def __init__(self, state: State, date: dt.date, period_days: int, files_for):
        self.state = state
        self.date = date
        self.period_start = date - dt.timedelta(days=period_days - 1)
        self.period_days = period_days
        self.rng = random.Random(f"{state.seed}:{date.isoformat()}")
        self.dirt = Dirt(self.rng, DirtRates(**state.dirt), state.dirt_counts, state.eligible_counts)
        self.files = files_for(date, self.dirt)
        self.drift = date >= DRIFT_FROM
        self.days = [(self.period_start + dt.timedelta(days=d)).isoformat()
                     for d in range(period_days)]

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
        if self.dirt.dirty("bad_email"):
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
        if self.dirt.dirty("bad_phone"):
            phone = rng.choice(("12345", "n/a", "+00 000", "phone me", "0" * 20))
        record = {
            "customer_id": f"CUST-{number:07d}",
            "first_name": self.dirt.messy(first),
            "last_name": self.dirt.messy(last),
            "email": email,
            "phone": phone,
            "address": {
                "line1": f"{rng.randrange(1, 300)} {rng.choice(LAST_NAMES)} Street",
                "city": self.dirt.messy(rng.choice(cities)),
                "postal_code": f"{rng.randrange(10000, 99999)}",
                "country": self.dirt.messy(rng.choice(spellings)),
            },
            "segment": self.dirt.messy(rng.choice(SEGMENTS)),
            "created_at": created_at if version else self.dirt.bad_date(created_at),
            "updated_at": self.timestamp() if version else created_at,
        }
        if self.dirt.dirty("missing_field"):
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
        self.files.jsonl("customers", records)

    def product_row(self, number: int) -> list:
        state = self.state
        category = state.categories[str(number)]
        subcategory = CATEGORIES[category][number % len(CATEGORIES[category])]
        brand = BRANDS[number % len(BRANDS)]
        name = f"{brand} {subcategory} {100 + number % 900}g"
        price = state.prices[str(number)]
        if self.dirt.dirty("bad_price"):
            price = self.rng.choice((0, -price))
        row = [f"P{number:05d}", f"SKU-{number:06d}", self.dirt.messy(name), category,
               subcategory, brand, f"{price:.2f}", "GBP", self.timestamp()]
        if self.dirt.dirty("missing_field"):
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
        self.files.csv("products", PRODUCT_COLUMNS, [self.product_row(n) for n in changed])

    def write_stores(self, total: int) -> None:
        rows = []
        for number in range(1, total + 1):
            iso, spellings, _, cities, _ = COUNTRIES[number % len(COUNTRIES)]
            online = number % 10 == 0
            city = cities[number % len(cities)]
            rows.append([
                f"S{number:04d}",
                f"{'Online ' + iso if online else city + ' ' + str(number)}",
                "online" if online else self.dirt.messy("store"),
                "" if online else city,
                spellings[0],
                (FOUNDED + dt.timedelta(days=37 * number)).isoformat(),
            ])
        self.state.stores = total
        self.files.csv("stores", STORE_COLUMNS, rows)

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
            row = [order_id, f"CUST-{customer:07d}", f"S{store:04d}", self.dirt.bad_date(ts),
                   STATUSES[int(rand() * len(STATUSES))], self.dirt.messy(currency), ts]
            if self.dirt.dirty("missing_field"):
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
                kind = self.dirt.pick(line_dirt)
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
        self.files.csv("orders", header, orders)
        self.files.csv("order_lines", lines_header, lines)
