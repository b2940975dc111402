"""What each step does, and what undoes it: the actions and compensations the definition names,
the blind undo of a command whose outcome the saga never heard, and the rules of additional
repairs that several replies share. Each compensation checks the saga's record before it acts."""
from __future__ import annotations

from typing import Any

from oficina_common import contracts
from oficina_common.messages import clip

from ..domain import (
    Budget,
    BudgetStatus,
    Payment,
    PaymentStatus,
    PendingCommand,
    Revision,
    RevisionStatus,
    iso,
    parse_iso,
    part_lines,
    queue_id_for,
)
from .engine import (
    LOCAL_ENQUEUE,
    CheckWork,
    EnqueueWork,
    Payload,
    Transition,
    WithdrawWork,
    cancel_late,
    stop_awaiting,
    undo_reason,
)
from .projection import status_reason


# --- actions -----------------------------------------------------------------------------------
def create_budget(t: Transition) -> None:
    o = t.saga.order
    t.send("billing.CreateBudget", contracts.CreateBudget(
        customer_id=o.customer_id, customer_name=o.customer_name, customer_email=o.customer_email,
        order_number=o.order_number, tracking_url=o.tracking_url, items=o.items,
    ), key="create_budget", step="create_budget")


def reserve_parts(t: Transition) -> None:
    parts = part_lines(t.saga.order.items)
    if not parts:
        t.note("no parts to reserve")
        t.advance("reserve_parts")
        return
    t.send("os.ReserveParts", contracts.PartsCommand(parts=parts), key="reserve_parts", step="reserve_parts")


def payment_request(t: Transition, version: int, amount_cents: int, description: str) -> contracts.RequestPayment:
    s = t.saga
    assert s.budget is not None
    return contracts.RequestPayment(budget_id=s.budget.budget_id, version=version, amount_cents=amount_cents,
                                    method=t.config.payment_method, payer_email=s.order.customer_email,
                                    description=description)


def _budget_payment_request(t: Transition) -> contracts.RequestPayment:
    """The request for the approved budget's payment (asked again, the same request)."""
    s = t.saga
    assert s.budget is not None
    return payment_request(t, s.budget.version, s.budget.total_cents, f"Ordem de serviço {s.order.order_number}")


def request_payment(t: Transition) -> None:
    t.send("billing.RequestPayment", _budget_payment_request(t), key="request_payment", step="request_payment")


def await_payment(t: Transition) -> None:
    t.saga.wait_due_at = t.due(t.config.payment_timeout)
    t.saga.check_due_at = t.due(t.config.payment_check_interval)


def watch_the_job(t: Transition) -> None:
    """The mechanic takes what the job takes; now and then the saga looks at the job itself."""
    t.saga.check_due_at = t.due(t.config.job_check_interval)


def look_at_the_job(t: Transition) -> None:
    """The job's news (closed) may have been lost: the service reads the job and tells the saga."""
    s = t.saga
    if s.work_done or not s.queue_id:
        return
    t.effects.append(CheckWork(s.queue_id))
    s.check_due_at = t.due(t.config.job_check_interval)


def ask_for_the_payment(t: Transition) -> None:
    """Billing is asked again for the payment (the same request: it answers with what became of
    it), in case its PaymentApproved was lost on the way."""
    t.send("billing.RequestPayment", _budget_payment_request(t))
    # The OS is told again where the order is, with what to pay and where: the broker may have
    # lost the word, and the customer would never see what to pay (seen in the fault run: the
    # payment expired with the order still AWAITING_APPROVAL).
    t.set_os_status(t.saga.os_status, status_reason("reserve_parts", t.saga))
    t.saga.check_due_at = t.due(t.config.payment_check_interval)


def enqueue_work(t: Transition) -> None:
    s = t.saga
    s.queue_id = queue_id_for(s.execution_id)
    t.effects.append(EnqueueWork(s.queue_id))
    t.track("enqueue_work", LOCAL_ENQUEUE, {"queue_id": s.queue_id}, t.step_number("enqueue_work"))


def cancel_budget(t: Transition) -> None:
    s = t.saga
    budget = s.budget
    if budget is None:
        return
    revision = s.active_revision
    revision_waiting = revision is not None and revision.status == RevisionStatus.PENDING_APPROVAL
    paid = any(p.purpose == "budget" and p.status in (PaymentStatus.APPROVED, PaymentStatus.REFUNDED)
               for p in s.payments)
    # Once the customer paid, the approved budget stays as the record; the refund undoes the money.
    open_budget = budget.status in (BudgetStatus.PENDING_APPROVAL, BudgetStatus.APPROVED) and not paid
    if open_budget or revision_waiting:
        t.send("billing.CancelBudget", contracts.CancelBudget(budget_id=budget.budget_id, reason=undo_reason(t)),
               key="cancel_budget", step="create_budget")


def release_parts(t: Transition) -> None:
    s = t.saga
    if s.reserved_parts:
        t.send("os.ReleaseParts", contracts.PartsCommand(parts=s.reserved_parts), key="release_parts",
               step="reserve_parts")


def cancel_or_refund_payments(t: Transition) -> None:
    for payment in t.saga.payments:
        undo_payment(t, payment)


