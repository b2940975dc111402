"""Reads for the API: what an actor may see, never more (someone else's budget is a 404)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from oficina_common.dynamodb import Page
from oficina_common.errors import NotFound, ValidationFailed

from .dependencies import dependencies
from .domain import Actor, Budget, BudgetLine, BudgetStatus, Payment, hash_approval_token, payment_id_for

T = TypeVar("T")


def _valid_id(value: str, what: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, AttributeError, TypeError) as exc:
        raise NotFound(f"{what} {value} does not exist.") from exc


def budget_latest(*, budget_id: str, actor: Actor) -> Budget:
    budget = dependencies().budgets.latest(_valid_id(budget_id, "Budget"))
    if budget is None or not actor.may_see(budget.customer_id):
        raise NotFound(f"Budget {budget_id} does not exist.")
    return budget


def budget_versions(*, budget_id: str, actor: Actor) -> list[Budget]:
    budget_latest(budget_id=budget_id, actor=actor)
    return dependencies().budgets.versions(_valid_id(budget_id, "Budget"))


def budget_list(*, actor: Actor, service_order_id: str | None = None, status: BudgetStatus | None = None,
                limit: int = 50, page_token: str | None = None) -> Page[Budget]:
    budgets = dependencies().budgets
    if service_order_id:
        return Page([b for b in budgets.list_by_service_order(service_order_id) if actor.may_see(b.customer_id)])
    if status is not None and actor.role == Actor.STAFF:
        return budgets.list_by_status(status, limit=limit, page_token=page_token)
    raise ValidationFailed("service_order_id: required (staff may filter by status instead).")


def payment_get(*, payment_id: str, actor: Actor) -> Payment:
    payment = dependencies().payments.get(_valid_id(payment_id, "Payment"))
    if payment is None or not actor.may_see(payment.customer_id):
        raise NotFound(f"Payment {payment_id} does not exist.")
    return payment


def payment_list(*, actor: Actor, service_order_id: str, limit: int = 50,
                 page_token: str | None = None) -> Page[Payment]:
    page = dependencies().payments.list_by_service_order(service_order_id, limit=limit, page_token=page_token)
    return Page([p for p in page.items if actor.may_see(p.customer_id)], page.next_token)


def budget_as_dict(budget: Budget) -> dict[str, Any]:
    return {
        "budget_id": budget.budget_id, "version": budget.version, "service_order_id": budget.service_order_id,
        "order_number": budget.order_number, "customer_id": budget.customer_id, "status": budget.status.value,
        "items": [{**line.to_dict(), "status": budget.line_status(line).value} for line in budget.lines],
        "total_cents": budget.total_cents, "approved_total_cents": budget.approved_total_cents,
        "declined_total_cents": budget.declined_total_cents,
        "additional_total_cents": budget.additional_total_cents, "currency": budget.currency,
        "expires_at": budget.expires_at, "created_at": budget.created_at, "updated_at": budget.updated_at,
        "decided_by": budget.decided_by, "decided_at": budget.decided_at, "decision_reason": budget.decision_reason,
        "revision_reason": budget.revision_reason,
    }


def payment_as_dict(payment: Payment) -> dict[str, Any]:
    return {
        "payment_id": payment.payment_id, "budget_id": payment.budget_id, "budget_version": payment.budget_version,
        "service_order_id": payment.service_order_id, "amount_cents": payment.amount_cents,
        "currency": payment.currency, "method": payment.method.value, "status": payment.status.value,
        "mercadopago_payment_id": payment.mercadopago_payment_id, "qr_code": payment.qr_code,
        "qr_code_base64": payment.qr_code_base64, "ticket_url": payment.ticket_url,
        "init_point": payment.init_point, "failure_reason": payment.failure_reason,
        "created_at": payment.created_at, "updated_at": payment.updated_at,
    }


# --- the customer's pages ---------------------------------------------------------------------------

MAX_TOKEN_LENGTH = 200


class LinkState(StrEnum):
    """What an approval link can still do, as the review page tells the customer."""

    READY = "ready"  # the budget waits for this link's decision
    UNKNOWN = "unknown"  # never issued (or long gone)
    USED = "used"  # the link already decided the budget
    SUPERSEDED = "superseded"  # a newer version (a revision) replaced this one
    DECIDED = "decided"  # decided another way (staff, the customer's login)
    CANCELLED = "cancelled"  # the workshop cancelled the budget or the order
    EXPIRED = "expired"


@dataclass(frozen=True)
class ApprovalLinkView:
    state: LinkState
    budget: Budget | None = None
    added_lines: tuple[BudgetLine, ...] = ()
    used_decision: str = ""


def approval_link_view(token: str) -> ApprovalLinkView:
    """The budget version an approval link shows, and whether the link can still decide it.

    ``services.budget_decide`` stays the judge when the customer decides; this only tells the
    page what to show (used, expired and superseded links each get their own message).
    """
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return ApprovalLinkView(LinkState.UNKNOWN)
    deps = dependencies()
    now = deps.clock()
    record = deps.approval_tokens.get(hash_approval_token(token), now=now, include_expired=True)
    if record is None:
        return ApprovalLinkView(LinkState.UNKNOWN)
    budget, latest_version = deps.budgets.get_with_latest_version(record.budget_id, record.version)
    if budget is None:
        return ApprovalLinkView(LinkState.UNKNOWN)
    added = _added_lines(budget)
    if record.used_decision:
        return ApprovalLinkView(LinkState.USED, budget, added, used_decision=record.used_decision)
    if budget.status == BudgetStatus.SUPERSEDED or latest_version > budget.version:
        return ApprovalLinkView(LinkState.SUPERSEDED, budget, added)
    if budget.status in (BudgetStatus.APPROVED, BudgetStatus.REJECTED):
        return ApprovalLinkView(LinkState.DECIDED, budget, added)
    if budget.status == BudgetStatus.CANCELLED:
        return ApprovalLinkView(LinkState.CANCELLED, budget, added)
    if budget.status == BudgetStatus.EXPIRED or record.is_expired(now) or budget.is_past_expiry(now):
        return ApprovalLinkView(LinkState.EXPIRED, budget, added)
    return ApprovalLinkView(LinkState.READY, budget, added)


def _added_lines(budget: Budget) -> tuple[BudgetLine, ...]:
    """A revision's additional items: version N+1 holds version N's lines followed by the new ones."""
    if not budget.is_revision:
        return ()
    previous = dependencies().budgets.get(budget.budget_id, budget.version - 1)
    return budget.lines[len(previous.lines):] if previous is not None else ()


def budget_version_for_page(*, budget_id: str, version: int) -> Budget:
    """The version a signed page link names (the signature was checked by the caller)."""
    budget = dependencies().budgets.get(_valid_id(budget_id, "Budget"), version)
    if budget is None:
        raise NotFound(f"Budget {budget_id} version {version} does not exist.")
    return budget


def payment_of_budget_version(budget: Budget) -> Payment | None:
    """The payment the saga asked for this approved version, if it did yet (its id is derived, so a GetItem)."""
    return dependencies().payments.get(payment_id_for(budget.saga_id, budget.budget_id, budget.version))
