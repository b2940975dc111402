"""What each reply or event does to the saga: the handlers the definition maps message types to.

Each handler reads the reply's typed payload (its contract in ``oficina_common.contracts``),
decides from the saga's record whether the reply is the one awaited, late (to be undone), too
early (deferred) or stale (ignored), and acts through the engine. Steps are referred to by name.
"""
from __future__ import annotations

from functools import partial

from oficina_common import contracts as c
from oficina_common.messages import clip

from ..domain import (
    Budget,
    BudgetStatus,
    EndReason,
    OsStatus,
    Payment,
    PaymentStatus,
    Revision,
    RevisionStatus,
    SagaInstance,
    SagaStatus,
    StepStatus,
    merge_part_lines,
    part_lines,
    subtract_part_lines,
)
from .engine import (
    Transition,
    cancel_late,
    compensate,
    compensation_answered,
    is_undoing,
    maybe_finish_compensation,
    stuck_answered,
    undo_reason,
)
from .projection import money
from .steps import (
    await_decision,
    close_revision,
    consume_if_done,
    decided_lines,
    item_line,
    items_total,
    part_dicts,
    payment_request,
    reported_line,
    undo_payment,
)


def on_budget_created(t: Transition, p: c.BudgetCreated) -> None:
    s = t.saga
    budget = Budget(budget_id=p.budget_id, version=p.version, status=BudgetStatus.PENDING_APPROVAL,
                    total_cents=p.total_cents, expires_at=p.expires_at,
                    line_count=len(p.lines) if p.lines is not None else 0)
    if p.revision:
        _on_revision_created(t, budget, p)
        return
    if is_undoing(s):
        if t.answered("create_budget") or s.budget is None:
            # Created after the saga gave up: cancel it too.
            s.budget = budget
            cancel_late(t, "billing.CancelBudget", c.CancelBudget(budget_id=budget.budget_id, reason=undo_reason(t)),
                        f"cancel_budget:{budget.budget_id}:v{budget.version}", "create_budget")
        else:
            t.ignore("budget created while compensating")
        return
    if not s.is_live or not t.running("create_budget"):
        t.ignore("no budget is being created")
        return
    t.answered("create_budget")
    budget.line_count = budget.line_count or len(s.order.items)
    s.budget = budget
    t.advance("create_budget")
    await_decision(t, budget)


def _on_revision_created(t: Transition, budget: Budget, p: c.BudgetCreated) -> None:
    s = t.saga
    revision = s.active_revision
    pending = s.pending_command("revise_budget")
    if pending is None or p.origin == "staff":
        _on_staff_revision(t, budget, p)
        return
    t.answered("revise_budget")
    if pending.undo or revision is None or revision.status != RevisionStatus.REQUESTED:
        # The version the saga asked for and then gave up on (or turned back from): cancelled.
        s.foreign_versions.append(budget.version)
        cancel_late(t, "billing.CancelBudget", c.CancelBudget(budget_id=budget.budget_id, reason=undo_reason(t)
                                                              or "The additional repairs were given up"),
                    f"cancel_budget:{budget.budget_id}:v{budget.version}", "complete_work")
        maybe_finish_compensation(t)
        return
    revision.status = RevisionStatus.PENDING_APPROVAL
    revision.budget_version = budget.version
    additional = p.additional_total_cents
    revision.additional_total_cents = additional if additional is not None else items_total(revision.items)
    budget.line_count = budget.line_count or (s.budget.line_count + len(revision.items) if s.budget else 0)
    s.budget = budget
    t.summary_update(f"Additional repairs: budget v{budget.version} of {money(budget.total_cents)} waits for the "
                     "customer's approval")


