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

import datetime as dt
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Callable

from runner.core.generate.dirt import DirtRates
from runner.core.generate.entities import HISTORY_MONTHS, HISTORY_START, Batch, State, targets
from runner.core.generate.writers import STATE_FILE, BatchFiles, load_state, save_state
from runner.errors import WarehouseError

__all__ = ["DirtRates", "HISTORY_MONTHS", "STATE_FILE", "State", "generate", "load_state", "next_day"]


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
        batch = Batch(state, date, days, partial(BatchFiles, folder))
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
        batch.dirt.close()
        state.batches.append(date.isoformat())
        if progress:
            progress(1)
    save_state(folder, state)
    return state


def next_day(folder: Path) -> tuple[State, dt.date]:
    """Append the next day's batch: new orders, customer and product changes, a deletion."""
    state = load_state(folder)
    date = dt.date.fromisoformat(state.batches[-1]) + dt.timedelta(days=1)
    total = targets(state.scale)
    batch = Batch(state, date, 1, partial(BatchFiles, folder))
    batch.write_customers(max(1, total["customers"] // 730), updates=max(3, state.customers // 500),
                          deletions=1)
    batch.write_products(0, changes=max(2, state.products // 200))
    batch.write_orders(max(5, total["orders"] // 730), corrections=max(1, state.orders // 5000))
    batch.dirt.close()
    state.batches.append(date.isoformat())
    save_state(folder, state)
    return state, date
