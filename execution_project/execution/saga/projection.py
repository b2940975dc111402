"""What the OS shows of a saga: the summary it keeps beside the order, and the reason of each
status change. Apart from the steps and the engine, so that what a person reads has one home."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oficina_common.formatting import format_brl as money

from ..domain import SagaInstance


def summary(s: SagaInstance) -> dict[str, Any]:
    """What the OS shows of the saga: budget, payment and execution, as far as known."""
    out: dict[str, Any] = {"execution": {"execution_id": s.execution_id, "status": str(s.status),
                                         "current_step": s.steps[s.current_step - 1].name}}
    if s.budget:
        out["budget"] = {"budget_id": s.budget.budget_id, "version": s.budget.version,
                         "status": str(s.budget.status), "total_cents": s.budget.total_cents}
        if s.declined_lines:
            # Approved line by line: what was quoted, what the customer declined (the OS keeps it
            # per vehicle, to offer it again) and, in total_cents, what was approved.
            out["budget"].update(quoted_total_cents=s.budget.total_cents + s.budget.declined_total_cents,
                                 declined_total_cents=s.budget.declined_total_cents,
                                 declined_lines=[dict(line) for line in s.declined_lines])
    duplicates = [p for p in s.payments if p.purpose == "duplicate"]
    if duplicates:
        out["duplicate_payments_refunded"] = [{"mercadopago_payment_id": p.mercadopago_payment_id,
                                               "amount_cents": p.amount_cents} for p in duplicates]
    payment = _payment(s)
    if payment:
        out["payment"] = payment
    return out


def _payment(s: SagaInstance) -> dict[str, Any] | None:
    """The payment the customer is asked for: the one requested of Billing while it has no answer
    yet (what it will cost, and the page to pay on), else the latest one recorded."""
    def page(version: int) -> str:  # Billing names the page of the version the customer approved
        return s.budget.payment_url if s.budget and s.budget.version == version else ""

    payment = next((p for p in reversed(s.payments) if p.payment_id and p.purpose != "duplicate"), None)
    asked = s.pending_command("request_payment", "request_extra_payment") if s.is_live else None
    if asked and not asked.undo:
        version = int(asked.payload.get("version") or 0)
        if payment is None or payment.budget_version != version:
            return {"status": "REQUESTED", "amount_cents": int(asked.payload.get("amount_cents") or 0),
                    "payment_url": page(version)}
    if payment is None:
        return None
    return {"payment_id": payment.payment_id, "status": str(payment.status), "amount_cents": payment.amount_cents,
            "qr_code": payment.qr_code, "init_point": payment.init_point, "payment_url": page(payment.budget_version)}


_REASONS: dict[str, Callable[[SagaInstance], str]] = {
    "create_budget": lambda s: (f"Budget v{s.budget.version} of {money(s.budget.total_cents)} waits for the "
                                "customer's approval") if s.budget else "Budget created",
    "await_approval": lambda s: "Budget approved",
    "reserve_parts": lambda s: (f"Budget approved in part: {money(s.budget.total_cents)} approved, "
                                f"{money(s.budget.declined_total_cents)} declined; waiting for the payment")
    if s.budget and s.declined_lines else "Budget approved; waiting for the payment",
    "await_payment": lambda s: "Payment approved",
    "enqueue_work": lambda s: "Payment approved; the job is in the mechanics' queue",
    "complete_work": lambda s: f"Work completed: {s.work_notes}" if s.work_notes else "Work completed",
}


def status_reason(step: str, s: SagaInstance) -> str:
    """The reason the OS records when step ``step`` moves the order."""
    return _REASONS[step](s)