def _on_staff_revision(t: Transition, budget: Budget, p: c.BudgetCreated) -> None:
    """A version the workshop made through Billing's API: while the customer decides, it replaces
    the version awaited; during the work it is additional repairs awaiting the customer. At any
    other moment no decision can be awaited, so the version is cancelled before anyone approves
    what would never be charged."""
    s = t.saga
    if s.budget is None or budget.budget_id != s.budget.budget_id or budget.version <= s.budget.version \
            or budget.version in s.foreign_versions:
        t.ignore(f"budget v{budget.version} is not a newer version of this saga's budget")
        return
    # Versions may come out of order (v3 before v2): the whole version's lines say what is awaited
    # and what it adds to what the customer approved; ``items`` (what it added to the version
    # before it) is what older messages carry.
    lines = [item_line(i) for i in p.lines] if p.lines is not None else None
    revision_open = _revision_under_way(s)
    if s.is_live and t.running("await_approval"):
        s.budget = budget
        s.order.items = lines if lines is not None else [*s.order.items, *(item_line(i) for i in p.items or [])]
        await_decision(t, budget)
        t.summary_update(f"Budget revised: v{budget.version} of {money(budget.total_cents)} waits for the "
                         "customer's approval")
        return
    if lines is not None:
        # Billing appends a revision's lines to the version it revises (declined ones included).
        known = s.budget.line_count or len(s.order.items) + len(s.declined_lines) + sum(
            len(r.items) for r in s.revisions if r.status == RevisionStatus.APPROVED)
        items = lines[known:]
    else:
        items = [item_line(i) for i in p.items or []]
    if s.is_live and t.running("complete_work") and not s.work_done and not revision_open and items:
        s.revisions.append(Revision(
            number=len(s.revisions) + 1, status=RevisionStatus.PENDING_APPROVAL, queue_id=s.queue_id or "",
            items=items, notes=clip(p.reason), budget_version=budget.version,
            additional_total_cents=items_total(items)))
        s.budget = budget
        t.summary_update(f"Additional repairs: budget v{budget.version} of {money(budget.total_cents)} waits for "
                         "the customer's approval")
        return
    s.foreign_versions.append(budget.version)
    t.send("billing.CancelBudget", c.CancelBudget(budget_id=budget.budget_id,
                                                  reason="The order cannot take a revised budget at this point"))
    t.note(f"budget v{budget.version} cancelled: no decision can be awaited now")


def _revision_under_way(s: SagaInstance) -> bool:
    """One revision at a time: until the last one's budget, parts and payment are settled (or
    undone), a new one would be taken for it (their replies do not say which revision they answer)."""
    revision = s.active_revision
    return (revision is not None and revision.is_open) or s.pending_command(
        "price_extra_items", "revise_budget", "reserve_extra_parts", "request_extra_payment") is not None


def _decision_too_early(s: SagaInstance, p: c.BudgetApproved | c.BudgetClosed) -> bool:
    """A decision on a version whose BudgetCreated has not come yet (it overtook it)."""
    if not s.is_live:
        return False
    if s.budget is None:
        return s.pending_command("create_budget") is not None
    version = p.version
    return p.budget_id == s.budget.budget_id and version > s.budget.version \
        and version not in s.foreign_versions


def _decided_budget(t: Transition, p: c.BudgetApproved | c.BudgetClosed) -> Budget | None:
    """The saga's budget, when a customer's decision is about its version. A decision that came
    before its version did is deferred (handled again later); any other is ignored."""
    s = t.saga
    version = p.version
    if _decision_too_early(s, p):
        t.defer(f"budget v{version} was decided before the saga heard of it")
        return None
    budget = s.budget
    if budget is None or budget.budget_id != p.budget_id or budget.version != version:
        t.ignore(f"budget v{version} is not the one awaited")
        return None
    return budget


def _approved(budget: Budget, p: c.BudgetApproved) -> None:
    """The version as the customer approved it: its total, and the page she pays it on."""
    budget.status = BudgetStatus.APPROVED
    budget.total_cents = p.total_cents if p.total_cents is not None else budget.total_cents
    budget.payment_url = p.payment_url


