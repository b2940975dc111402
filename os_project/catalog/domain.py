"""Part lines as messages carry them, and what a reservation that could not be made was missing."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from oficina_common.errors import ValidationFailed


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


def parse_part_lines(raw: Any) -> list[PartLine]:
    """``[{"catalog_id": "7", "quantity": 2}, …]`` -> part lines, one per part (duplicates summed)."""
    if not isinstance(raw, list):
        raise ValidationFailed("parts must be a list of {catalog_id, quantity}.")
    totals: dict[int, int] = {}
    for n, line in enumerate(raw):
        if not isinstance(line, dict):
            raise ValidationFailed(f"parts[{n}] must be an object.")
        catalog_id, quantity = line.get("catalog_id"), line.get("quantity")
        if isinstance(catalog_id, bool) or not str(catalog_id).isdigit():
            raise ValidationFailed(f"parts[{n}].catalog_id must be a part id, got {catalog_id!r}.")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise ValidationFailed(f"parts[{n}].quantity must be a positive integer, got {quantity!r}.")
        totals[int(catalog_id)] = totals.get(int(catalog_id), 0) + quantity
    # Sorted by id: every path that locks part rows locks them in this order (no deadlocks).
    return [PartLine(part_id, quantity) for part_id, quantity in sorted(totals.items())]


def lines_to_message(lines: Iterable[PartLine]) -> list[dict[str, Any]]:
    return [line.to_message() for line in lines]
