"""The commands Billing consumes, each mapped to one service call (docs/messages.md).

No inbox: every command is idempotent by what it does (derived budget and payment ids,
conditional writes, Mercado Pago idempotency keys), so a repeat runs again, changes nothing
twice, and is answered again with the reply the first delivery got (the same message id). A
saga that lost a reply recovers it by sending the command again.
"""
from __future__ import annotations

from functools import cache
from typing import Any

from oficina_common.messages import Envelope
from oficina_common.messaging import Dispatcher

from . import services


def _revise(envelope: Envelope) -> Any:
    payload = envelope.payload
    return services.budget_revise(budget_id=str(payload.get("budget_id") or ""), items=payload.get("items"),
                                  reason=str(payload.get("reason") or ""), command=envelope)


HANDLERS = {
    "billing.CreateBudget": lambda envelope: services.budget_create(command=envelope),
    "billing.ReviseBudget": _revise,
    "billing.CancelBudget": lambda envelope: services.budget_cancel(command=envelope),
    "billing.RequestPayment": lambda envelope: services.payment_request(command=envelope),
    "billing.CancelPayment": lambda envelope: services.payment_cancel(command=envelope),
    "billing.RefundPayment": lambda envelope: services.payment_refund(command=envelope),
}


@cache
def dispatcher() -> Dispatcher:
    return Dispatcher(HANDLERS)
