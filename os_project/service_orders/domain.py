"""The service order's status machine — the one place that says which moves are allowed."""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from oficina_common.errors import ApplicationError, InvalidTransition


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


# The forward moves the saga makes (starting the diagnosis and delivering the vehicle are people's).
SAGA_MOVES: frozenset[Status] = frozenset(
    {Status.AWAITING_APPROVAL, Status.AWAITING_PAYMENT, Status.IN_EXECUTION, Status.FINISHED})


def saga_moves_to(current: str, target: str) -> list[Status]:
    """The statuses the saga takes the order through to reach ``target``: one allowed move, or,
    for a status further along the path, each of the saga's moves between, in order (the saga's
    word for them was lost on the way, or overtaken by this one). InvalidTransition when it
    cannot get there."""
    path: list[Status] = []
    status = current
    while status in _FORWARD and _FORWARD[Status(status)] in SAGA_MOVES:
        status = _FORWARD[Status(status)]
        path.append(status)
        if status == target:
            return path
    return [ensure_transition(current, target)]  # a cancellation, or not allowed (raises, naming both)


def merge_summary(current: dict[str, Any], update: Any) -> dict[str, Any]:
    """Fold a saga summary ``{budget?, payment?, execution?}`` into what the order shows.

    Summaries can arrive late and out of order (the outbox relays at least once): a budget section
    older than the one shown (a lower version of the same budget, or the same version still waiting
    once its decision is known) is left out, so the order never goes back to an older budget.
    """
    merged = {section: dict(current.get(section) or {}) for section in SUMMARY_SECTIONS}
    if isinstance(update, dict):
        for section in SUMMARY_SECTIONS:
            value = update.get(section)
            if isinstance(value, dict):
                if section == "budget" and is_older_budget(value, merged["budget"]):
                    continue
                merged[section].update(value)
    return merged


def _version(budget: dict[str, Any]) -> int | None:
    version = budget.get("version")
    return version if isinstance(version, int) and not isinstance(version, bool) else None


def is_older_budget(incoming: dict[str, Any], shown: dict[str, Any]) -> bool:
    if not shown or incoming.get("budget_id") != shown.get("budget_id"):
        return False
    new, old = _version(incoming), _version(shown)
    if new is None or old is None:
        return False
    if new != old:
        return new < old
    return shown.get("status") in BUDGET_DECIDED and incoming.get("status") == "PENDING_APPROVAL"


# What the saga summary's budget and payment statuses mean to a customer (Billing's and the saga's words).
BUDGET_LABELS: dict[str, str] = {
    "PENDING_APPROVAL": "Aguardando sua aprovação",
    "APPROVED": "Aprovado",
    "REJECTED": "Recusado",
    "SUPERSEDED": "Substituído por uma nova versão",
    "EXPIRED": "Expirado",
    "CANCELLED": "Cancelado",
}
PAYMENT_LABELS: dict[str, str] = {
    # REQUESTED: the customer can already go to Billing's payment page, which says while the Pix is being made.
    "REQUESTED": "Aguardando pagamento",
    "PENDING": "Aguardando pagamento",
    "APPROVED": "Pago",
    "REJECTED": "Não aprovado",
    "FAILED": "Não aprovado",
    "CANCELLED": "Cancelado",
    "REFUNDED": "Estornado",
}
BUDGET_DECIDED = frozenset({"APPROVED", "REJECTED", "EXPIRED", "CANCELLED"})
_PAYMENT_REFUSED = frozenset({"REJECTED", "FAILED"})
# A payment the customer can still make, in an order that can still be paid.
PAYMENT_OPEN = frozenset({"REQUESTED", "PENDING"})
PAYABLE_STATUSES = frozenset({Status.AWAITING_PAYMENT, Status.IN_EXECUTION})