def undo_payment(t: Transition, payment: Payment) -> None:
    """Give the customer's money back (refund), or make sure none comes (cancel); awaited until
    Billing confirms it, like every undo (see :func:`cancel_late`)."""
    if not payment.payment_id:
        return
    step = "request_payment" if payment.purpose == "budget" else "complete_work"
    payload = contracts.UndoPayment(payment_id=payment.payment_id, reason=undo_reason(t))
    if payment.status == PaymentStatus.APPROVED:
        cancel_late(t, "billing.RefundPayment", payload, f"refund_payment:{payment.payment_id}", step)
    elif payment.status == PaymentStatus.PENDING:
        cancel_late(t, "billing.CancelPayment", payload, f"cancel_payment:{payment.payment_id}", step)


def withdraw_work(t: Transition) -> None:
    s = t.saga
    if s.queue_id and not t.job_closed:
        t.effects.append(WithdrawWork(s.queue_id, s.order.priority, s.cause or ""))


def consume_if_done(t: Transition) -> None:
    """The job is done and what the order holds is settled (no reservation or release still on
    its way): consume the parts, or finish."""
    s = t.saga
    if not s.work_done or s.pending_command("reserve_extra_parts", "consume_parts", "release_parts", "release_parts:"):
        return
    if s.reserved_parts:
        t.send("os.ConsumeParts", contracts.PartsCommand(parts=s.reserved_parts), key="consume_parts",
               step="complete_work")
    else:
        t.advance("complete_work")


def item_line(line: contracts.ItemLine) -> dict[str, Any]:
    """An item line as the saga keeps it (and sends it on): every field, the job it belongs to (a
    service and its parts, decided together) and whether the workshop lets the customer decline
    this part alone; ``line_id`` is Billing's number for the line in its version."""
    kept = {"kind": line.kind, "catalog_id": line.catalog_id, "description": line.description,
            "quantity": line.quantity, "unit_price_cents": line.unit_price_cents, "job": line.job,
            "optional": line.kind == "part" and line.optional}
    if line.line_id is not None:
        kept["line_id"] = line.line_id
    return kept


def reported_line(line: contracts.ReportedLine) -> dict[str, Any]:
    """A line the mechanic reported: the catalog item, how many and its job; no name, no price
    (the OS catalogue gives them)."""
    return {"kind": line.kind, "catalog_id": line.catalog_id, "quantity": line.quantity, "job": line.job}


def part_dicts(parts: list[contracts.MovedPart]) -> list[dict[str, Any]]:
    """Part lines as the saga keeps them."""
    return [{"catalog_id": line.catalog_id, "quantity": line.quantity} for line in parts]


def decided_lines(lines: list[contracts.ItemLine] | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
    """The approved and the declined lines of a decided version, or ``None`` when the decision
    does not list them (the whole version approved, as older messages say)."""
    if not lines:
        return None
    approved = [item_line(line) for line in lines if line.status != DECLINED]
    declined = [item_line(line) for line in lines if line.status == DECLINED]
    return approved, declined


DECLINED = "DECLINED"  # a line the customer declined (Billing's line status)


def items_total(items: list[dict[str, Any]]) -> int:
    return sum(int(i["quantity"]) * int(i["unit_price_cents"]) for i in items)


def await_decision(t: Transition, budget: Budget) -> None:
    """The customer has until the budget expires (plus a grace), at most the approval timeout."""
    deadline = t.now + t.config.approval_timeout
    if budget.expires_at:
        try:
            deadline = min(deadline, parse_iso(budget.expires_at) + t.config.approval_grace)
        except ValueError:
            pass
    t.saga.wait_due_at = iso(max(deadline, t.now))


def str_or_none(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def close_revision(t: Transition, revision: Revision, error: str) -> None:
    """A revision that can no longer be done: it is never reserved nor charged, and its budget
    version is cancelled so that the customer is not asked to approve it any more."""
    s = t.saga
    revision.status = RevisionStatus.FAILED
    revision.error = error
    t.changed = True
    requested = s.pending_command("revise_budget")
    if requested is not None and not requested.undo:
        stop_awaiting(t, requested)  # the version Billing makes for it is cancelled when it comes
    if revision.budget_version and s.budget:
        s.foreign_versions.append(revision.budget_version)
        t.send("billing.CancelBudget", contracts.CancelBudget(budget_id=s.budget.budget_id, reason=clip(error)))
    t.note(error)


# --- what undoes a command whose outcome the saga never heard -----------------------------------
def release_blindly(t: Transition, pending: PendingCommand) -> tuple[str, Payload, str]:
    """The OS releases only what it holds for the order."""
    return "os.ReleaseParts", contracts.PartsCommand(parts=pending.payload["parts"]), "release_parts:blind"


def cancel_payment_blindly(t: Transition, pending: PendingCommand) -> tuple[str, Payload, str]:
    """By budget and version: Billing cancels the payment it made for them (refunds it if paid),
    or records that none may be made."""
    return ("billing.CancelPayment", contracts.UndoPayment(budget_id=pending.payload["budget_id"],
                                                           version=pending.payload["version"],
                                                           reason=undo_reason(t)),
            "cancel_payment:blind")


def cancel_budget_blindly(t: Transition, pending: PendingCommand) -> tuple[str, Payload, str]:
    """By the saga's id: Billing cancels the budget it made for it, or records that none may be made."""
    return "billing.CancelBudget", contracts.CancelBudget(reason=undo_reason(t)), "cancel_budget:blind"


def revision_given_up(t: Transition, pending: PendingCommand, error: str) -> None:
    """No answer about the additional repairs: the work goes on with what was approved."""
    revision = t.saga.active_revision
    if revision:
        revision.status = RevisionStatus.FAILED
        revision.error = error
    consume_if_done(t)
