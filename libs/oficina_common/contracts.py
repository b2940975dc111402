"""What each message of the catalogue carries: one typed payload per message type.

The envelope (``messages.Envelope``) says who and when; the contract of its ``type`` says what the
payload holds. A consumer reads ``envelope.body`` (the payload validated once, as its contract's
model) instead of picking keys out of a dict; a producer builds the model and publishes its
:meth:`Contract.to_payload`.

The contracts accept every message the services publish today, messages of older releases
included (a missing ``job`` is job 1, a missing flag is false), and keep fields they do not
know (a newer sender's), so a receiver of an older release still reads what it knows. Free text
that receivers cut (a reason, a name) is cut to :data:`messages.TEXT_LIMIT` here, never refused.

``python -m oficina_common.contracts --markdown`` rewrites the generated section of
``docs/messages.md`` (the JSON schema of each payload); a test checks that it is up to date.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, WithJsonSchema
from pydantic.json_schema import models_json_schema

from .messages import COMMANDS, EVENTS, ROUTES, TEXT_LIMIT, InvalidMessage, clip


def _none_is(default: Any) -> BeforeValidator:
    """Older senders write ``null`` (or leave out) what means the default."""
    return BeforeValidator(lambda value: default if value is None else value)


def _clipped(value: Any) -> Any:
    return clip(value) if isinstance(value, str) else ("" if value is None else value)


# Ids are strings; a number (an older sender's catalog id) is read as its digits (the contracts'
# ``coerce_numbers_to_str``).
Id = Annotated[str, Field(min_length=1)]
OptionalId = Annotated[str | None, BeforeValidator(lambda v: None if v == "" else v)]
# A catalogue part's id: its digits (the OS's primary key).
PartId = Annotated[str, Field(pattern=r"^[0-9]+$")]
# A catalog item (service or part) as reported by a mechanic: a positive number.
CatalogNumber = Annotated[str, Field(pattern=r"^[0-9]*[1-9][0-9]*$")]
Text = Annotated[str, _none_is("")]
# Cosmetic text a receiver keeps cut to TEXT_LIMIT: cut here too, never a reason to refuse a message.
ClippedText = Annotated[str, BeforeValidator(_clipped), WithJsonSchema({"type": "string", "maxLength": TEXT_LIMIT})]
Cents = Annotated[int, Field(ge=0)]
# A whole number, never a string or a flag (the OS refuses those).
Quantity = Annotated[int, Field(strict=True, ge=1)]
Job = Annotated[int, Field(ge=1), _none_is(1)]
Flag = Annotated[bool, _none_is(False)]


class Contract(BaseModel):
    """A message's payload. Unknown fields are kept (a newer sender's); known ones are checked."""

    model_config = ConfigDict(extra="allow", frozen=True, coerce_numbers_to_str=True)

    def to_payload(self) -> dict[str, Any]:
        """The payload as JSON carries it: the fields the producer set (and those newer senders added)."""
        return self.model_dump(mode="json", exclude_unset=True)


# --- lines ---------------------------------------------------------------------------------------
class ItemLine(Contract):
    """A line of a diagnosis, a budget or a revision (the OS's ``ItemLine.to_message``); in Billing's
    messages also its ``line_id`` and, once decided, its ``status``."""

    kind: Literal["service", "part"]
    catalog_id: Id
    description: Text = ""
    quantity: Quantity
    unit_price_cents: Annotated[int, Field(ge=0), _none_is(0)] = 0
    # The job the line belongs to (a service and its parts, decided together); older messages: one job.
    job: Job = 1
    # A part the customer may decline alone while keeping its job; never a service.
    optional: Flag = False
    line_id: Annotated[int | None, Field(ge=1)] = None
    status: Literal["PENDING", "APPROVED", "DECLINED"] | None = None

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


MAX_QUANTITY = 10_000
MAX_JOB = 50
MAX_REPORTED_ITEMS = 50


class ReportedLine(Contract):
    """A line the mechanic reported (and the OS is asked to price): the catalog item, how many and
    its job; never a name or a price (the OS catalogue gives them)."""

    kind: Literal["service", "part"]
    catalog_id: CatalogNumber
    quantity: Annotated[int, Field(strict=True, ge=1, le=MAX_QUANTITY)]
    job: Annotated[int, Field(ge=1, le=MAX_JOB), _none_is(1)] = 1


class PartLine(Contract):
    """A part the OS is asked to reserve, release or consume."""

    catalog_id: PartId
    quantity: Quantity


class MovedPart(Contract):
    """A part the OS reports it reserved, released or consumed."""

    catalog_id: Id
    quantity: Annotated[int, Field(ge=0)]


class Shortage(Contract):
    catalog_id: Id
    requested: int | None = None
    available: int | None = None


Items = list[ItemLine]
Parts = list[PartLine]


# --- the OS's events ----------------------------------------------------------------------------
class Vehicle(Contract):
    plate: Text = ""
    model: Text = ""


class DiagnosisCompleted(Contract):
    order_number: Text = ""
    customer_id: Id
    customer_name: Text = ""
    customer_email: Text = ""
    vehicle: Vehicle = Vehicle()
    priority: Annotated[int, Field(ge=1, le=5), _none_is(3)] = 3
    items: Items
    notes: Text = ""
    tracking_url: Text = ""


class OrderCancelled(Contract):
    reason: Text = ""
    cancelled_by: Text = ""


class PartsMoved(Contract):
    """What the OS reserved, released or consumed."""

    parts: list[MovedPart] = []


class PartsReservationFailed(Contract):
    parts: list[Any] = []  # the request as it came (a malformed one included)
    missing: list[Shortage] = []
    reason: Text = ""


class ItemsPriced(Contract):
    items: Items


class ItemsPricingFailed(Contract):
    items: list[Any] = []  # the request as it came (a malformed one included)
    reason: Text = ""


# --- the OS's commands --------------------------------------------------------------------------
ReportedLines = Annotated[list[ReportedLine], Field(max_length=MAX_REPORTED_ITEMS)]


class PartsCommand(Contract):
    """Reserve, release or consume these parts for the order."""

    parts: Parts = []


class PriceItems(Contract):
    """Price what the mechanic reported from today's catalogue."""

    items: Annotated[ReportedLines, Field(min_length=1)]


class ChangeStatus(Contract):
    to: str
    # Kept whole: the history's reason is unbounded text, never a reason to refuse the move.
    reason: Text = ""
    summary: dict[str, Any] | None = None


# --- Billing's commands ---------------------------------------------------------------------------
class CreateBudget(Contract):
    customer_id: Id
    customer_name: ClippedText = ""
    customer_email: Text = ""
    order_number: Text = ""
    tracking_url: Text = ""
    items: Items


class ReviseBudget(Contract):
    budget_id: Id
    items: Items  # the additional items only
    reason: ClippedText = ""


class CancelBudget(Contract):
    budget_id: OptionalId = None  # left out: the saga's own budget (a blind cancellation)
    reason: ClippedText = ""


class RequestPayment(Contract):
    budget_id: Id
    version: Annotated[int, Field(ge=1)]
    amount_cents: Cents
    method: Literal["pix", "checkout"]
    payer_email: Text = ""
    description: Text = ""


class UndoPayment(Contract):
    """Cancel or refund a payment: by its id, or (never heard of) by the budget version it pays."""

    payment_id: OptionalId = None
    budget_id: OptionalId = None
    version: Annotated[int, Field(ge=1)] | None = None
    reason: ClippedText = ""


# --- Billing's events -----------------------------------------------------------------------------
class BudgetCreated(Contract):
    budget_id: Id
    version: Annotated[int, Field(ge=1)]
    total_cents: Cents
    expires_at: str | None = None
    revision: Flag = False
    additional_total_cents: Cents | None = None
    items: Items | None = None  # a revision: what it added to the version before it
    lines: Items | None = None  # a revision: the whole version
    origin: Literal["saga", "staff"] | None = None
    reason: ClippedText = ""  # why staff revised it, when Billing tells


class BudgetApproved(Contract):
    budget_id: Id
    version: Annotated[int, Field(ge=1)]
    total_cents: Cents | None = None  # what the customer agreed to pay in all
    decided_by: Text = ""
    lines: Items | None = None  # left out: the whole version approved (older messages)
    declined_total_cents: Cents | None = None
    additional_total_cents: Cents | None = None
    # The customer's payment page for this version (Billing's, signed): where the tracking page and
    # the OS's AWAITING_PAYMENT e-mail send her to pay. Empty in older messages.
    payment_url: Text = ""


class BudgetClosed(Contract):
    """Rejected by the customer, or expired before a decision."""

    budget_id: Id
    version: Annotated[int, Field(ge=1)]
    total_cents: Cents | None = None
    reason: Text = ""
    decided_by: Text = ""


class BudgetCancelled(Contract):
    budget_id: Id
    version: Annotated[int, Field(ge=0), _none_is(0)] = 0
    status: Text = ""


class PaymentNews(Contract):
    """What became of a payment (requested, approved, failed, cancelled or refunded)."""

    payment_id: Id
    budget_id: OptionalId = None
    mercadopago_payment_id: OptionalId = None
    status: Text = ""
    amount_cents: Cents | None = None
    qr_code: str | None = None
    init_point: str | None = None
    reason: Text = ""
    # PaymentRefunded of a second payment for a payment already paid (the extra one went back).
    duplicate: Flag = False


# --- the Execution service's events --------------------------------------------------------------
class WorkCompleted(Contract):
    queue_id: Id
    notes: Text = ""


class WorkFailed(Contract):
    queue_id: Id
    reason: Text = ""


class AdditionalRepairReported(Contract):
    queue_id: Id
    items: ReportedLines = []
    notes: Text = ""


CONTRACTS: dict[str, type[Contract]] = {
    "billing.CreateBudget": CreateBudget,
    "billing.ReviseBudget": ReviseBudget,
    "billing.CancelBudget": CancelBudget,
    "billing.RequestPayment": RequestPayment,
    "billing.CancelPayment": UndoPayment,
    "billing.RefundPayment": UndoPayment,
    "os.ReserveParts": PartsCommand,
    "os.ReleaseParts": PartsCommand,
    "os.ConsumeParts": PartsCommand,
    "os.ChangeStatus": ChangeStatus,
    "os.PriceItems": PriceItems,
    "os.DiagnosisCompleted": DiagnosisCompleted,
    "os.OrderCancelled": OrderCancelled,
    "os.PartsReserved": PartsMoved,
    "os.PartsReservationFailed": PartsReservationFailed,
    "os.PartsReleased": PartsMoved,
    "os.PartsConsumed": PartsMoved,
    "os.ItemsPriced": ItemsPriced,
    "os.ItemsPricingFailed": ItemsPricingFailed,
    "billing.BudgetCreated": BudgetCreated,
    "billing.BudgetApproved": BudgetApproved,
    "billing.BudgetRejected": BudgetClosed,
    "billing.BudgetExpired": BudgetClosed,
    "billing.BudgetCancelled": BudgetCancelled,
    "billing.PaymentRequested": PaymentNews,
    "billing.PaymentApproved": PaymentNews,
    "billing.PaymentFailed": PaymentNews,
    "billing.PaymentCancelled": PaymentNews,
    "billing.PaymentRefunded": PaymentNews,
    "execution.WorkCompleted": WorkCompleted,
    "execution.WorkFailed": WorkFailed,
    "execution.AdditionalRepairReported": AdditionalRepairReported,
}
assert CONTRACTS.keys() == ROUTES.keys(), "every message type has a contract"


def read(message_type: str, payload: Any) -> Contract:
    """``payload`` as the contract of ``message_type`` reads it; :class:`InvalidMessage` saying
    the first field that does not follow it."""
    try:
        return CONTRACTS[message_type].model_validate(payload)
    except ValidationError as exc:
        raise InvalidMessage(f"{message_type}: {describe(exc)}") from None


def describe(exc: ValidationError) -> str:
    """The first error as a person reads it: ``parts[0].quantity must be a positive integer, got -1``."""
    error = exc.errors(include_url=False)[0]
    where = ""
    for part in error["loc"]:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    where = where or "payload"
    if error["type"] == "missing":
        return f"{where} is required"
    if error["type"] == "list_type":
        return f"{where} must be a list, got {error['input']!r}"
    if error["type"] == "int_type" or error["type"] == "greater_than_equal" and error["ctx"]["ge"] == 1:
        return f"{where} must be a positive integer, got {error['input']!r}"
    return f"{where}: {error['msg']}, got {error['input']!r}"


# --- the generated section of docs/messages.md -----------------------------------------------------
DOC = Path(__file__).resolve().parents[2] / "docs" / "messages.md"
BEGIN = "<!-- contracts:begin (generated by `python -m oficina_common.contracts --markdown`; do not edit) -->"
END = "<!-- contracts:end -->"


def schemas() -> dict[str, Any]:
    """The JSON schema of every payload model, under ``$defs`` (the item line defined once)."""
    models = sorted(set(CONTRACTS.values()), key=lambda model: model.__name__)
    _, schema = models_json_schema([(model, "validation") for model in models], title="Oficina message payloads")
    return _untitled(schema)


def _untitled(schema: Any, *, names: bool = False) -> Any:
    """The schema without pydantic's generated titles (each a field's name again); ``names``: the
    keys are field names (``properties``), kept whatever they are."""
    if isinstance(schema, dict):
        return {key: _untitled(value, names=key in ("properties", "$defs") and not names)
                for key, value in schema.items() if names or key != "title"}
    if isinstance(schema, list):
        return [_untitled(item) for item in schema]
    return schema


def markdown() -> str:
    """The generated section of the doc: which contract each type follows, and their JSON schemas."""
    rows = [f"| `{message_type}` | {'command' if message_type in COMMANDS else 'event'} | "
            f"`{CONTRACTS[message_type].__name__}` |" for message_type in [*COMMANDS, *EVENTS]]
    return "\n".join([
        BEGIN, "", "### Payload contracts", "",
        "Generated from `libs/oficina_common/contracts.py` (each consumer reads the payload as its model: "
        "`envelope.body`). Fields not listed are kept and ignored (a newer sender's).", "",
        "| type | | contract |", "|---|---|---|", *rows, "", "```json",
        json.dumps(schemas(), indent=2, ensure_ascii=False), "```", END])


def document(text: str) -> str:
    """``text`` (the doc) with its generated section replaced by today's (appended when missing)."""
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        return before + markdown() + after
    return text.rstrip("\n") + "\n\n" + markdown() + "\n"


def main(argv: list[str]) -> int:
    if argv != ["--markdown"]:
        print("usage: python -m oficina_common.contracts --markdown", file=sys.stderr)
        return 2
    DOC.write_text(document(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