def web_link(value: Any) -> str:
    """``value`` when it is an absolute http(s) URL, otherwise "".

    The links we show customers (Billing's payment page, Mercado Pago's checkout) come in messages:
    anything else (``javascript:``, ``data:``, a relative path, hidden spaces) is never made a link.
    """
    if not isinstance(value, str) or not value or any(ord(char) <= 0x20 or ord(char) == 0x7F for char in value):
        return ""
    try:
        parts = urlsplit(value)
    except ValueError:
        return ""
    return value if parts.scheme.lower() in ("http", "https") and parts.hostname else ""


@dataclass(frozen=True)
class PaymentToMake:
    """How the customer can pay the summary's payment now; each way is blank when not offered."""

    pix_code: str
    page_url: str  # Billing's payment page: its Pix (QR code, copia e cola) as soon as it exists
    checkout_url: str  # Mercado Pago's checkout (init_point)


def payment_to_make(status: str, summary: Any) -> PaymentToMake | None:
    """The summary's payment while the order (``status``) can be paid and the payment waits; else None."""
    summary = summary if isinstance(summary, dict) else {}
    payment = summary.get("payment") if isinstance(summary.get("payment"), dict) else {}
    if status not in PAYABLE_STATUSES or payment.get("status") not in PAYMENT_OPEN:
        return None
    return PaymentToMake(pix_code=str(payment.get("qr_code") or ""), page_url=web_link(payment.get("payment_url")),
                         checkout_url=web_link(payment.get("init_point")))


class NextActionCode(StrEnum):
    APPROVE_BUDGET = "approve_budget"
    PAY_PIX = "pay_pix"
    PAY_LINK = "pay_link"
    PICK_UP = "pick_up"
    CONTACT_WORKSHOP = "contact_workshop"
    WAIT = "wait"
    NOTHING = "nothing"


@dataclass(frozen=True)
class NextAction:
    code: NextActionCode
    text: str


def next_action(status: str, summary: Any) -> NextAction:
    """The one thing the customer should do now, from the order's status and the saga summary.

    During the work the saga may ask for more (a revised budget, its payment): the summary
    says so even though the order stays IN_EXECUTION.
    """
    summary = summary if isinstance(summary, dict) else {}
    budget = summary.get("budget") if isinstance(summary.get("budget"), dict) else {}
    payment = summary.get("payment") if isinstance(summary.get("payment"), dict) else {}
    budget_status, payment_status = str(budget.get("status") or ""), str(payment.get("status") or "")
    code, wait = NextActionCode, NextActionCode.WAIT
    if status == Status.CANCELLED:
        return NextAction(code.NOTHING, "Ordem de serviço cancelada. Se tiver dúvidas, fale com a oficina.")
    if status == Status.DELIVERED:
        return NextAction(code.NOTHING, "Veículo entregue. Obrigado pela confiança!")
    if status == Status.FINISHED:
        return NextAction(code.PICK_UP, "Seu carro está pronto: venha buscá-lo.")
    to_pay = payment_to_make(status, summary)
    if to_pay and to_pay.pix_code:
        return NextAction(code.PAY_PIX, "Pague o Pix: copie o código abaixo e cole no app do seu banco.")
    if to_pay and to_pay.page_url:
        return NextAction(code.PAY_LINK, "Pague pelo botão “Pagar agora”, abaixo.")
    if to_pay and to_pay.checkout_url:
        return NextAction(code.PAY_LINK, "Pague pelo link abaixo.")
    if status == Status.AWAITING_APPROVAL and budget_status not in BUDGET_DECIDED:
        return NextAction(code.APPROVE_BUDGET, "Aprove o orçamento: enviamos o link por e-mail.")
    if status == Status.IN_EXECUTION and budget_status == "PENDING_APPROVAL":
        return NextAction(code.APPROVE_BUDGET,
                          "Aprove o orçamento dos reparos adicionais: enviamos o link por e-mail. "
                          "O serviço continua enquanto isso.")
    if status == Status.AWAITING_PAYMENT and payment_status in _PAYMENT_REFUSED:
        return NextAction(code.CONTACT_WORKSHOP, "O pagamento não foi aprovado: fale com a oficina.")
    if status == Status.AWAITING_PAYMENT:
        if payment_status == "APPROVED":
            return NextAction(wait, "Aguarde: pagamento confirmado, o serviço vai começar.")
        return NextAction(wait, "Aguarde: estamos gerando o seu Pix.")
    if status == Status.AWAITING_APPROVAL and budget_status == "APPROVED":
        return NextAction(wait, "Aguarde: orçamento aprovado, estamos separando as peças.")
    if status == Status.AWAITING_APPROVAL:
        return NextAction(wait, "Aguarde: estamos registrando a sua resposta ao orçamento.")
    if status == Status.IN_EXECUTION:
        return NextAction(wait, "Aguarde: estamos trabalhando no seu carro.")
    return NextAction(wait, "Aguarde: estamos avaliando o seu carro.")


