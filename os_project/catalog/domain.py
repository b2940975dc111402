"""Part lines as messages carry them, and what a reservation that could not be made was missing."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from oficina_common import contracts


@dataclass(frozen=True)
class PartLine:
    part_id: int
    quantity: int

    def to_message(self) -> dict[str, Any]:
        return {"catalog_id": str(self.part_id), "quantity": self.quantity}


@dataclass(frozen=True)
class Shortage:
    part_id: int
    requested: int
    available: int

    def to_message(self) -> dict[str, Any]:
        return {"catalog_id": str(self.part_id), "requested": self.requested, "available": self.available}


@dataclass(frozen=True)
class StockOutcome:
    """What a reserve / release / consume did: the lines it moved, or why it moved nothing."""

    parts: list[PartLine] = field(default_factory=list)
    missing: list[Shortage] = field(default_factory=list)
    reason: str = ""

    @property
    def ok(self) -> bool:
        return not self.missing and not self.reason


def part_lines(parts: Iterable[contracts.PartLine]) -> list[PartLine]:
    """The parts a command names, one line per part (duplicates summed), sorted by id: every path
    that locks part rows locks them in this order (no deadlocks)."""
    totals: Counter[int] = Counter()
    for line in parts:
        totals[int(line.catalog_id)] += line.quantity
    return [PartLine(part_id, quantity) for part_id, quantity in sorted(totals.items())]


def lines_to_message(lines: Iterable[PartLine]) -> list[dict[str, Any]]:
    return [line.to_message() for line in lines]