def on_budget_approved(t: Transition, p: c.BudgetApproved) -> None:
    s = t.saga
    budget = _decided_budget(t, p)
    if budget is None:
        return
    if not s.is_live:
        t.ignore("the saga is not running")
        return
    version = budget.version
    decided = decided_lines(p.lines)
    if t.running("await_approval"):
        _approved(budget, p)
        if decided is not None:
            # Approved line by line: the work, the parts and the payment are the approved lines.
            s.order.items, s.declined_lines = decided
            budget.declined_total_cents = items_total(s.declined_lines)
        t.advance("await_approval")
        return
    revision = s.active_revision
    if revision and revision.status == RevisionStatus.PENDING_APPROVAL and revision.budget_version == version:
        revision.status = RevisionStatus.APPROVED
        _approved(budget, p)
        if p.lines:
            # The revision's own lines are the version's last ones; the earlier keep their decision.
            added = len(revision.items)
            approved, declined = decided_lines(p.lines[-added:]) or ([], [])
            revision.items = approved
            revision.additional_total_cents = p.additional_total_cents if p.additional_total_cents is not None \
                else items_total(approved)
            s.declined_lines = [*s.declined_lines, *declined]
            budget.declined_total_cents = items_total(s.declined_lines)
        extra_parts = part_lines(revision.items)
        if extra_parts:
            t.send("os.ReserveParts", c.PartsCommand(parts=extra_parts), key="reserve_extra_parts",
                   step="complete_work")
        amount = revision.additional_total_cents or 0
        if amount > 0:
            payload = payment_request(t, version, amount,
                                       f"Ordem de serviço {s.order.order_number}: reparos adicionais")
            t.send("billing.RequestPayment", payload, key="request_extra_payment", step="complete_work")
        t.summary_update(f"Additional repairs approved (budget v{version})")
        return
    t.ignore("no decision is awaited")


def on_budget_refused(t: Transition, p: c.BudgetClosed, *, status: BudgetStatus) -> None:
    s = t.saga
    budget = _decided_budget(t, p)
    if budget is None:
        return
    version = budget.version
    reason = p.reason
    if status == BudgetStatus.REJECTED:
        cause = f"Budget rejected by the customer: {reason}" if reason else "Budget rejected by the customer"
        end = EndReason.BUDGET_REJECTED
    else:
        cause = "Budget expired: the customer did not decide in time"
        end = EndReason.BUDGET_EXPIRED
    if s.is_live and t.running("await_approval"):
        budget.status = status
        t.fail_step("await_approval", cause)
        compensate(t, cause, end)
        return
    revision = s.active_revision
    if s.is_live and revision and revision.status == RevisionStatus.PENDING_APPROVAL \
            and revision.budget_version == version:
        revision.status = RevisionStatus(status.value)
        revision.error = cause
        budget.status = status
        t.summary_update(f"Additional repairs not approved ({cause}); the work goes on with what was approved")
        return
    if s.status == SagaStatus.COMPENSATING and s.pending_command("cancel_budget", "cancel_budget:"):
        budget.status = status
        compensation_answered(t, "cancel_budget", "cancel_budget:")
        return
    t.ignore("no decision is awaited")


def on_budget_cancelled(t: Transition, p: c.BudgetCancelled) -> None:
    """Billing cancels the budget's latest version: the answer to any cancellation awaited (a
    blind one included), whichever version that turned out to be."""
    s = t.saga
    if s.budget is not None and s.budget.budget_id != p.budget_id:
        t.ignore("not this saga's budget")
        return
    version = p.version
    if s.budget is not None and version == s.budget.version and version not in s.foreign_versions \
            and s.budget.status != BudgetStatus.CANCELLED:
        s.budget.status = BudgetStatus.CANCELLED
        t.changed = True
    if not compensation_answered(t, "cancel_budget", "cancel_budget:"):
        t.ignore("no cancellation was awaited")


def on_parts_reserved(t: Transition, p: c.PartsMoved) -> None:
    s = t.saga
    parts = merge_part_lines(part_dicts(p.parts))
    pending = s.pending_command("reserve_parts", "reserve_extra_parts")
    if pending is not None and not pending.undo and s.is_live:
        t.answered(pending.key)
        s.reserved_parts = merge_part_lines(s.reserved_parts, parts)
        if pending.key == "reserve_parts":
            t.advance("reserve_parts")
            return
        revision = s.active_revision
        if revision:
            revision.parts_status = "RESERVED"
        consume_if_done(t)
        return
    if pending is not None or is_undoing(s):
        # A reservation the saga no longer wants (it timed out, or the saga turned back, or gave
        # up and released blindly before the reservation landed): give the parts back.
        if pending is not None:
            t.answered(pending.key)
        s.reserved_parts = merge_part_lines(s.reserved_parts, parts)  # held until released
        cancel_late(t, "os.ReleaseParts", c.PartsCommand(parts=parts),
                    f"release_parts:{s.version + 1}.{len(t.commands)}", "reserve_parts")
        maybe_finish_compensation(t)
        return
    t.ignore("no reservation was awaited")


