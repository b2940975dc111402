"""Messages, tokens and documented payload shapes the tests share."""
from __future__ import annotations

import uuid
from typing import Any

from oficina_common.messages import Envelope

# docs/messages.md: the payload keys of every message the Execution service sends.
# A command's payload has one of its documented shapes (docs/messages.md); the extra shapes are the
# blind compensations of a saga that never heard what its command did.
BLIND_PAYLOAD_KEYS: dict[str, set[str]] = {
    "billing.CancelBudget": {"reason"},
    "billing.CancelPayment": {"budget_id", "version", "reason"},
}
DOCUMENTED_PAYLOAD_KEYS: dict[str, set[str]] = {
    "billing.CreateBudget": {"customer_id", "customer_name", "customer_email", "order_number", "tracking_url", "items"},
    "billing.ReviseBudget": {"budget_id", "items", "reason"},
    "billing.CancelBudget": {"budget_id", "reason"},
    "os.ReserveParts": {"parts"},
    "os.ReleaseParts": {"parts"},
    "os.ConsumeParts": {"parts"},
    "billing.RequestPayment": {"budget_id", "version", "amount_cents", "method", "payer_email", "description"},
    "billing.CancelPayment": {"payment_id", "reason"},
    "billing.RefundPayment": {"payment_id", "reason"},
    "os.ChangeStatus": {"to", "reason", "summary"},
    "os.PriceItems": {"items"},
    "execution.WorkCompleted": {"queue_id", "notes"},
    "execution.WorkFailed": {"queue_id", "reason"},
    "execution.AdditionalRepairReported": {"queue_id", "items", "notes"},
}

# The line shape every service shares: the job (a service and its parts, decided together) and
# whether the part may be declined alone.
OIL_CHANGE = {"kind": "service", "catalog_id": "1", "description": "Troca de óleo", "quantity": 1,
              "unit_price_cents": 12000, "job": 1, "optional": False}
OIL_FILTERS = {"kind": "part", "catalog_id": "7", "description": "Filtro de óleo", "quantity": 2,
               "unit_price_cents": 3550, "job": 1, "optional": False}
TOTAL_CENTS = 12000 + 2 * 3550


def new_id() -> str:
    return str(uuid.uuid4())


def diagnosis_completed(saga_id: str | None = None, service_order_id: str | None = None, *,
                        items: list[dict[str, Any]] | None = None, priority: int = 3,
                        customer_id: str = "42") -> Envelope:
    return Envelope(
        type="os.DiagnosisCompleted", saga_id=saga_id or new_id(), service_order_id=service_order_id or new_id(),
        payload={
            "order_number": "OS-2026-0001", "customer_id": customer_id, "customer_name": "Maria Souza",
            "customer_email": "maria@example.com", "vehicle": {"plate": "ABC1D23", "model": "Fiat Argo"},
            "priority": priority, "items": items if items is not None else [OIL_CHANGE, OIL_FILTERS],
            "notes": "Óleo vencido", "tracking_url": "http://os.local/track/ABC/",
        },
    )


def message(saga_id: str, service_order_id: str, type: str, **payload: Any) -> Envelope:
    return Envelope(type=type, saga_id=saga_id, service_order_id=service_order_id, payload=payload)


def budget_created(budget_id: str = "b-1", version: int = 1, total_cents: int = TOTAL_CENTS, **extra: Any) -> dict:
    return {"budget_id": budget_id, "version": version, "total_cents": total_cents,
            "expires_at": extra.pop("expires_at", None), "revision": extra.pop("revision", False), **extra}


def payment_page(budget_id: str = "b-1", version: int = 1) -> str:
    return f"https://billing.example/budgets/{budget_id}/v{version}/payment/?t=signed"


def budget_approved(budget_id: str = "b-1", version: int = 1, total_cents: int = 19100, **extra: Any) -> dict:
    """Billing's approval as it sends it now: with the page the customer pays on."""
    return {"budget_id": budget_id, "version": version, "total_cents": total_cents,
            "decided_by": extra.pop("decided_by", "c"), "payment_url": payment_page(budget_id, version), **extra}


def payment_requested(payment_id: str = "p-1", amount_cents: int = TOTAL_CENTS) -> dict:
    return {"payment_id": payment_id, "budget_id": "b-1", "mercadopago_payment_id": "9001", "status": "PENDING",
            "amount_cents": amount_cents, "qr_code": "00020126PIX", "init_point": None}


def payment_approved(payment_id: str = "p-1", amount_cents: int = TOTAL_CENTS) -> dict:
    return {"payment_id": payment_id, "budget_id": "b-1", "mercadopago_payment_id": "9001", "status": "APPROVED",
            "amount_cents": amount_cents}


def replies_until_paid(event: Envelope) -> list[Envelope]:
    """What the participants answer a started saga, in order, up to the payment's approval."""
    return [message(event.saga_id, event.service_order_id, type, **payload) for type, payload in [
        ("billing.BudgetCreated", budget_created()),
        ("billing.BudgetApproved", budget_approved()),
        ("os.PartsReserved", {"parts": [{"catalog_id": "7", "quantity": 2}]}),
        ("billing.PaymentRequested", payment_requested()),
        ("billing.PaymentApproved", payment_approved()),
    ]]


def access_token(role: str, *, user_id: str = "7", username: str = "joao", customer_id: str | None = None) -> str:
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken()
    token["user_id"] = user_id
    token["role"] = role
    token["username"] = username
    if customer_id is not None:
        token["customer_id"] = customer_id
    return str(token)