class ItemKind(StrEnum):
    SERVICE = "service"
    PART = "part"


JOB_MIN, JOB_MAX, JOB_DEFAULT = 1, 50, 1


class Decision(StrEnum):
    """What the customer said of one line of the budget (blank while undecided)."""

    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"


DECISION_LABELS: dict[str, str] = {Decision.ACCEPTED: "Aprovado", Decision.DECLINED: "Recusado"}


@dataclass(frozen=True)
class ItemLine:
    """An order item with its catalogue name and price snapshotted.

    ``job`` groups the lines of one job (a service and the parts that go with it); ``optional``
    (parts only, copied from the catalogue, never asked) lets the customer decline that part alone.
    """

    kind: ItemKind
    catalog_id: int
    description: str
    quantity: int
    unit_price_cents: int
    job: int = JOB_DEFAULT
    optional: bool = False

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
            "job": self.job,
            "optional": self.optional,
        }


@dataclass(frozen=True)
class DeclinedLine:
    """A budget line the customer declined, as the saga's budget summary lists it."""

    line_id: int
    kind: ItemKind
    catalog_id: int
    description: str
    quantity: int
    unit_price_cents: int
    job: int
    optional: bool

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def declined_lines_of(budget: Any) -> list[DeclinedLine]:
    """The well-formed ``declined_lines`` of a budget summary (a malformed line is left out, never fatal)."""
    if not isinstance(budget, dict) or not isinstance(budget.get("declined_lines"), list):
        return []
    lines: dict[int, DeclinedLine] = {}
    for raw in budget["declined_lines"]:
        if not isinstance(raw, dict):
            continue
        line_id, catalog_id = _positive_int(raw.get("line_id")), _positive_int(raw.get("catalog_id"))
        quantity = _positive_int(raw.get("quantity"))
        price = raw.get("unit_price_cents")
        try:
            kind = ItemKind(raw.get("kind"))
        except ValueError:
            continue
        if None in (line_id, catalog_id, quantity) or not isinstance(price, int) or isinstance(price, bool) \
                or price < 0:
            continue
        job = _positive_int(raw.get("job")) or JOB_DEFAULT
        lines[line_id] = DeclinedLine(
            line_id=line_id, kind=kind, catalog_id=catalog_id, description=str(raw.get("description") or "")[:200],
            quantity=quantity, unit_price_cents=price, job=min(job, 32767),
            optional=raw.get("optional") is True and kind == ItemKind.PART)
    return [lines[line_id] for line_id in sorted(lines)]


def budget_approved(budget: Any) -> bool:
    return isinstance(budget, dict) and budget.get("status") == "APPROVED"


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


class LinkExpired(ApplicationError):
    status_code = 410
    code = "link_expired"


def is_tracking_code(value: str) -> bool:
    return bool(_TRACKING_CODE.match(value or ""))


def format_number(sequence_value: int) -> str:
    return f"OS-{sequence_value:06d}"
