"""The versioned message envelope every service speaks, its JSON schema and its routes.

A message type is ``<owner>.<Name>``. Commands go to the service that owns them; events go to
the orchestrator (the Execution service), the only one that reacts to other services' events.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from .timestamps import now_iso
from .tracing import current_traceparent

if TYPE_CHECKING:
    from .contracts import Contract

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


def _date_time(value: str) -> str:
    """An RFC 3339 date-time (``2026-05-01T12:00:00Z``, a fraction and an offset allowed)."""
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a 'date-time'") from None
    return value


_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_DATE_TIME = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"


class _EnvelopeModel(BaseModel):
    """ENVELOPE_SCHEMA as every process checks it at run time, compiled once (every message of every
    saga is checked); the schema stays what is published, and a test holds both to the same answers."""

    model_config = ConfigDict(extra="forbid")

    message_id: Annotated[StrictStr, Field(pattern=_UUID)]
    type: Literal[tuple(sorted(ROUTES))]  # type: ignore[valid-type]
    version: Annotated[StrictInt, Field(ge=1)]
    saga_id: Annotated[StrictStr, Field(min_length=1)]
    service_order_id: Annotated[StrictStr, Field(min_length=1)]
    occurred_at: Annotated[StrictStr, Field(pattern=_DATE_TIME), AfterValidator(_date_time)]
    payload: dict[str, Any]
    traceparent: Annotated[StrictStr, Field(pattern=ENVELOPE_SCHEMA["properties"]["traceparent"]["pattern"])] = ""


class InvalidMessage(ValueError):
    """A message that does not follow the envelope schema: it is never processed."""


def envelope_in(args: Any) -> dict[str, Any] | None:
    """The message envelope among a task's arguments (a consumer task takes it first), or None."""
    for value in args or ():
        if isinstance(value, dict) and "message_id" in value and "type" in value:
            return value
    return None


def envelope_type(args: Any) -> str:
    """The type the message envelope among a task's arguments names ("" when there is none)."""
    envelope = envelope_in(args)
    kind = envelope.get("type") if envelope else None
    return kind if isinstance(kind, str) else ""


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

    def __post_init__(self) -> None:
        payload: Any = self.payload
        if not isinstance(payload, dict) and hasattr(payload, "to_payload"):
            # Built from its contract: the payload is the model's JSON, and the model is the body.
            from .contracts import CONTRACTS

            if not isinstance(payload, CONTRACTS.get(self.type, ())):
                raise TypeError(f"{self.type} does not carry a {type(payload).__name__}")
            object.__setattr__(self, "payload", payload.to_payload())
            object.__setattr__(self, "_body", payload)

    @property
    def queue(self) -> str:
        return ROUTES[self.type]

    @property
    def is_command(self) -> bool:
        return self.type in COMMANDS

    @property
    def body(self) -> Contract:
        """The payload as its type's contract reads it (``contracts.CONTRACTS``), checked once;
        :class:`InvalidMessage` when it does not follow the contract (the same error every time)."""
        error = self.payload_error()
        if error is not None:
            raise error
        return self.__dict__["_body"]

    def payload_error(self) -> InvalidMessage | None:
        """Why the payload does not follow its type's contract, or None; checked on the first call."""
        body = self.__dict__.get("_body")
        if body is None:
            from .contracts import read

            try:
                body = read(self.type, self.payload)
            except InvalidMessage as exc:
                body = exc
            object.__setattr__(self, "_body", body)
        return body if isinstance(body, InvalidMessage) else None

    def to_dict(self) -> dict[str, Any]:
        data = {"type": self.type, "saga_id": self.saga_id, "service_order_id": self.service_order_id,
                "payload": _copy(self.payload), "message_id": self.message_id, "version": self.version,
                "occurred_at": self.occurred_at}
        if self.traceparent is not None:  # absent: the envelope of version 1 as it was before tracing
            data["traceparent"] = self.traceparent
        if not self.__dict__.get("_checked"):
            validate(data)
            object.__setattr__(self, "_checked", True)  # an envelope is written once: checked once
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Envelope:
        validate(data)
        # A message from before tracing has no context of its own: not the receiver's.
        envelope = cls(**{"traceparent": None, **data})
        object.__setattr__(envelope, "_checked", True)
        return envelope

    def reply(self, type: str, payload: dict[str, Any] | Contract | None = None) -> Envelope:
        """A message caused by this one: same saga, same order."""
        return Envelope(type=type, saga_id=self.saga_id, service_order_id=self.service_order_id,
                        payload=payload if payload is not None else {})  # type: ignore[arg-type]


def _copy(value: Any) -> Any:
    """A copy of a JSON document (dicts and lists copied, scalars shared): the caller's to change."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


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
    """Refuse (:class:`InvalidMessage`) what does not follow ENVELOPE_SCHEMA; the payload's own
    contract is checked by whoever reads it (``Envelope.body``)."""
    if not isinstance(data, dict):
        raise InvalidMessage(f"envelope: {data!r} is not of type 'object'")
    try:
        _EnvelopeModel.model_validate(data)
    except ValidationError as exc:
        raise InvalidMessage(_described(exc.errors(include_url=False)[0])) from None


_FORMATS = {"message_id": "uuid", "occurred_at": "date-time", "traceparent": "traceparent"}


def _described(error: Any) -> str:
    """The first error, worded as jsonschema words it (logs and tests read these)."""
    where = ".".join(str(p) for p in error["loc"]) or "envelope"
    if error["type"] == "extra_forbidden":
        return f"envelope: Additional properties are not allowed ({where!r} was unexpected)"
    if error["type"] == "missing":
        return f"envelope: {where!r} is a required property"
    if where == "type" and error["type"] == "literal_error":
        return f"type: {error['input']!r} is not a message type"
    if where in _FORMATS and error["type"] in ("string_pattern_mismatch", "value_error"):
        return f"{where}: {error['input']!r} is not a {_FORMATS[where]!r}"
    return f"{where}: {error['msg']}, got {error['input']!r}"


def handler_task_name(queue: str) -> str:
    """Each service's worker registers one consumer task per queue under this name."""
    return f"{queue}.handle_message"
