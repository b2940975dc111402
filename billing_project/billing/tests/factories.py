"""Commands as the orchestrator sends them (docs/messages.md), and tokens as the OS service issues them."""
from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from rest_framework_simplejwt.tokens import AccessToken

from billing.domain import Actor, Budget, Payment, PaymentMethod, PaymentStatus, iso, parse_lines
from oficina_common.auth import issue_customer_token
from oficina_common.messages import Envelope

CUSTOMER_ID = "42"
CUSTOMER_EMAIL = "maria@example.com"

ITEMS = [
    {"kind": "service", "catalog_id": "7", "description": "Troca de óleo", "quantity": 2, "unit_price_cents": 4500},
    {"kind": "part", "catalog_id": "12", "description": "Filtro de óleo", "quantity": 1, "unit_price_cents": 3200},
]
ITEMS_TOTAL = 2 * 4500 + 3200
EXTRA_ITEMS = [
    {"kind": "part", "catalog_id": "31", "description": "Pastilha de freio", "quantity": 2, "unit_price_cents": 9000},
]
EXTRA_TOTAL = 18000
# A budget of jobs. Job 1: an oil change, its filter and an optional additive; job 2: an alignment;
# job 3: wiper blades alone, optional.
JOBS = [
    {"kind": "service", "catalog_id": "7", "description": "Troca de óleo", "quantity": 1, "unit_price_cents": 9000,
     "job": 1},
    {"kind": "part", "catalog_id": "12", "description": "Filtro de óleo", "quantity": 1, "unit_price_cents": 3200,
     "job": 1},
    {"kind": "part", "catalog_id": "13", "description": "Aditivo", "quantity": 1, "unit_price_cents": 1500,
     "job": 1, "optional": True},
    {"kind": "service", "catalog_id": "8", "description": "Alinhamento", "quantity": 1, "unit_price_cents": 12000,
     "job": 2},
    {"kind": "part", "catalog_id": "40", "description": "Palheta", "quantity": 2, "unit_price_cents": 2500,
     "job": 3, "optional": True},
]


def as_lines(items: list[dict[str, Any]], *, first_id: int = 1, job_offset: int = 0,
             status: str | None = None) -> list[dict[str, Any]]:
    """Items as Billing's messages carry them back: with their line ids, jobs (moved past the
    earlier versions' for a revision) and, in decisions, their status."""
    lines = [{**item, "job": item.get("job", 1) + job_offset, "optional": item.get("optional", False),
              "line_id": first_id + n} for n, item in enumerate(items)]
    return [{**line, "status": status} for line in lines] if status else lines


def create_budget(*, saga_id: str | None = None, service_order_id: str | None = None,
                  customer_id: str = CUSTOMER_ID, customer_email: str = CUSTOMER_EMAIL,
                  items: list[dict[str, Any]] | None = None) -> Envelope:
    return Envelope(
        type="billing.CreateBudget", saga_id=saga_id or str(uuid.uuid4()),
        service_order_id=service_order_id or str(uuid.uuid4()),
        payload={"customer_id": customer_id, "customer_name": "Maria Souza", "customer_email": customer_email,
                 "order_number": "OS-2024-0042", "tracking_url": "http://os.example/track/ABC123/",
                 "items": items if items is not None else ITEMS},
    )


def command(cause: Envelope, message_type: str, payload: dict[str, Any]) -> Envelope:
    """The next command of the same saga (a new message id)."""
    return Envelope(type=message_type, saga_id=cause.saga_id, service_order_id=cause.service_order_id,
                    payload=payload)


def request_payment(cause: Envelope, budget_id: str, *, version: int = 1, amount_cents: int = ITEMS_TOTAL,
                    method: str = "pix") -> Envelope:
    return command(cause, "billing.RequestPayment", {
        "budget_id": budget_id, "version": version, "amount_cents": amount_cents, "method": method,
        "payer_email": CUSTOMER_EMAIL, "description": "OS-2024-0042 Troca de óleo"})


# Staff deciding for the customer: an attendant, and the reason staff must give.
ATTENDANT = Actor.staff("ana", "attendant")
STAFF_REASON = "aprovado por telefone com a Maria"


def staff_token(role: str = "attendant", username: str = "ana") -> str:
    token = AccessToken()
    token["user_id"] = 7
    token["role"] = role
    token["username"] = username
    return str(token)


def customer_token(customer_id: str = CUSTOMER_ID) -> str:
    return str(issue_customer_token(customer_id))


# --- aggregates as the repositories store them ------------------------------------------------------
NOW = datetime.now(UTC).replace(microsecond=0)


def a_budget(**changes: Any) -> Budget:
    budget = Budget.open(budget_id=str(uuid.uuid4()), saga_id=str(uuid.uuid4()), service_order_id=str(uuid.uuid4()),
                         customer_id=CUSTOMER_ID, lines=parse_lines(ITEMS), now=NOW,
                         approval_ttl=timedelta(hours=72), command_id=str(uuid.uuid4()),
                         customer_email=CUSTOMER_EMAIL)
    return replace(budget, **changes)


def an_event(budget: Budget, kind: str = "billing.BudgetCreated") -> Envelope:
    return Envelope(type=kind, saga_id=budget.saga_id, service_order_id=budget.service_order_id,
                    payload=budget.created_payload().to_payload())


def a_payment(**changes: Any) -> Payment:
    payment = Payment(payment_id=str(uuid.uuid4()), timestamp=iso(NOW), saga_id=str(uuid.uuid4()),
                      service_order_id=str(uuid.uuid4()), budget_id=str(uuid.uuid4()), budget_version=1,
                      customer_id=CUSTOMER_ID, amount_cents=12200, method=PaymentMethod.PIX,
                      payer_email=CUSTOMER_EMAIL, description="OS", status=PaymentStatus.PENDING,
                      created_at=NOW, updated_at=NOW)
    return replace(payment, **changes)
