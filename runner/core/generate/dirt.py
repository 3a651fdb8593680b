"""Dirt: which records get which kind of damage, at the rates asked for, counted in the
state so tests can check each kind is present at its rate."""

from __future__ import annotations

import random
from dataclasses import dataclass, fields

from runner.errors import WarehouseError


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


class Dirt:
    """One batch's dirt: draws from the batch's ``rng`` and counts what it did and what it
    was offered (the denominators of the rates) in ``counts`` and ``offered``."""

    def __init__(self, rng: random.Random, rates: DirtRates, counts: dict, offered: dict):
        self.rng, self.rates, self.counts, self.offered = rng, rates, counts, offered
        self.plans: dict[tuple[str, ...], list] = {}  # kinds -> [total rate, steps, offers]

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
                self.counts[kind] = self.counts.get(kind, 0) + 1
                return kind
        return None

    def dirty(self, kind: str) -> bool:
        return self.pick((kind,)) is not None

    def close(self) -> None:
        """Add this batch's offers to the eligible counts."""
        for kinds, (_, _, count) in self.plans.items():
            for kind in kinds:
                self.offered[kind] = self.offered.get(kind, 0) + count

    def messy(self, text: str) -> str:
        """Stray whitespace or odd capitals, which silver cleans."""
        if not text or not self.dirty("messy_text"):
            return text
        shape = self.rng.randrange(3)
        if shape == 0:
            return f"  {text} "
        if shape == 1:
            return text.upper()
        return "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(text))

    def bad_date(self, value: str) -> str:
        """Sometimes a date from the future, the past century or no calendar at all."""
        if not self.dirty("bad_date"):
            return value
        return self.rng.choice(
            ["2031-07-04 10:00:00", "1999-12-31 23:59:59", "31/02/2024", "not a date"]
        )