def on_parts_reservation_failed(t: Transition, p: c.PartsReservationFailed) -> None:
    s = t.saga
    missing = ", ".join(f"{m.catalog_id} (requested {m.requested}, available {m.available})" for m in p.missing)
    detail = "; ".join(x for x in (p.reason, f"missing {missing}" if missing else "") if x)
    cause = f"Not enough parts in stock: {detail}" if detail else "Not enough parts in stock"
    pending = s.pending_command("reserve_parts", "reserve_extra_parts")
    if pending is None:
        t.ignore("no reservation was awaited")
        return
    t.answered(pending.key)
    if pending.undo or not s.is_live:
        maybe_finish_compensation(t)  # nothing was reserved: nothing to give back
        return
    if pending.key == "reserve_parts":
        t.fail_step("reserve_parts", cause)
        compensate(t, cause, EndReason.PARTS_UNAVAILABLE)
        return
    revision = s.active_revision
    if revision:
        revision.parts_status = "UNAVAILABLE"
        revision.error = cause
    t.summary_update(f"Additional parts unavailable ({cause}); the work goes on with what was approved")
    consume_if_done(t)


def on_parts_released(t: Transition, p: c.PartsMoved) -> None:
    s = t.saga
    if compensation_answered(t, "release_parts", "release_parts:"):
        # What the OS released (it releases only what it holds) is no longer held for the order.
        s.reserved_parts = subtract_part_lines(s.reserved_parts, part_dicts(p.parts))
        return
    t.ignore("no release was awaited")


def on_parts_consumed(t: Transition, p: c.PartsMoved) -> None:
    s = t.saga
    if (s.is_live and t.answered("consume_parts")) or stuck_answered(t, "consume_parts"):
        s.reserved_parts = []
        if s.is_live:
            t.advance("complete_work")
        return
    t.ignore("no consumption was awaited")


def _payment_of(s: SagaInstance, p: c.PaymentNews) -> tuple[Payment | None, str | None]:
    """The recorded payment this reply is about, or the pending request it answers."""
    payment = s.payment(p.payment_id)
    if payment:
        return payment, None
    for key in ("request_payment", "request_extra_payment"):
        if s.pending_command(key):
            return None, key
    revision = s.active_revision
    if s.status == SagaStatus.COMPLETED and revision and revision.status == RevisionStatus.APPROVED \
            and s.budget and p.budget_id == s.budget.budget_id:
        # The additional payment answered after the work was finished: still the customer's money.
        return None, "request_extra_payment"
    return None, None


def _record_payment(t: Transition, key: str, p: c.PaymentNews, status: PaymentStatus) -> Payment:
    s = t.saga
    pending = s.pending_command(key)
    request = pending.payload if pending else {}
    payment = Payment(payment_id=p.payment_id, purpose="budget" if key == "request_payment" else "revision",
                      budget_version=int(request.get("version") or (s.budget.version if s.budget else 0)),
                      amount_cents=int(p.amount_cents or request.get("amount_cents") or 0), status=status,
                      qr_code=p.qr_code, init_point=p.init_point, mercadopago_payment_id=p.mercadopago_payment_id)
    s.payments.append(payment)
    t.changed = True
    return payment


def _is_undo(s: SagaInstance, key: str) -> bool:
    pending = s.pending_command(key)
    return pending is not None and pending.undo


def _unrequested_payment(t: Transition, command: str, p: c.PaymentNews) -> None:
    """A payment the saga never asked for (or no longer tracks): undo it if the saga turned back."""
    s = t.saga
    if is_undoing(s):
        payment_id = p.payment_id
        key = f"{'refund' if command == 'billing.RefundPayment' else 'cancel'}_payment:{payment_id}"
        if s.pending_command(key) is None:
            cancel_late(t, command, c.UndoPayment(payment_id=payment_id, reason=undo_reason(t)), key,
                        "request_payment")
            return
    t.ignore("no payment was requested")


def _answer_payment_request(t: Transition, key: str, p: c.PaymentNews, status: PaymentStatus) -> Payment | None:
    """Record the payment that answers the request ``key``; None when the saga was already undoing
    that request (the payment is then undone in turn)."""
    undo = _is_undo(t.saga, key)
    payment = _record_payment(t, key, p, status)
    t.answered(key)
    if undo:
        undo_payment(t, payment)
        maybe_finish_compensation(t)
        return None
    return payment


