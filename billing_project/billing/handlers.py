"""The commands Billing consumes, each mapped to one service call (docs/messages.md).

No inbox: every command is idempotent by what it does (derived budget and payment ids,
conditional writes, Mercado Pago idempotency keys), so a repeat runs again, changes nothing
twice, and is answered again with the reply the first delivery got (the same message id). A
saga that lost a reply recovers it by sending the command again.

Each handler reads the command's typed payload (``oficina_common.contracts``), checked once: a
command that does not follow its contract is refused (logged, never retried), as one that breaks
Billing's own stricter rules is.
"""
from __future__ import annotations

from functools import cache
from typing import Any

from oficina_common import contracts
from oficina_common.errors import ValidationFailed
from oficina_common.messages import Envelope, InvalidMessage
from oficina_common.messaging import Dispatcher

from . import services
from .domain import Budget, Payment


def _body(envelope: Envelope) -> Any:
    """The command's typed payload; one that breaks its contract is a refused command."""
    try:
        return envelope.body
    except InvalidMessage as exc:
        raise ValidationFailed(str(exc)) from None


def create_budget(envelope: Envelope) -> Budget:
    return services.budget_create(order=_body(envelope), command=envelope)


def revise_budget(envelope: Envelope) -> Budget:
    command: contracts.ReviseBudget = _body(envelope)
    return services.budget_revise(budget_id=command.budget_id, items=command.items, reason=command.reason,
                                  command=envelope)


def cancel_budget(envelope: Envelope) -> Budget:
    return services.budget_cancel(cancellation=_body(envelope), command=envelope)


def request_payment(envelope: Envelope) -> Payment:
    return services.payment_request(request=_body(envelope), command=envelope)


def cancel_payment(envelope: Envelope) -> Payment:
    return services.payment_cancel(undo=_body(envelope), command=envelope)


def refund_payment(envelope: Envelope) -> Payment:
    return services.payment_refund(undo=_body(envelope), command=envelope)


HANDLERS = {
    "billing.CreateBudget": create_budget,
    "billing.ReviseBudget": revise_budget,
    "billing.CancelBudget": cancel_budget,
    "billing.RequestPayment": request_payment,
    "billing.CancelPayment": cancel_payment,
    "billing.RefundPayment": refund_payment,
}


@cache
def dispatcher() -> Dispatcher:
    return Dispatcher(HANDLERS)
