"""The versioned message envelope every service speaks, its JSON schema and its routes.

A message type is ``<owner>.<Name>``. Commands go to the service that owns them; events go to
the orchestrator (the Execution service), the only one that reacts to other services' events.
"""
from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import jsonschema

from .timestamps import now_iso
from .tracing import current_traceparent

ENVELOPE_VERSION = 1

QUEUE_OS = "os"
QUEUE_BILLING = "billing"
QUEUE_EXECUTION = "execution"

COMMANDS: dict[str, str] = {
    "billing.CreateBudget": QUEUE_BILLING,
    "billing.ReviseBudget": QUEUE_BILLING,
    "billing.CancelBudget": QUEUE_BILLING,
    "billing.RequestPayment": QUEUE_BILLING,
    "billing.CancelPayment": QUEUE_BILLING,
    "billing.RefundPayment": QUEUE_BILLING,
    "os.ReserveParts": QUEUE_OS,
    "os.ReleaseParts": QUEUE_OS,
    "os.ConsumeParts": QUEUE_OS,
    "os.ChangeStatus": QUEUE_OS,
    "os.PriceItems": QUEUE_OS,
}

EVENTS: dict[str, str] = {
    "os.DiagnosisCompleted": QUEUE_EXECUTION,
    "os.OrderCancelled": QUEUE_EXECUTION,
    "os.PartsReserved": QUEUE_EXECUTION,
    "os.PartsReservationFailed": QUEUE_EXECUTION,
    "os.PartsReleased": QUEUE_EXECUTION,
    "os.PartsConsumed": QUEUE_EXECUTION,
    "os.ItemsPriced": QUEUE_EXECUTION,
    "os.ItemsPricingFailed": QUEUE_EXECUTION,
    "billing.BudgetCreated": QUEUE_EXECUTION,
    "billing.BudgetApproved": QUEUE_EXECUTION,
    "billing.BudgetRejected": QUEUE_EXECUTION,
    "billing.BudgetExpired": QUEUE_EXECUTION,
    "billing.BudgetCancelled": QUEUE_EXECUTION,
    "billing.PaymentRequested": QUEUE_EXECUTION,
    "billing.PaymentApproved": QUEUE_EXECUTION,
    "billing.PaymentFailed": QUEUE_EXECUTION,
    "billing.PaymentCancelled": QUEUE_EXECUTION,
    "billing.PaymentRefunded": QUEUE_EXECUTION,
    "execution.WorkCompleted": QUEUE_EXECUTION,
    "execution.WorkFailed": QUEUE_EXECUTION,
    "execution.AdditionalRepairReported": QUEUE_EXECUTION,
}

ROUTES: dict[str, str] = {**COMMANDS, **EVENTS}

ENVELOPE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Oficina message envelope",
    "type": "object",
    "additionalProperties": False,
    "required": ["message_id", "type", "version", "saga_id", "service_order_id", "occurred_at", "payload"],
    "properties": {
        "message_id": {"type": "string", "format": "uuid", "minLength": 1},
        "type": {"type": "string", "enum": sorted(ROUTES)},
        "version": {"type": "integer", "minimum": 1},
        "saga_id": {"type": "string", "minLength": 1},
        "service_order_id": {"type": "string", "minLength": 1},
        "occurred_at": {"type": "string", "format": "date-time"},
        "payload": {"type": "object"},
        # Optional, added within version 1: the W3C trace context of the span that built the
        # message (docs/tracing.md). Absent when tracing is off; a consumer never needs it.
        "traceparent": {"type": "string", "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"},
    },
}

_validator = jsonschema.Draft202012Validator(ENVELOPE_SCHEMA, format_checker=jsonschema.FormatChecker())


class InvalidMessage(ValueError):
    """A message that does not follow the envelope schema: it is never processed."""


def envelope_in(args: Any) -> dict[str, Any] | None:
    """The message envelope among a task's arguments (a consumer task takes it first), or None."""
    for value in args or ():
        if isinstance(value, dict) and "message_id" in value and "type" in value:
            return value
    return None


@dataclass(frozen=True)
class Envelope:
    type: str
    saga_id: str
    service_order_id: str
    payload: dict[str, Any] = field(default_factory=dict)
    message_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    version: int = ENVELOPE_VERSION
    occurred_at: str = field(default_factory=now_iso)
    # The trace this message continues, taken from the span it is built in; None: tracing is off.
    traceparent: str | None = field(default_factory=current_traceparent)

    @property
    def queue(self) -> str:
        return ROUTES[self.type]

    @property
    def is_command(self) -> bool:
        return self.type in COMMANDS

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if data["traceparent"] is None:
            del data["traceparent"]  # the envelope of version 1 as it was before tracing
        validate(data)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Envelope:
        validate(data)
        # A message from before tracing has no context of its own: not the receiver's.
        return cls(**{"traceparent": None, **data})

    def reply(self, type: str, payload: dict[str, Any] | None = None) -> Envelope:
        """A message caused by this one: same saga, same order."""
        return Envelope(type=type, saga_id=self.saga_id, service_order_id=self.service_order_id,
                        payload=payload or {})


# The longest free text (a reason, a note) a message carries: every receiver stores at least this
# much. A sender cuts longer text to it; a receiver of a compensation cuts rather than refuses, so
# that a cosmetic field never stops money or stock from being given back.
TEXT_LIMIT = 500
_ELLIPSIS = "…"


def clip(text: str | None, limit: int = TEXT_LIMIT) -> str:
    """``text`` cut to at most ``limit`` characters, an ellipsis marking the cut."""
    text = (text or "").strip()
    if len(text) <= limit:
        return text
    return text[: limit - len(_ELLIPSIS)].rstrip() + _ELLIPSIS


def validate(data: Any) -> None:
    errors = sorted(_validator.iter_errors(data), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.path) or "envelope"
        raise InvalidMessage(f"{where}: {first.message}")


def handler_task_name(queue: str) -> str:
    """Each service's worker registers one consumer task per queue under this name."""
    return f"{queue}.handle_message"
