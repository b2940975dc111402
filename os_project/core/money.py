"""Money is integer cents inside the service and in messages; a decimal string in the API."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def to_cents(amount: Decimal | int | str) -> int:
    return int((Decimal(str(amount)) * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def cents_to_decimal(cents: int) -> str:
    """``12345`` -> ``"123.45"`` (the API's decimal string)."""
    return str((Decimal(cents) / 100).quantize(Decimal("0.01")))