def on_payment_requested(t: Transition, p: c.PaymentNews) -> None:
    s = t.saga
    payment, key = _payment_of(s, p)
    if payment:
        # Approval overtook the request (different queues): keep the status, learn the Pix code.
        if not payment.qr_code and not payment.init_point and (p.qr_code or p.init_point):
            payment.qr_code, payment.init_point = p.qr_code, p.init_point
            payment.mercadopago_payment_id = payment.mercadopago_payment_id or p.mercadopago_payment_id
            t.changed = True
        else:
            t.ignore("payment already known")
        return
    if key is None:
        _unrequested_payment(t, "billing.CancelPayment", p)
        return
    if _answer_payment_request(t, key, p, PaymentStatus.PENDING) is None:
        return
    if key == "request_payment":
        t.advance("request_payment")
        if not (s.budget and s.budget.payment_url):
            # The OS moved to AWAITING_PAYMENT with no page to send the customer to (an approval
            # Billing sent before it named one): tell it the Pix code itself.
            t.summary_update("Payment requested: waiting for the customer to pay")
    else:
        t.summary_update("Additional repairs: payment requested")


def on_payment_approved(t: Transition, p: c.PaymentNews) -> None:
    s = t.saga
    payment, key = _payment_of(s, p)
    if payment is None and key is None:
        _unrequested_payment(t, "billing.RefundPayment", p)
        return
    if payment is None:
        assert key is not None
        payment = _answer_payment_request(t, key, p, PaymentStatus.APPROVED)
        if payment is None:
            return
        if key == "request_payment":
            t.complete_step("request_payment")
            s.step("await_payment").status = StepStatus.RUNNING
            s.step("await_payment").started_at = t.at
            s.step("await_payment").attempts = 1
    elif payment.status == PaymentStatus.APPROVED:
        t.ignore("payment already approved")
        return
    else:
        previous = payment.status
        payment.status = PaymentStatus.APPROVED
        payment.mercadopago_payment_id = payment.mercadopago_payment_id or p.mercadopago_payment_id
        t.changed = True
        if is_undoing(s) or previous != PaymentStatus.PENDING:
            # Approved after we asked to cancel it: the money is in, give it back.
            t.answered(f"cancel_payment:{payment.payment_id}")
            cancel_late(t, "billing.RefundPayment", c.UndoPayment(payment_id=payment.payment_id, reason=undo_reason(t)),
                        f"refund_payment:{payment.payment_id}",
                         "request_payment" if payment.purpose == "budget" else "complete_work")
            return
    if payment.purpose == "budget" and s.is_live and t.running("await_payment"):
        t.advance("await_payment")
    elif payment.purpose == "revision":
        t.answered("request_extra_payment")
        t.summary_update("Additional repairs paid")
    elif s.status == SagaStatus.COMPLETED:
        t.summary_update("Payment approved")


def on_payment_failed(t: Transition, p: c.PaymentNews) -> None:
    s = t.saga
    payment, key = _payment_of(s, p)
    reason = p.reason or p.status or "rejected"
    cause = f"Payment failed: {reason}"
    if payment is None and key is None:
        if not _unknown_payment_undone(t, p, PaymentStatus.CANCELLED):
            t.ignore("no payment was requested")
        return
    if payment is None:
        assert key is not None
        undo = _is_undo(s, key)
        payment = _record_payment(t, key, p, PaymentStatus.FAILED)
        t.answered(key)
        if undo:
            maybe_finish_compensation(t)
            return
    elif payment.status in (PaymentStatus.FAILED, PaymentStatus.CANCELLED, PaymentStatus.REFUNDED):
        if not (compensation_answered(t, f"cancel_payment:{payment.payment_id}")
                or compensation_answered(t, "cancel_payment:blind")):
            t.ignore("payment already closed")
        return
    else:
        payment.status = PaymentStatus.FAILED
        t.changed = True
        if is_undoing(s):
            compensation_answered(t, f"cancel_payment:{payment.payment_id}")
            return
    if not s.is_live:
        t.ignore("saga is not running")
        return
    if payment.purpose == "budget":
        running = next((n for n in ("request_payment", "await_payment") if t.running(n)), None)
        if running is None:
            t.ignore("no payment step is running")
            return
        t.fail_step(running, cause)
        compensate(t, cause, EndReason.PAYMENT_FAILED)
        return
    revision = s.active_revision
    if revision:
        revision.error = cause
    t.summary_update(f"Additional repairs: {cause}; the work goes on with what was approved")


