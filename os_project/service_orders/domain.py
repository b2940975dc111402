"""The service order's status machine — the one place that says which moves are allowed."""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from oficina_common.errors import InvalidTransition


class Status(StrEnum):
    RECEIVED = "RECEIVED"
    IN_DIAGNOSIS = "IN_DIAGNOSIS"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    IN_EXECUTION = "IN_EXECUTION"
    FINISHED = "FINISHED"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"


LABELS: dict[Status, str] = {
    Status.RECEIVED: "Recebida",
    Status.IN_DIAGNOSIS: "Em diagnóstico",
    Status.AWAITING_APPROVAL: "Aguardando aprovação",
    Status.AWAITING_PAYMENT: "Aguardando pagamento",
    Status.IN_EXECUTION: "Em execução",
    Status.FINISHED: "Finalizada",
    Status.DELIVERED: "Entregue",
    Status.CANCELLED: "Cancelada",
}
STATUS_CHOICES: list[tuple[str, str]] = [(status.value, LABELS[status]) for status in Status]

_FORWARD: dict[Status, Status] = {
    Status.RECEIVED: Status.IN_DIAGNOSIS,
    Status.IN_DIAGNOSIS: Status.AWAITING_APPROVAL,
    Status.AWAITING_APPROVAL: Status.AWAITING_PAYMENT,
    Status.AWAITING_PAYMENT: Status.IN_EXECUTION,
    Status.IN_EXECUTION: Status.FINISHED,
    Status.FINISHED: Status.DELIVERED,
}
# Cancelling is possible from any status before FINISHED.
CANCELLABLE: frozenset[Status] = frozenset(
    {Status.RECEIVED, Status.IN_DIAGNOSIS, Status.AWAITING_APPROVAL, Status.AWAITING_PAYMENT, Status.IN_EXECUTION}
)
ALLOWED_TRANSITIONS: dict[Status, frozenset[Status]] = {
    status: frozenset(
        ({_FORWARD[status]} if status in _FORWARD else set()) | ({Status.CANCELLED} if status in CANCELLABLE else set())
    )
    for status in Status
}

# The list of active orders: what needs hands first comes first.
ACTIVE_ORDER: tuple[Status, ...] = (
    Status.IN_EXECUTION,
    Status.AWAITING_PAYMENT,
    Status.AWAITING_APPROVAL,
    Status.IN_DIAGNOSIS,
    Status.RECEIVED,
)
CLOSED: frozenset[Status] = frozenset({Status.FINISHED, Status.DELIVERED, Status.CANCELLED})

SUMMARY_SECTIONS = ("budget", "payment", "execution")

PRIORITY_MIN, PRIORITY_MAX, PRIORITY_DEFAULT = 1, 5, 3


def can_transition(current: str, target: str) -> bool:
    try:
        return Status(target) in ALLOWED_TRANSITIONS[Status(current)]
    except ValueError:
        return False


def ensure_transition(current: str, target: str) -> Status:
    """The target status, if the move is allowed; otherwise InvalidTransition naming both."""
    if not can_transition(current, target):
        raise InvalidTransition(
            f"A service order cannot go from {current} to {target}.",
            extra={"from": str(current), "to": str(target)},
        )
    return Status(target)


def merge_summary(current: dict[str, Any], update: Any) -> dict[str, Any]:
    """Fold a saga summary ``{budget?, payment?, execution?}`` into what the order shows."""
    merged = {section: dict(current.get(section) or {}) for section in SUMMARY_SECTIONS}
    if isinstance(update, dict):
        for section in SUMMARY_SECTIONS:
            value = update.get(section)
            if isinstance(value, dict):
                merged[section].update(value)
    return merged


class ItemKind(StrEnum):
    SERVICE = "service"
    PART = "part"


@dataclass(frozen=True)
class ItemLine:
    """An order item with its catalogue name and price snapshotted."""

    kind: ItemKind
    catalog_id: int
    description: str
    quantity: int
    unit_price_cents: int

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents

    def to_message(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "catalog_id": str(self.catalog_id),
            "description": self.description,
            "quantity": self.quantity,
            "unit_price_cents": self.unit_price_cents,
        }


@dataclass(frozen=True)
class Totals:
    services_cents: int
    parts_cents: int

    @property
    def total_cents(self) -> int:
        return self.services_cents + self.parts_cents


def totals_of(items: Iterable[Any]) -> Totals:
    """Works on anything with ``kind``, ``quantity`` and ``unit_price_cents`` (domain lines or rows)."""
    services = parts = 0
    for item in items:
        amount = item.quantity * item.unit_price_cents
        if item.kind == ItemKind.SERVICE:
            services += amount
        else:
            parts += amount
    return Totals(services_cents=services, parts_cents=parts)


# secrets.token_urlsafe's alphabet.
_TRACKING_CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def is_tracking_code(value: str) -> bool:
    return bool(_TRACKING_CODE.match(value or ""))


def format_number(sequence_value: int) -> str:
    return f"OS-{sequence_value:06d}"