def on_payment_closed(t: Transition, p: c.PaymentNews, *, status: PaymentStatus, key: str) -> None:
    s = t.saga
    if p.duplicate:
        _on_duplicate_refunded(t, p)
        return
    payment = s.payment(p.payment_id)
    if payment is None:
        if not _unknown_payment_undone(t, p, status):
            t.ignore("unknown payment")
        return
    if payment.status in (PaymentStatus.PENDING, PaymentStatus.APPROVED):
        payment.status = status
        t.changed = True
    # The answer to undoing this payment (a cancellation is answered by a refund when the customer
    # had paid meanwhile, and the other way round), or to a blind cancellation that turned out to be it.
    if not (compensation_answered(t, f"cancel_payment:{payment.payment_id}", f"refund_payment:{payment.payment_id}")
            or compensation_answered(t, "cancel_payment:blind")):
        t.ignore(f"no {key} was awaited")


def _news_of_the_job(t: Transition, p: c.WorkCompleted | c.WorkFailed | c.AdditionalRepairReported) -> bool:
    """Whether a mechanic's news is about the job this saga waits on. News that came before the
    saga recorded the job is deferred (handled again later); any other is ignored."""
    s = t.saga
    if s.is_live and t.running("enqueue_work") and p.queue_id == s.queue_id:
        t.defer("the job's news came before the saga recorded the job")
        return False
    if not s.is_live or not t.running("complete_work") or p.queue_id != s.queue_id or s.work_done:
        t.ignore("no job of this saga is being worked on")
        return False
    return True


def _unknown_payment_undone(t: Transition, p: c.PaymentNews, status: PaymentStatus) -> bool:
    """The answer to undoing a payment the saga never recorded (it only heard of it late, or
    cancelled it blindly): recorded, so that what the customer was charged and given back shows."""
    payment_id = p.payment_id
    pending = t.saga.pending_command(f"cancel_payment:{payment_id}", f"refund_payment:{payment_id}") \
        or t.saga.pending_command("cancel_payment:blind")
    if pending is None:
        return False
    purpose = "budget" if pending.step_number == t.step_number("request_payment") else "revision"
    t.saga.payments.append(Payment(
        payment_id=payment_id, purpose=purpose,
        budget_version=int(pending.payload.get("version") or 0), amount_cents=p.amount_cents or 0,
        status=status, mercadopago_payment_id=p.mercadopago_payment_id))
    compensation_answered(t, pending.key)
    return True


def _on_duplicate_refunded(t: Transition, p: c.PaymentNews) -> None:
    """The customer paid twice for one payment (Checkout Pro lets a preference be paid again):
    Billing refunded the second charge; the saga records it beside the payment it duplicated."""
    s = t.saga
    mercadopago_payment_id = p.mercadopago_payment_id
    record_id = f"{p.payment_id}:{mercadopago_payment_id}"
    if s.payment(record_id):
        t.ignore("duplicate payment already recorded")
        return
    original = s.payment(p.payment_id)
    amount = p.amount_cents or 0
    s.payments.append(Payment(payment_id=record_id, purpose="duplicate",
                              budget_version=original.budget_version if original else 0, amount_cents=amount,
                              status=PaymentStatus.REFUNDED, mercadopago_payment_id=mercadopago_payment_id))
    t.summary_update(f"A second payment of {money(amount)} for the same order was refunded")


def on_work_completed(t: Transition, p: c.WorkCompleted) -> None:
    s = t.saga
    if not _news_of_the_job(t, p):
        return
    s.work_done = True
    s.work_notes = p.notes
    s.check_due_at = None  # the job is closed: nothing more to look at
    t.changed = True
    revision = s.active_revision
    if revision and revision.is_open:
        close_revision(t, revision, "The work was finished before the customer decided on the additional repairs")
    consume_if_done(t)


def on_work_failed(t: Transition, p: c.WorkFailed) -> None:
    if not _news_of_the_job(t, p):
        return
    reason = p.reason
    cause = f"Work failed: {reason}" if reason else "Work failed"
    t.fail_step("complete_work", cause)
    compensate(t, cause, EndReason.WORK_FAILED, job_closed=True)


def on_additional_repair(t: Transition, p: c.AdditionalRepairReported) -> None:
    """The mechanic reported catalog items and quantities: the OS prices them (its catalogue,
    never the report), then Billing revises the budget."""
    s = t.saga
    if not _news_of_the_job(t, p):
        return
    if _revision_under_way(s):
        t.ignore("a revision is already under way")
        return
    assert s.budget is not None
    items = [reported_line(i) for i in p.items]
    if not items:
        t.ignore("no items reported")
        return
    s.revisions.append(Revision(number=len(s.revisions) + 1, status=RevisionStatus.REQUESTED,
                                queue_id=p.queue_id, items=items, notes=p.notes))
    t.send("os.PriceItems", c.PriceItems(items=items), key="price_extra_items", step="complete_work")


def _revision_being_priced(t: Transition) -> Revision | None:
    s = t.saga
    revision = s.active_revision
    if not s.is_live or revision is None or revision.status != RevisionStatus.REQUESTED \
            or t.answered("price_extra_items") is None:
        t.ignore("no additional repairs are being priced")
        return None
    return revision


def on_items_priced(t: Transition, p: c.ItemsPriced) -> None:
    revision = _revision_being_priced(t)
    if revision is None:
        return
    assert t.saga.budget is not None
    revision.items = [item_line(i) for i in p.items]
    t.send("billing.ReviseBudget", c.ReviseBudget(budget_id=t.saga.budget.budget_id, items=revision.items,
                                                  reason=clip(revision.notes)
                                                  or "Additional repairs found during the work"),
           key="revise_budget", step="complete_work")


def on_items_pricing_failed(t: Transition, p: c.ItemsPricingFailed) -> None:
    revision = _revision_being_priced(t)
    if revision is None:
        return
    revision.status = RevisionStatus.FAILED
    revision.error = clip(p.reason or "the catalogue could not price them")
    t.summary_update(f"Additional repairs not priced: {revision.error}")
    consume_if_done(t)


def on_order_cancelled(t: Transition, p: c.OrderCancelled) -> None:
    s = t.saga
    reason = p.reason
    cause = f"Service order cancelled: {reason}" if reason else "Service order cancelled"
    if s.is_live:
        s.cancelled_by_os = True
        s.os_status = OsStatus.CANCELLED
        compensate(t, cause, EndReason.CANCELLED_BY_STAFF)
    elif s.status == SagaStatus.COMPENSATING and not s.cancelled_by_os:
        s.cancelled_by_os = True
        s.os_status = OsStatus.CANCELLED
        t.changed = True
    elif s.status in (SagaStatus.COMPLETED, SagaStatus.FAILED) and not s.cancelled_by_os:
        # The cancellation raced the end of the work: the OS cancelled the order before it heard
        # that the work was finished, and a cancelled order keeps none of the customer's money.
        # The parts were used: they stay consumed. The saga compensates the payments (a FAILED
        # one keeps the refunds with what a person retries).
        s.cancelled_by_os = True
        s.os_status = OsStatus.CANCELLED
        if s.status == SagaStatus.COMPLETED:
            s.cause, s.end_reason = cause, EndReason.CANCELLED_BY_STAFF
            s.status, s.finished_at = SagaStatus.COMPENSATING, None
        t.changed = True
        for payment in s.payments:
            undo_payment(t, payment)  # refunds what was paid, cancels what still could be
        t.note("cancelled after the work was finished: payments refunded or cancelled")
        maybe_finish_compensation(t)
    else:
        t.ignore("the saga is over")


on_budget_rejected = partial(on_budget_refused, status=BudgetStatus.REJECTED)
on_budget_expired = partial(on_budget_refused, status=BudgetStatus.EXPIRED)
on_payment_cancelled = partial(on_payment_closed, status=PaymentStatus.CANCELLED, key="cancel_payment")
on_payment_refunded = partial(on_payment_closed, status=PaymentStatus.REFUNDED, key="refund_payment")
