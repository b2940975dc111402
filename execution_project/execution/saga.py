"""The saga of a service order: its steps declared as data, advanced by a pure function.

Given a saga instance and a reply (or event, or the clock), :func:`handle`, :func:`time_out` and
:func:`work_enqueued` return a :class:`Decision`: the new instance, the commands (envelopes) to
send and the local effects (the work-queue job) to run. No I/O happens here; message ids are
derived from the saga id and its version, so the same input always gives the same output.

Steps (CONTRACT.md, "The saga"):
  1 create_budget   billing.CreateBudget -> BudgetCreated        comp. billing.CancelBudget
                    OS -> AWAITING_APPROVAL
  2 await_approval  BudgetApproved; BudgetRejected / BudgetExpired / timeout compensate
  3 reserve_parts   os.ReserveParts -> PartsReserved              comp. os.ReleaseParts
                    PartsReservationFailed compensates; OS -> AWAITING_PAYMENT
  4 request_payment billing.RequestPayment -> PaymentRequested     comp. CancelPayment / RefundPayment
  5 await_payment   PaymentApproved; PaymentFailed / timeout compensate
  6 enqueue_work    the work_queue job (local)                     comp. withdraw the job
                    OS -> IN_EXECUTION once paid
  7 complete_work   WorkCompleted -> os.ConsumeParts -> PartsConsumed: OS -> FINISHED, COMPLETED;
                    WorkFailed compensates
Compensation undoes what was done, newest first; the commands go out together (they touch
independent resources) and the saga is COMPENSATED when every one of them has been confirmed.
"""
from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any

from oficina_common.messages import Envelope, clip

from .domain import (
    FAR_FUTURE,
    NAMESPACE,
    Budget,
    BudgetStatus,
    OsStatus,
    Payment,
    PaymentStatus,
    PendingCommand,
    Revision,
    RevisionStatus,
    SagaInstance,
    SagaStatus,
    ServiceOrder,
    StepState,
    StepStatus,
    iso,
    key_matches,
    merge_part_lines,
    parse_iso,
    part_lines,
    queue_id_for,
)


@dataclass(frozen=True)
class SagaConfig:
    step_timeout: timedelta = timedelta(seconds=60)
    max_attempts: int = 3
    approval_timeout: timedelta = timedelta(days=7)
    approval_grace: timedelta = timedelta(seconds=60)
    payment_timeout: timedelta = timedelta(days=2)
    payment_method: str = "pix"


class OnTimeout(StrEnum):
    RETRY = "RETRY"  # send the step's command again (a new message id, the same meaning)
    EXPIRE = "EXPIRE"  # the wait is over: the step fails and the saga compensates
    WAIT = "WAIT"  # no time limit (a mechanic's job takes what it takes)


@dataclass(frozen=True)
class EnqueueWork:
    queue_id: str


@dataclass(frozen=True)
class WithdrawWork:
    queue_id: str
    priority: int
    reason: str


Effect = EnqueueWork | WithdrawWork


@dataclass
class Decision:
    saga: SagaInstance
    commands: list[Envelope] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    changed: bool = False
    notes: list[str] = field(default_factory=list)
    # Set when the message came before the one it depends on (a decision on a budget version the
    # saga has not heard of yet): nothing changed, and the message must be handled again later.
    deferred: str | None = None

    @property
    def note(self) -> str:
        return "; ".join(self.notes)

    def types(self) -> list[str]:
        return [c.type for c in self.commands]


class InvalidSagaMessage(ValueError):
    """A reply whose payload lacks what the saga needs: logged and dropped."""


LOCAL_ENQUEUE = "local.EnqueueWork"
# Forward commands whose late reply must still be undone once the saga compensates.
UNDOABLE_KEYS = ("create_budget", "reserve_parts", "reserve_extra_parts", "request_payment",
                 "request_extra_payment", "revise_budget")
REVISION_KEYS = ("revise_budget", "reserve_extra_parts", "request_extra_payment")


class _Transition:
    """One decision being made: a private copy of the saga plus what it will send."""

    def __init__(self, saga: SagaInstance, now: datetime, config: SagaConfig, *, fresh: bool = False):
        self.saga = saga if fresh else copy.deepcopy(saga)
        self.now = now
        self.at = iso(now)
        self.config = config
        self.commands: list[Envelope] = []
        self.effects: list[Effect] = []
        self.changed = fresh
        self.notes: list[str] = []
        self.status_change: tuple[str, str] | None = None
        self.job_closed = False  # set while compensating a job the mechanic already failed
        self.deferred: str | None = None

    # --- messages -------------------------------------------------------------------------
    def _envelope(self, type: str, payload: dict[str, Any], message_id: str = "") -> Envelope:
        s = self.saga
        message_id = message_id or str(uuid.uuid5(NAMESPACE, f"{s.execution_id}:{s.version + 1}:{len(self.commands)}"))
        return Envelope(type=type, saga_id=s.execution_id, service_order_id=s.service_order_id,
                        payload=payload, message_id=message_id, occurred_at=self.at)

    def send(self, type: str, payload: dict[str, Any], *, key: str | None = None, awaits: tuple[str, ...] = (),
             step_number: int | None = None) -> None:
        """Send a command; with a ``key`` its reply is awaited (and the sweeper re-sends it)."""
        self.commands.append(self._envelope(type, payload))
        self.changed = True
        if key:
            self.track(key, type, payload, awaits, step_number or self.saga.current_step)

    def track(self, key: str, type: str, payload: dict[str, Any], awaits: tuple[str, ...], step_number: int) -> None:
        previous = self.answered(key)
        sent = self.commands[-1].message_id if self.commands and self.commands[-1].type == type else ""
        self.saga.pending.append(PendingCommand(
            key=key, type=type, payload=payload, awaits=list(awaits), step_number=step_number,
            attempts=(previous.attempts + 1) if previous else 1, due_at=self.due(self.config.step_timeout),
            message_id=sent))
        self.changed = True

    def resend(self, pending: PendingCommand) -> None:
        if pending.type == LOCAL_ENQUEUE:
            self.effects.append(EnqueueWork(pending.payload["queue_id"]))
        else:
            self.commands.append(self._envelope(pending.type, pending.payload, pending.message_id))
        pending.attempts += 1
        pending.due_at = self.due(self.config.step_timeout)
        step = self.saga.step(pending.step_number)
        if step.status == StepStatus.RUNNING and pending.key in _STEP_KEYS:
            step.attempts = pending.attempts
        self.changed = True
        self.note(f"re-sent {pending.type} (attempt {pending.attempts})")

    def answered(self, *keys: str) -> PendingCommand | None:
        """Forget the first pending command with one of these keys (or key prefixes ending in ':')."""
        pending = self.saga.pending_command(*keys)
        if pending is not None:
            self.saga.pending.remove(pending)
            self.changed = True
        return pending

    def set_os_status(self, to: str, reason: str) -> None:
        """Tell the OS (one os.ChangeStatus per decision, built last so its summary is final)."""
        self.saga.os_status = str(to)
        self.status_change = (str(to), reason)
        self.changed = True

    def summary_update(self, reason: str) -> None:
        self.set_os_status(self.saga.os_status, reason)

    # --- steps ----------------------------------------------------------------------------
    def due(self, delta: timedelta) -> str:
        return iso(self.now + delta)

    def start_step(self, number: int) -> None:
        s = self.saga
        step = s.step(number)
        step.status = StepStatus.RUNNING
        step.attempts = 1
        step.started_at = self.at
        step.finished_at = None
        s.current_step = number
        s.wait_due_at = None
        self.changed = True
        definition = SAGA_STEPS[number - 1]
        if definition.os_status_on_start:
            self.set_os_status(definition.os_status_on_start, definition.reason(s))
        if definition.action:
            definition.action(self)

    def complete_step(self, number: int) -> None:
        s = self.saga
        step = s.step(number)
        step.status = StepStatus.COMPLETED
        step.finished_at = self.at
        step.error = None
        if s.status == SagaStatus.PENDING:
            s.status = SagaStatus.IN_PROGRESS
        self.changed = True
        definition = SAGA_STEPS[number - 1]
        if definition.os_status_on_completion:
            self.set_os_status(definition.os_status_on_completion, definition.reason(s))

    def advance(self, number: int) -> None:
        """Step ``number`` is done: start the next one, or finish the saga."""
        self.complete_step(number)
        if number < len(SAGA_STEPS):
            self.start_step(number + 1)
        else:
            self.finish()

    def fail_step(self, number: int, error: str) -> None:
        step = self.saga.step(number)
        step.status = StepStatus.FAILED
        step.error = error
        step.finished_at = self.at
        self.changed = True

    def finish(self) -> None:
        s = self.saga
        s.status = SagaStatus.COMPLETED
        s.finished_at = self.at
        s.pending = []
        s.wait_due_at = None
        self.changed = True

    def note(self, text: str) -> None:
        self.notes.append(text)

    def ignore(self, why: str) -> None:
        self.note(f"ignored: {why}")

    def defer(self, why: str) -> None:
        """Not yet: the message overtook the one it depends on; it is to be handled again later."""
        self.deferred = why
        self.note(f"deferred: {why}")

    # --- result ---------------------------------------------------------------------------
    def decision(self) -> Decision:
        s = self.saga
        if self.status_change:
            to, reason = self.status_change
            self.commands.append(self._envelope("os.ChangeStatus",
                                                {"to": to, "reason": reason, "summary": summary(s)}))
        if self.changed:
            s.updated_at = self.at
            s.deadline = _deadline(s)
        return Decision(saga=s, commands=self.commands, effects=self.effects, changed=self.changed,
                        notes=self.notes, deferred=self.deferred)


def summary(s: SagaInstance) -> dict[str, Any]:
    """What the OS shows of the saga: budget, payment and execution, as far as known."""
    out: dict[str, Any] = {"execution": {"execution_id": s.execution_id, "status": str(s.status),
                                         "current_step": SAGA_STEPS[s.current_step - 1].name}}
    if s.budget:
        out["budget"] = {"budget_id": s.budget.budget_id, "version": s.budget.version,
                         "status": str(s.budget.status), "total_cents": s.budget.total_cents}
    payment = next((p for p in reversed(s.payments) if p.payment_id and p.purpose != "duplicate"), None)
    duplicates = [p for p in s.payments if p.purpose == "duplicate"]
    if duplicates:
        out["duplicate_payments_refunded"] = [{"mercadopago_payment_id": p.mercadopago_payment_id,
                                               "amount_cents": p.amount_cents} for p in duplicates]
    if payment:
        out["payment"] = {"payment_id": payment.payment_id, "status": str(payment.status),
                          "amount_cents": payment.amount_cents, "qr_code": payment.qr_code,
                          "init_point": payment.init_point}
    return out


def _deadline(s: SagaInstance) -> str:
    """When the sweeper must look at this saga again (the StatusIndex range key)."""
    if s.is_terminal:
        return s.finished_at or s.updated_at
    candidates = [p.due_at for p in s.pending]
    if s.is_live and s.wait_due_at and SAGA_STEPS[s.current_step - 1].on_timeout == OnTimeout.EXPIRE:
        candidates.append(s.wait_due_at)
    return min(candidates) if candidates else FAR_FUTURE


# --- step actions ----------------------------------------------------------------------------
def _cause(t: _Transition) -> str:
    """Why the saga undoes things, as a command carries it: cut to what every receiver stores, so
    that a long reason (an attendant's, a mechanic's) never gets a compensation refused."""
    return clip(t.saga.cause)


def _create_budget(t: _Transition) -> None:
    o = t.saga.order
    t.send("billing.CreateBudget", {
        "customer_id": o.customer_id, "customer_name": o.customer_name, "customer_email": o.customer_email,
        "order_number": o.order_number, "tracking_url": o.tracking_url, "items": o.items,
    }, key="create_budget", awaits=("billing.BudgetCreated",), step_number=1)


def _reserve_parts(t: _Transition) -> None:
    parts = part_lines(t.saga.order.items)
    if not parts:
        t.note("no parts to reserve")
        t.advance(3)
        return
    t.send("os.ReserveParts", {"parts": parts}, key="reserve_parts",
           awaits=("os.PartsReserved", "os.PartsReservationFailed"), step_number=3)


def _payment_request(t: _Transition, version: int, amount_cents: int, description: str) -> dict[str, Any]:
    s = t.saga
    assert s.budget is not None
    return {"budget_id": s.budget.budget_id, "version": version, "amount_cents": amount_cents,
            "method": t.config.payment_method, "payer_email": s.order.customer_email, "description": description}


def _request_payment(t: _Transition) -> None:
    s = t.saga
    assert s.budget is not None
    payload = _payment_request(t, s.budget.version, s.budget.total_cents,
                               f"Ordem de serviço {s.order.order_number}")
    t.send("billing.RequestPayment", payload, key="request_payment",
           awaits=("billing.PaymentRequested", "billing.PaymentApproved", "billing.PaymentFailed"), step_number=4)


def _await_payment(t: _Transition) -> None:
    t.saga.wait_due_at = t.due(t.config.payment_timeout)


def _enqueue_work(t: _Transition) -> None:
    s = t.saga
    s.queue_id = queue_id_for(s.execution_id)
    t.effects.append(EnqueueWork(s.queue_id))
    t.track("enqueue_work", LOCAL_ENQUEUE, {"queue_id": s.queue_id}, (), 6)


# --- compensations (each checks what was really done before it acts) --------------------------
def _cancel_budget(t: _Transition) -> None:
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
        t.send("billing.CancelBudget", {"budget_id": budget.budget_id, "reason": _cause(t)},
               key="cancel_budget", step_number=1,
               awaits=("billing.BudgetCancelled", "billing.BudgetRejected", "billing.BudgetExpired"))


def _release_parts(t: _Transition) -> None:
    s = t.saga
    if s.reserved_parts:
        t.send("os.ReleaseParts", {"parts": s.reserved_parts}, key="release_parts", awaits=("os.PartsReleased",),
               step_number=3)


def _cancel_or_refund_payments(t: _Transition) -> None:
    for payment in t.saga.payments:
        _undo_payment(t, payment)


def _undo_payment(t: _Transition, payment: Payment) -> None:
    """Give the customer's money back (refund), or make sure none comes (cancel). Awaited while
    the saga compensates; a saga that goes on (a revision's payment it gave up on) or is over
    sends it and forgets (Billing answers, and a repeat undoes nothing twice)."""
    if not payment.payment_id:
        return
    step_number = 4 if payment.purpose == "budget" else 7
    payload = {"payment_id": payment.payment_id, "reason": _cause(t)}
    if payment.status == PaymentStatus.APPROVED:
        _cancel_late(t, "billing.RefundPayment", payload, f"refund_payment:{payment.payment_id}",
                     ("billing.PaymentRefunded",), step_number)
    elif payment.status == PaymentStatus.PENDING:
        _cancel_late(t, "billing.CancelPayment", payload, f"cancel_payment:{payment.payment_id}",
                     ("billing.PaymentCancelled", "billing.PaymentFailed", "billing.PaymentApproved"), step_number)


def _withdraw_work(t: _Transition) -> None:
    s = t.saga
    if s.queue_id and not t.job_closed:
        t.effects.append(WithdrawWork(s.queue_id, s.order.priority, s.cause or ""))


@dataclass(frozen=True)
class SagaStep:
    number: int
    name: str
    action: Callable[[_Transition], None] | None
    compensation: Callable[[_Transition], None] | None
    timeout: str | None  # the SagaConfig attribute bounding the step
    on_timeout: OnTimeout
    os_status_on_start: OsStatus | None = None
    os_status_on_completion: OsStatus | None = None
    describe: str = ""

    def reason(self, saga: SagaInstance) -> str:
        return _REASONS[self.name](saga)


SAGA_STEPS: tuple[SagaStep, ...] = (
    SagaStep(1, "create_budget", _create_budget, _cancel_budget, "step_timeout", OnTimeout.RETRY,
             os_status_on_completion=OsStatus.AWAITING_APPROVAL,
             describe="billing.CreateBudget; comp. billing.CancelBudget"),
    SagaStep(2, "await_approval", None, None, "approval_timeout", OnTimeout.EXPIRE,
             describe="wait for the customer's decision; rejection or expiry compensates"),
    SagaStep(3, "reserve_parts", _reserve_parts, _release_parts, "step_timeout", OnTimeout.RETRY,
             os_status_on_completion=OsStatus.AWAITING_PAYMENT,
             describe="os.ReserveParts; comp. os.ReleaseParts; no stock compensates"),
    SagaStep(4, "request_payment", _request_payment, _cancel_or_refund_payments, "step_timeout", OnTimeout.RETRY,
             describe="billing.RequestPayment; comp. billing.CancelPayment or billing.RefundPayment"),
    SagaStep(5, "await_payment", _await_payment, None, "payment_timeout", OnTimeout.EXPIRE,
             describe="wait for billing.PaymentApproved; failure or expiry compensates"),
    SagaStep(6, "enqueue_work", _enqueue_work, _withdraw_work, "step_timeout", OnTimeout.RETRY,
             os_status_on_start=OsStatus.IN_EXECUTION, describe="a job in the work queue; comp. withdraw it"),
    SagaStep(7, "complete_work", None, None, None, OnTimeout.WAIT, os_status_on_completion=OsStatus.FINISHED,
             describe="a mechanic completes the job; os.ConsumeParts; failure compensates"),
)
STEP_NAMES = {s.number: s.name for s in SAGA_STEPS}
# The pending command that carries each step's own action (its attempts are the step's).
_STEP_KEYS = {"create_budget", "reserve_parts", "request_payment", "enqueue_work", "consume_parts"}


def _money(cents: int) -> str:
    return f"R$ {cents / 100:.2f}".replace(".", ",")


_REASONS: dict[str, Callable[[SagaInstance], str]] = {
    "create_budget": lambda s: (f"Budget v{s.budget.version} of {_money(s.budget.total_cents)} waits for the "
                                "customer's approval") if s.budget else "Budget created",
    "await_approval": lambda s: "Budget approved",
    "reserve_parts": lambda s: "Budget approved; waiting for the payment",
    "request_payment": lambda s: "Payment requested",
    "await_payment": lambda s: "Payment approved",
    "enqueue_work": lambda s: "Payment approved; the job is in the mechanics' queue",
    "complete_work": lambda s: f"Work completed: {s.work_notes}" if s.work_notes else "Work completed",
}


# --- compensation ----------------------------------------------------------------------------
def _compensate(t: _Transition, cause: str, *, job_closed: bool = False) -> None:
    s = t.saga
    s.status = SagaStatus.COMPENSATING
    s.cause = cause
    s.compensation_attempts = 1
    s.wait_due_at = None
    for pending in list(s.pending):
        if pending.key in UNDOABLE_KEYS:
            pending.undo = True
        else:
            s.pending.remove(pending)
    t.job_closed = job_closed
    for step in reversed(SAGA_STEPS):
        if step.compensation:
            step.compensation(t)
    for state in s.steps:
        if state.status == StepStatus.RUNNING:
            state.status = StepStatus.FAILED
            state.error = state.error or f"Interrupted: {cause}"
            state.finished_at = t.at
        elif state.status == StepStatus.COMPLETED and not _compensation_pending(s, state.step_number):
            state.status = StepStatus.COMPENSATED
    t.changed = True
    t.note(f"compensating: {cause}")
    _maybe_finish_compensation(t, announce=False)
    if not s.cancelled_by_os:
        t.set_os_status(OsStatus.CANCELLED, cause)


def _compensation_pending(s: SagaInstance, step_number: int) -> bool:
    return any(p.step_number == step_number and not p.undo for p in s.pending)


def _compensation_answered(t: _Transition, *keys: str) -> bool:
    pending = t.answered(*keys) or _stuck_answered(t, *keys)
    if pending is None:
        return False
    state = t.saga.step(pending.step_number)
    if state.status == StepStatus.COMPLETED and not _compensation_pending(t.saga, pending.step_number):
        state.status = StepStatus.COMPENSATED
    _maybe_finish_compensation(t)
    return True


def _stuck_answered(t: _Transition, *keys: str) -> PendingCommand | None:
    """A FAILED saga hears from a participant it had given up on: the command is confirmed after
    all, and once none is left unconfirmed the saga goes on compensating (and is over)."""
    s = t.saga
    pending = next((p for p in s.stuck if key_matches(p.key, keys)), None) if s.status == SagaStatus.FAILED else None
    if pending is None:
        return None
    s.stuck.remove(pending)
    t.changed = True
    if not s.stuck and s.failed_while == SagaStatus.COMPENSATING:
        s.status, s.failed_while, s.finished_at = SagaStatus.COMPENSATING, None, None
        t.note("every unconfirmed compensation is confirmed now")
    return pending


def _maybe_finish_compensation(t: _Transition, *, announce: bool = True) -> None:
    s = t.saga
    if s.status != SagaStatus.COMPENSATING or s.pending:
        return
    s.status = SagaStatus.COMPENSATED
    s.finished_at = t.at
    t.changed = True
    t.note("compensated")
    if announce and not s.cancelled_by_os:
        # The OS is CANCELLED already: this only updates the summary it shows.
        t.set_os_status(OsStatus.CANCELLED, s.cause or "Cancelled")


def _is_undoing(s: SagaInstance) -> bool:
    return s.status in (SagaStatus.COMPENSATING, SagaStatus.COMPENSATED, SagaStatus.FAILED)


# --- replies ---------------------------------------------------------------------------------
def _on_budget_created(t: _Transition, p: dict[str, Any]) -> None:
    s = t.saga
    budget = Budget(budget_id=str(p["budget_id"]), version=int(p["version"]), status=BudgetStatus.PENDING_APPROVAL,
                    total_cents=int(p["total_cents"]), expires_at=p.get("expires_at"))
    if p.get("revision"):
        _on_revision_created(t, budget, p)
        return
    if _is_undoing(s):
        if t.answered("create_budget") or s.budget is None:
            # Created after the saga gave up: cancel it too.
            s.budget = budget
            _cancel_late(t, "billing.CancelBudget", {"budget_id": budget.budget_id, "reason": _cause(t)},
                         f"cancel_budget:{budget.budget_id}:v{budget.version}", ("billing.BudgetCancelled",), 1)
        else:
            t.ignore("budget created while compensating")
        return
    if not s.is_live or s.step(1).status != StepStatus.RUNNING:
        t.ignore("no budget is being created")
        return
    t.answered("create_budget")
    s.budget = budget
    t.advance(1)
    _await_decision(t, budget)


def _await_decision(t: _Transition, budget: Budget) -> None:
    """The customer has until the budget expires (plus a grace), at most the approval timeout."""
    deadline = t.now + t.config.approval_timeout
    if budget.expires_at:
        try:
            deadline = min(deadline, parse_iso(budget.expires_at) + t.config.approval_grace)
        except ValueError:
            pass
    t.saga.wait_due_at = iso(max(deadline, t.now))


def _cancel_late(t: _Transition, type: str, payload: dict[str, Any], key: str, awaits: tuple[str, ...],
                 step_number: int) -> None:
    """Undo something a participant did after the saga started compensating (or ended)."""
    if t.saga.status == SagaStatus.COMPENSATING:
        t.send(type, payload, key=key, awaits=awaits, step_number=step_number)
    else:
        t.send(type, payload)  # the saga goes on or is over: fire and forget
    t.note(f"undone with {type}")


def _on_revision_created(t: _Transition, budget: Budget, p: dict[str, Any]) -> None:
    s = t.saga
    revision = s.active_revision
    pending = s.pending_command("revise_budget")
    if revision is None or revision.status != RevisionStatus.REQUESTED or pending is None \
            or p.get("origin") == "staff":
        _on_staff_revision(t, budget, p)
        return
    t.answered("revise_budget")
    if pending.undo:
        _cancel_late(t, "billing.CancelBudget", {"budget_id": budget.budget_id, "reason": _cause(t)},
                     f"cancel_budget:{budget.budget_id}:v{budget.version}", ("billing.BudgetCancelled",), 7)
        _maybe_finish_compensation(t)
        return
    revision.status = RevisionStatus.PENDING_APPROVAL
    revision.budget_version = budget.version
    additional = p.get("additional_total_cents")
    revision.additional_total_cents = int(additional) if additional is not None else _items_total(revision.items)
    s.budget = budget
    t.summary_update(f"Additional repairs: budget v{budget.version} of {_money(budget.total_cents)} waits for the "
                     "customer's approval")


def _on_staff_revision(t: _Transition, budget: Budget, p: dict[str, Any]) -> None:
    """A version the workshop made through Billing's API: while the customer decides, it replaces
    the version awaited; during the work it is additional repairs awaiting the customer. At any
    other moment no decision can be awaited, so the version is cancelled before anyone approves
    what would never be charged."""
    s = t.saga
    if s.budget is None or budget.budget_id != s.budget.budget_id or budget.version <= s.budget.version \
            or budget.version in s.foreign_versions:
        t.ignore(f"budget v{budget.version} is not a newer version of this saga's budget")
        return
    items = [_item(i) for i in p.get("items") or []]
    revision = s.active_revision
    revision_open = revision is not None and revision.status in (RevisionStatus.REQUESTED,
                                                                  RevisionStatus.PENDING_APPROVAL)
    if s.is_live and s.step(2).status == StepStatus.RUNNING:
        s.budget = budget
        s.order.items = [*s.order.items, *items]
        _await_decision(t, budget)
        t.summary_update(f"Budget revised: v{budget.version} of {_money(budget.total_cents)} waits for the "
                         "customer's approval")
        return
    if s.is_live and s.step(7).status == StepStatus.RUNNING and not s.work_done and not revision_open and items:
        additional = p.get("additional_total_cents")
        s.revisions.append(Revision(
            number=len(s.revisions) + 1, status=RevisionStatus.PENDING_APPROVAL, queue_id=s.queue_id or "",
            items=items, notes=clip(str(p.get("reason") or "")), budget_version=budget.version,
            additional_total_cents=int(additional) if additional is not None else _items_total(items)))
        s.budget = budget
        t.summary_update(f"Additional repairs: budget v{budget.version} of {_money(budget.total_cents)} waits for "
                         "the customer's approval")
        return
    s.foreign_versions.append(budget.version)
    t.send("billing.CancelBudget", {"budget_id": budget.budget_id,
                                    "reason": "The order cannot take a revised budget at this point"})
    t.note(f"budget v{budget.version} cancelled: no decision can be awaited now")


def _decision_too_early(s: SagaInstance, p: dict[str, Any]) -> bool:
    """A decision on a version whose BudgetCreated has not come yet (it overtook it)."""
    if not s.is_live:
        return False
    if s.budget is None:
        return s.pending_command("create_budget") is not None
    version = int(p["version"])
    return str(p["budget_id"]) == s.budget.budget_id and version > s.budget.version \
        and version not in s.foreign_versions


def _items_total(items: list[dict[str, Any]]) -> int:
    return sum(int(i["quantity"]) * int(i["unit_price_cents"]) for i in items)


def _on_budget_approved(t: _Transition, p: dict[str, Any]) -> None:
    s = t.saga
    version = int(p["version"])
    if _decision_too_early(s, p):
        t.defer(f"budget v{version} was decided before the saga heard of it")
        return
    budget = s.budget
    if not s.is_live or budget is None or budget.budget_id != str(p["budget_id"]) or budget.version != version:
        t.ignore(f"budget v{version} is not the one awaited")
        return
    if s.step(2).status == StepStatus.RUNNING:
        budget.status = BudgetStatus.APPROVED
        budget.total_cents = int(p.get("total_cents", budget.total_cents))
        t.advance(2)
        return
    revision = s.active_revision
    if revision and revision.status == RevisionStatus.PENDING_APPROVAL and revision.budget_version == version:
        revision.status = RevisionStatus.APPROVED
        budget.status = BudgetStatus.APPROVED
        budget.total_cents = int(p.get("total_cents", budget.total_cents))
        extra_parts = part_lines(revision.items)
        if extra_parts:
            t.send("os.ReserveParts", {"parts": extra_parts}, key="reserve_extra_parts", step_number=7,
                   awaits=("os.PartsReserved", "os.PartsReservationFailed"))
        amount = revision.additional_total_cents or 0
        if amount > 0:
            payload = _payment_request(t, version, amount,
                                       f"Ordem de serviço {s.order.order_number}: reparos adicionais")
            t.send("billing.RequestPayment", payload, key="request_extra_payment", step_number=7,
                   awaits=("billing.PaymentRequested", "billing.PaymentApproved", "billing.PaymentFailed"))
        t.summary_update(f"Additional repairs approved (budget v{version})")
        return
    t.ignore("no decision is awaited")


def _on_budget_refused(t: _Transition, p: dict[str, Any], *, status: BudgetStatus) -> None:
    s = t.saga
    version = int(p["version"])
    if _decision_too_early(s, p):
        t.defer(f"budget v{version} was decided before the saga heard of it")
        return
    budget = s.budget
    if budget is None or budget.budget_id != str(p["budget_id"]) or budget.version != version:
        t.ignore(f"budget v{version} is not the one awaited")
        return
    reason = str(p.get("reason") or "")
    if status == BudgetStatus.REJECTED:
        cause = f"Budget rejected by the customer: {reason}" if reason else "Budget rejected by the customer"
    else:
        cause = "Budget expired: the customer did not decide in time"
    if s.is_live and s.step(2).status == StepStatus.RUNNING:
        budget.status = status
        t.fail_step(2, cause)
        _compensate(t, cause)
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
        _compensation_answered(t, "cancel_budget", "cancel_budget:")
        return
    t.ignore("no decision is awaited")


def _on_budget_cancelled(t: _Transition, p: dict[str, Any]) -> None:
    """Billing cancels the budget's latest version: the answer to any cancellation awaited (a
    blind one included), whichever version that turned out to be."""
    s = t.saga
    if s.budget is not None and s.budget.budget_id != str(p["budget_id"]):
        t.ignore("not this saga's budget")
        return
    version = int(p.get("version") or 0)
    if s.budget is not None and version == s.budget.version and version not in s.foreign_versions \
            and s.budget.status != BudgetStatus.CANCELLED:
        s.budget.status = BudgetStatus.CANCELLED
        t.changed = True
    if not _compensation_answered(t, "cancel_budget", "cancel_budget:"):
        t.ignore("no cancellation was awaited")


def _on_parts_reserved(t: _Transition, p: dict[str, Any]) -> None:
    s = t.saga
    parts = merge_part_lines(list(p.get("parts") or []))
    pending = s.pending_command("reserve_parts", "reserve_extra_parts")
    if pending is not None and not pending.undo and s.is_live:
        t.answered(pending.key)
        s.reserved_parts = merge_part_lines(s.reserved_parts, parts)
        if pending.key == "reserve_parts":
            t.advance(3)
            return
        revision = s.active_revision
        if revision:
            revision.parts_status = "RESERVED"
        _consume_if_done(t)
        return
    if pending is not None or _is_undoing(s):
        # A reservation the saga no longer wants (it timed out, or the saga turned back, or gave
        # up and released blindly before the reservation landed): give the parts back.
        if pending is not None:
            t.answered(pending.key)
        if s.status == SagaStatus.COMPENSATING:
            s.reserved_parts = merge_part_lines(s.reserved_parts, parts)
        _cancel_late(t, "os.ReleaseParts", {"parts": parts}, f"release_parts:{s.version + 1}.{len(t.commands)}",
                     ("os.PartsReleased",), 3)
        _maybe_finish_compensation(t)
        return
    t.ignore("no reservation was awaited")


def _on_parts_reservation_failed(t: _Transition, p: dict[str, Any]) -> None:
    s = t.saga
    missing = ", ".join(f"{m.get('catalog_id')} (requested {m.get('requested')}, available {m.get('available')})"
                        for m in p.get("missing") or [])
    detail = "; ".join(x for x in (str(p.get("reason") or ""), f"missing {missing}" if missing else "") if x)
    cause = f"Not enough parts in stock: {detail}" if detail else "Not enough parts in stock"
    pending = s.pending_command("reserve_parts", "reserve_extra_parts")
    if pending is None:
        t.ignore("no reservation was awaited")
        return
    t.answered(pending.key)
    if pending.undo or not s.is_live:
        _maybe_finish_compensation(t)  # nothing was reserved: nothing to give back
        return
    if pending.key == "reserve_parts":
        t.fail_step(3, cause)
        _compensate(t, cause)
        return
    revision = s.active_revision
    if revision:
        revision.parts_status = "UNAVAILABLE"
        revision.error = cause
    t.summary_update(f"Additional parts unavailable ({cause}); the work goes on with what was approved")
    _consume_if_done(t)


def _on_parts_released(t: _Transition, p: dict[str, Any]) -> None:
    s = t.saga
    if _compensation_answered(t, "release_parts", "release_parts:"):
        s.reserved_parts = []
        return
    t.ignore("no release was awaited")


def _on_parts_consumed(t: _Transition, p: dict[str, Any]) -> None:
    s = t.saga
    if s.is_live and t.answered("consume_parts"):
        s.reserved_parts = []
        t.advance(7)
        return
    t.ignore("no consumption was awaited")


def _consume_if_done(t: _Transition) -> None:
    """The job is done and no extra reservation is outstanding: consume the parts, or finish."""
    s = t.saga
    if not s.work_done or any(p.key in ("reserve_extra_parts", "consume_parts") and not p.undo for p in s.pending):
        return
    if s.reserved_parts:
        t.send("os.ConsumeParts", {"parts": s.reserved_parts}, key="consume_parts", awaits=("os.PartsConsumed",),
               step_number=7)
    else:
        t.advance(7)


def _payment_of(s: SagaInstance, p: dict[str, Any]) -> tuple[Payment | None, str | None]:
    """The recorded payment this reply is about, or the pending request it answers."""
    payment = s.payment(str(p["payment_id"]))
    if payment:
        return payment, None
    for key in ("request_payment", "request_extra_payment"):
        if s.pending_command(key):
            return None, key
    revision = s.active_revision
    if s.status == SagaStatus.COMPLETED and revision and revision.status == RevisionStatus.APPROVED \
            and s.budget and str(p.get("budget_id")) == s.budget.budget_id:
        # The additional payment answered after the work was finished: still the customer's money.
        return None, "request_extra_payment"
    return None, None


def _record_payment(t: _Transition, key: str, p: dict[str, Any], status: PaymentStatus) -> Payment:
    s = t.saga
    pending = s.pending_command(key)
    request = pending.payload if pending else {}
    payment = Payment(payment_id=str(p["payment_id"]), purpose="budget" if key == "request_payment" else "revision",
                      budget_version=int(request.get("version") or (s.budget.version if s.budget else 0)),
                      amount_cents=int(p.get("amount_cents") or request.get("amount_cents") or 0), status=status,
                      qr_code=p.get("qr_code"), init_point=p.get("init_point"),
                      mercadopago_payment_id=_str_or_none(p.get("mercadopago_payment_id")))
    s.payments.append(payment)
    t.changed = True
    return payment


def _is_undo(s: SagaInstance, key: str) -> bool:
    pending = s.pending_command(key)
    return pending is not None and pending.undo


def _str_or_none(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _unrequested_payment(t: _Transition, command: str, p: dict[str, Any]) -> None:
    """A payment the saga never asked for (or no longer tracks): undo it if the saga turned back."""
    s = t.saga
    if _is_undoing(s):
        payment_id = str(p["payment_id"])
        key = f"{'refund' if command == 'billing.RefundPayment' else 'cancel'}_payment:{payment_id}"
        if s.pending_command(key) is None:
            _cancel_late(t, command, {"payment_id": payment_id, "reason": _cause(t)}, key,
                         ("billing.PaymentRefunded", "billing.PaymentCancelled", "billing.PaymentFailed"), 4)
            return
    t.ignore("no payment was requested")


def _answer_payment_request(t: _Transition, key: str, p: dict[str, Any], status: PaymentStatus) -> Payment | None:
    """Record the payment that answers the request ``key``; None when the saga was already undoing
    that request (the payment is then undone in turn)."""
    undo = _is_undo(t.saga, key)
    payment = _record_payment(t, key, p, status)
    t.answered(key)
    if undo:
        _undo_payment(t, payment)
        _maybe_finish_compensation(t)
        return None
    return payment


def _on_payment_requested(t: _Transition, p: dict[str, Any]) -> None:
    s = t.saga
    payment, key = _payment_of(s, p)
    if payment:
        # Approval overtook the request (different queues): keep the status, learn the Pix code.
        if not payment.qr_code and not payment.init_point and (p.get("qr_code") or p.get("init_point")):
            payment.qr_code, payment.init_point = p.get("qr_code"), p.get("init_point")
            payment.mercadopago_payment_id = payment.mercadopago_payment_id or _str_or_none(
                p.get("mercadopago_payment_id"))
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
        t.advance(4)
        t.summary_update("Payment requested: waiting for the customer to pay")
    else:
        t.summary_update("Additional repairs: payment requested")


def _on_payment_approved(t: _Transition, p: dict[str, Any]) -> None:
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
            t.complete_step(4)
            s.step(5).status = StepStatus.RUNNING
            s.step(5).started_at = t.at
            s.step(5).attempts = 1
    elif payment.status == PaymentStatus.APPROVED:
        t.ignore("payment already approved")
        return
    else:
        previous = payment.status
        payment.status = PaymentStatus.APPROVED
        payment.mercadopago_payment_id = payment.mercadopago_payment_id or _str_or_none(
            p.get("mercadopago_payment_id"))
        t.changed = True
        if _is_undoing(s) or previous != PaymentStatus.PENDING:
            # Approved after we asked to cancel it: the money is in, give it back.
            t.answered(f"cancel_payment:{payment.payment_id}")
            _cancel_late(t, "billing.RefundPayment", {"payment_id": payment.payment_id, "reason": _cause(t)},
                         f"refund_payment:{payment.payment_id}", ("billing.PaymentRefunded",),
                         4 if payment.purpose == "budget" else 7)
            return
    if payment.purpose == "budget" and s.is_live and s.step(5).status == StepStatus.RUNNING:
        t.advance(5)
    elif payment.purpose == "revision":
        t.answered("request_extra_payment")
        t.summary_update("Additional repairs paid")
    elif s.status == SagaStatus.COMPLETED:
        t.summary_update("Payment approved")


def _on_payment_failed(t: _Transition, p: dict[str, Any]) -> None:
    s = t.saga
    payment, key = _payment_of(s, p)
    reason = str(p.get("reason") or p.get("status") or "rejected")
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
            _maybe_finish_compensation(t)
            return
    elif payment.status in (PaymentStatus.FAILED, PaymentStatus.CANCELLED, PaymentStatus.REFUNDED):
        if not (_compensation_answered(t, f"cancel_payment:{payment.payment_id}")
                or _compensation_answered(t, "cancel_payment:blind")):
            t.ignore("payment already closed")
        return
    else:
        payment.status = PaymentStatus.FAILED
        t.changed = True
        if _is_undoing(s):
            _compensation_answered(t, f"cancel_payment:{payment.payment_id}")
            return
    if not s.is_live:
        t.ignore("saga is not running")
        return
    if payment.purpose == "budget":
        running = next((n for n in (4, 5) if s.step(n).status == StepStatus.RUNNING), None)
        if running is None:
            t.ignore("no payment step is running")
            return
        t.fail_step(running, cause)
        _compensate(t, cause)
        return
    revision = s.active_revision
    if revision:
        revision.error = cause
    t.summary_update(f"Additional repairs: {cause}; the work goes on with what was approved")


def _on_payment_closed(t: _Transition, p: dict[str, Any], *, status: PaymentStatus, key: str) -> None:
    s = t.saga
    if p.get("duplicate"):
        _on_duplicate_refunded(t, p)
        return
    payment = s.payment(str(p["payment_id"]))
    if payment is None:
        if not _unknown_payment_undone(t, p, status):
            t.ignore("unknown payment")
        return
    if payment.status in (PaymentStatus.PENDING, PaymentStatus.APPROVED):
        payment.status = status
        t.changed = True
    # The answer to undoing this payment (a cancellation is answered by a refund when the customer
    # had paid meanwhile, and the other way round), or to a blind cancellation that turned out to be it.
    if not (_compensation_answered(t, f"cancel_payment:{payment.payment_id}", f"refund_payment:{payment.payment_id}")
            or _compensation_answered(t, "cancel_payment:blind")):
        t.ignore(f"no {key} was awaited")


def _job_not_recorded_yet(t: _Transition, p: dict[str, Any]) -> bool:
    """News of the saga's job before the saga recorded that the job is queued: handle it later."""
    s = t.saga
    if s.is_live and s.step(6).status == StepStatus.RUNNING and str(p["queue_id"]) == s.queue_id:
        t.defer("the job's news came before the saga recorded the job")
        return True
    return False


def _unknown_payment_undone(t: _Transition, p: dict[str, Any], status: PaymentStatus) -> bool:
    """The answer to undoing a payment the saga never recorded (it only heard of it late, or
    cancelled it blindly): recorded, so that what the customer was charged and given back shows."""
    payment_id = str(p["payment_id"])
    pending = t.saga.pending_command(f"cancel_payment:{payment_id}", f"refund_payment:{payment_id}") \
        or t.saga.pending_command("cancel_payment:blind")
    if pending is None:
        return False
    t.saga.payments.append(Payment(
        payment_id=payment_id, purpose="budget" if pending.step_number == 4 else "revision",
        budget_version=int(pending.payload.get("version") or 0), amount_cents=int(p.get("amount_cents") or 0),
        status=status, mercadopago_payment_id=_str_or_none(p.get("mercadopago_payment_id"))))
    _compensation_answered(t, pending.key)
    return True


def _on_duplicate_refunded(t: _Transition, p: dict[str, Any]) -> None:
    """The customer paid twice for one payment (Checkout Pro lets a preference be paid again):
    Billing refunded the second charge; the saga records it beside the payment it duplicated."""
    s = t.saga
    mercadopago_payment_id = _str_or_none(p.get("mercadopago_payment_id"))
    record_id = f"{p['payment_id']}:{mercadopago_payment_id}"
    if s.payment(record_id):
        t.ignore("duplicate payment already recorded")
        return
    original = s.payment(str(p["payment_id"]))
    amount = int(p.get("amount_cents") or 0)
    s.payments.append(Payment(payment_id=record_id, purpose="duplicate",
                              budget_version=original.budget_version if original else 0, amount_cents=amount,
                              status=PaymentStatus.REFUNDED, mercadopago_payment_id=mercadopago_payment_id))
    t.summary_update(f"A second payment of {_money(amount)} for the same order was refunded")


def _on_work_completed(t: _Transition, p: dict[str, Any]) -> None:
    s = t.saga
    if _job_not_recorded_yet(t, p):
        return
    if not s.is_live or s.step(7).status != StepStatus.RUNNING or str(p["queue_id"]) != s.queue_id or s.work_done:
        t.ignore("no job of this saga is being worked on")
        return
    s.work_done = True
    s.work_notes = str(p.get("notes") or "")
    t.changed = True
    revision = s.active_revision
    if revision and revision.status in (RevisionStatus.REQUESTED, RevisionStatus.PENDING_APPROVAL):
        _close_revision(t, revision, "The work was finished before the customer decided on the additional repairs")
    _consume_if_done(t)


def _close_revision(t: _Transition, revision: Revision, error: str) -> None:
    """A revision that can no longer be done: it is never reserved nor charged, and its budget
    version is cancelled so that the customer is not asked to approve it any more."""
    s = t.saga
    revision.status = RevisionStatus.FAILED
    revision.error = error
    t.changed = True
    requested = s.pending_command("revise_budget")
    if requested is not None and not requested.undo:
        _stop_awaiting(t, requested)  # the version Billing makes for it is cancelled when it comes
    if revision.budget_version and s.budget:
        s.foreign_versions.append(revision.budget_version)
        t.send("billing.CancelBudget", {"budget_id": s.budget.budget_id, "reason": clip(error)})
    t.note(error)


def _on_work_failed(t: _Transition, p: dict[str, Any]) -> None:
    s = t.saga
    if _job_not_recorded_yet(t, p):
        return
    if not s.is_live or s.step(7).status != StepStatus.RUNNING or str(p["queue_id"]) != s.queue_id or s.work_done:
        t.ignore("no job of this saga is being worked on")
        return
    reason = str(p.get("reason") or "")
    cause = f"Work failed: {reason}" if reason else "Work failed"
    t.fail_step(7, cause)
    _compensate(t, cause, job_closed=True)


def _on_additional_repair(t: _Transition, p: dict[str, Any]) -> None:
    s = t.saga
    if _job_not_recorded_yet(t, p):
        return
    if not s.is_live or s.step(7).status != StepStatus.RUNNING or str(p["queue_id"]) != s.queue_id or s.work_done:
        t.ignore("no job of this saga is being worked on")
        return
    revision = s.active_revision
    if revision and revision.status in (RevisionStatus.REQUESTED, RevisionStatus.PENDING_APPROVAL):
        t.ignore("a revision already waits for the customer")
        return
    assert s.budget is not None
    items = [_item(i) for i in p.get("items") or []]
    if not items:
        t.ignore("no items reported")
        return
    notes = str(p.get("notes") or "")
    s.revisions.append(Revision(number=len(s.revisions) + 1, status=RevisionStatus.REQUESTED,
                                queue_id=str(p["queue_id"]), items=items, notes=notes))
    t.send("billing.ReviseBudget", {"budget_id": s.budget.budget_id, "items": items,
                                    "reason": clip(notes) or "Additional repairs found during the work"},
           key="revise_budget", awaits=("billing.BudgetCreated",), step_number=7)


def _on_order_cancelled(t: _Transition, p: dict[str, Any]) -> None:
    s = t.saga
    reason = str(p.get("reason") or "")
    cause = f"Service order cancelled: {reason}" if reason else "Service order cancelled"
    if s.is_live:
        s.cancelled_by_os = True
        s.os_status = OsStatus.CANCELLED
        _compensate(t, cause)
    elif s.status == SagaStatus.COMPENSATING and not s.cancelled_by_os:
        s.cancelled_by_os = True
        s.os_status = OsStatus.CANCELLED
        t.changed = True
    elif s.status == SagaStatus.COMPLETED and not s.cancelled_by_os:
        # The cancellation raced the end of the work: the OS cancelled the order before it heard
        # that the work was finished, and a cancelled order keeps none of the customer's money.
        # The parts were used: they stay consumed.
        s.cancelled_by_os = True
        s.os_status = OsStatus.CANCELLED
        s.cause = cause
        t.changed = True
        for payment in s.payments:
            _undo_payment(t, payment)  # refunds what was paid, cancels what still could be
        t.note("cancelled after the work was finished: payments refunded or cancelled")
    else:
        t.ignore("the saga is over")


_HANDLERS: dict[str, Callable[[_Transition, dict[str, Any]], None]] = {
    "billing.BudgetCreated": _on_budget_created,
    "billing.BudgetApproved": _on_budget_approved,
    "billing.BudgetRejected": partial(_on_budget_refused, status=BudgetStatus.REJECTED),
    "billing.BudgetExpired": partial(_on_budget_refused, status=BudgetStatus.EXPIRED),
    "billing.BudgetCancelled": _on_budget_cancelled,
    "os.PartsReserved": _on_parts_reserved,
    "os.PartsReservationFailed": _on_parts_reservation_failed,
    "os.PartsReleased": _on_parts_released,
    "os.PartsConsumed": _on_parts_consumed,
    "billing.PaymentRequested": _on_payment_requested,
    "billing.PaymentApproved": _on_payment_approved,
    "billing.PaymentFailed": _on_payment_failed,
    "billing.PaymentCancelled": partial(_on_payment_closed, status=PaymentStatus.CANCELLED, key="cancel_payment"),
    "billing.PaymentRefunded": partial(_on_payment_closed, status=PaymentStatus.REFUNDED, key="refund_payment"),
    "execution.WorkCompleted": _on_work_completed,
    "execution.WorkFailed": _on_work_failed,
    "execution.AdditionalRepairReported": _on_additional_repair,
    "os.OrderCancelled": _on_order_cancelled,
}
REPLY_TYPES: tuple[str, ...] = tuple(_HANDLERS)


# --- the pure functions ----------------------------------------------------------------------
def _item(raw: dict[str, Any]) -> dict[str, Any]:
    kind = str(raw["kind"])
    if kind not in ("service", "part"):
        raise InvalidSagaMessage(f"unknown item kind {kind!r}")
    quantity = int(raw["quantity"])
    if quantity < 1:
        raise InvalidSagaMessage("item quantity must be positive")
    return {"kind": kind, "catalog_id": str(raw["catalog_id"]), "description": str(raw.get("description") or ""),
            "quantity": quantity, "unit_price_cents": int(raw.get("unit_price_cents") or 0)}


def start(event: Envelope, *, now: datetime, config: SagaConfig) -> Decision:
    """A new saga from ``os.DiagnosisCompleted``: it asks Billing for the budget."""
    p = event.payload
    try:
        priority = min(5, max(1, int(p.get("priority") or 3)))
        order = ServiceOrder(
            order_number=str(p.get("order_number") or ""), customer_id=str(p["customer_id"]),
            customer_name=str(p.get("customer_name") or ""), customer_email=str(p.get("customer_email") or ""),
            tracking_url=str(p.get("tracking_url") or ""), vehicle=dict(p.get("vehicle") or {}),
            priority=priority, items=[_item(i) for i in p["items"]], notes=str(p.get("notes") or ""))
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidSagaMessage(f"os.DiagnosisCompleted without what the saga needs: {exc}") from exc
    if not order.items:
        raise InvalidSagaMessage("os.DiagnosisCompleted without items")
    at = iso(now)
    saga = SagaInstance(execution_id=event.saga_id, service_order_id=event.service_order_id,
                        started_at=event.occurred_at, order=order,
                        steps=[StepState(step_number=s.number, name=s.name) for s in SAGA_STEPS],
                        created_at=at, updated_at=at)
    t = _Transition(saga, now, config, fresh=True)
    t.start_step(1)
    t.note("started")
    return t.decision()


def handle(saga: SagaInstance, message: Envelope, *, now: datetime, config: SagaConfig) -> Decision:
    """The saga's answer to a reply or event: its new state and the commands to send."""
    t = _Transition(saga, now, config)
    handler = _HANDLERS.get(message.type)
    if handler is None:
        t.ignore(f"{message.type} is not a saga reply")
        return t.decision()
    try:
        handler(t, message.payload)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidSagaMessage(f"{message.type} without what the saga needs: {exc!r}") from exc
    if t.deferred:
        return Decision(saga=saga, notes=t.notes, deferred=t.deferred)
    return t.decision()


def work_enqueued(saga: SagaInstance, queue_id: str, *, now: datetime, config: SagaConfig) -> Decision:
    """The job is in the work queue (step 6's local action is done)."""
    t = _Transition(saga, now, config)
    s = t.saga
    if s.is_live and s.step(6).status == StepStatus.RUNNING and queue_id == s.queue_id:
        t.answered("enqueue_work")
        t.advance(6)
    elif _is_undoing(s):
        # The job appeared after the saga turned back: take it off the queue again.
        t.effects.append(WithdrawWork(queue_id, s.order.priority, s.cause or "Service order cancelled"))
        t.note("job withdrawn")
    else:
        t.ignore("the job was already enqueued")
    return t.decision()


def time_out(saga: SagaInstance, *, now: datetime, config: SagaConfig) -> Decision:
    """The sweeper's turn: re-send overdue commands, or give up and compensate."""
    t = _Transition(saga, now, config)
    s = t.saga
    if s.is_terminal or s.deadline > t.at:
        t.ignore("nothing is due")
        return t.decision()
    overdue = [p for p in s.pending if p.due_at <= t.at]
    if s.status == SagaStatus.COMPENSATING:
        _compensation_timed_out(t, overdue)
    elif overdue:
        _commands_timed_out(t, overdue)
    else:
        _wait_timed_out(t)
    return t.decision()


def _commands_timed_out(t: _Transition, overdue: list[PendingCommand]) -> None:
    s = t.saga
    for pending in overdue:
        if pending.undo:
            _undo_timed_out(t, pending)
            continue
        if pending.attempts < t.config.max_attempts:
            t.resend(pending)
            continue
        error = f"No reply to {pending.type} after {pending.attempts} attempts"
        if pending.key in REVISION_KEYS:
            # The work goes on without the revision; a late reply is still undone.
            _stop_awaiting(t, pending)
            revision = s.active_revision
            if revision:
                revision.status = RevisionStatus.FAILED
                revision.error = error
            t.note(error)
            _consume_if_done(t)
        elif pending.key == "consume_parts":
            # The job is done: rolling back now would undo real work. A person must look.
            _fail_for_a_person(t, [pending], error)
            t.fail_step(7, error)
            t.note(error)
            return
        else:
            # The command stays awaited while the saga compensates: what a late reply reports is
            # undone, and if none ever comes, what the receiver may have done is undone blindly.
            _stop_awaiting(t, pending)
            t.fail_step(pending.step_number, error)
            _compensate(t, f"The saga stopped: {error}")
            return


def _stop_awaiting(t: _Transition, pending: PendingCommand) -> None:
    """The saga no longer wants what ``pending`` asked for: its reply, if one comes, is undone."""
    pending.undo = True
    pending.due_at = t.due(t.config.step_timeout)
    t.changed = True


def _undo_timed_out(t: _Transition, pending: PendingCommand) -> None:
    """A command whose reply would be undone is still unanswered: wait a little more, then undo
    blindly what its receiver may have done without telling (each receiver undoes only what it did)."""
    if pending.attempts < t.config.max_attempts:
        pending.attempts += 1
        pending.due_at = t.due(t.config.step_timeout)
        t.changed = True
        return
    t.answered(pending.key)
    blind = _blind_undo(t, pending)
    if blind is None:
        t.note(f"gave up waiting for the reply to {pending.type}")
        return
    type, payload, key, awaits = blind
    if t.saga.status == SagaStatus.COMPENSATING:
        t.send(type, payload, key=key, awaits=awaits, step_number=pending.step_number)
    else:
        t.send(type, payload)  # the saga goes on (or is over): fire and forget
    t.note(f"no reply to {pending.type}: undone blindly with {type}")


def _blind_undo(t: _Transition, pending: PendingCommand) -> tuple[str, dict[str, Any], str, tuple[str, ...]] | None:
    """The compensation of a command whose outcome the saga never heard: by what it asked for."""
    if pending.key in ("reserve_parts", "reserve_extra_parts"):
        return ("os.ReleaseParts", {"parts": pending.payload["parts"]}, "release_parts:blind",
                ("os.PartsReleased",))
    if pending.key in ("request_payment", "request_extra_payment"):
        return ("billing.CancelPayment", {"budget_id": pending.payload["budget_id"],
                                          "version": pending.payload["version"], "reason": _cause(t)},
                "cancel_payment:blind", ("billing.PaymentCancelled", "billing.PaymentRefunded",
                                         "billing.PaymentFailed"))
    if pending.key == "create_budget":
        return "billing.CancelBudget", {"reason": _cause(t)}, "cancel_budget:blind", ("billing.BudgetCancelled",)
    # A revision never answered: a late BudgetCreated for it is cancelled when it comes.
    return None


def _compensation_timed_out(t: _Transition, overdue: list[PendingCommand]) -> None:
    s = t.saga
    s.compensation_attempts += 1
    stuck: list[PendingCommand] = []
    for pending in overdue:
        if pending.undo:
            _undo_timed_out(t, pending)
        elif pending.attempts < t.config.max_attempts:
            t.resend(pending)
        else:
            stuck.append(pending)
    if stuck:
        for pending in stuck:
            step = s.step(pending.step_number)
            step.error = f"{pending.type} not confirmed after {pending.attempts} attempts"
        _fail_for_a_person(t, stuck, f"{s.cause}; compensation not confirmed: {', '.join(p.type for p in stuck)}")
        t.note("compensation failed: a person must look at this order")
        if not s.cancelled_by_os:
            t.summary_update(s.cause)
        return
    _maybe_finish_compensation(t)


def _fail_for_a_person(t: _Transition, stuck: list[PendingCommand], cause: str) -> None:
    """FAILED: the sweeper stops; the unconfirmed commands are kept for :func:`retry_failed`."""
    s = t.saga
    s.failed_while = str(s.status)
    s.stuck = list(stuck)
    s.status = SagaStatus.FAILED
    s.cause = cause
    s.finished_at = t.at
    s.pending = []
    t.changed = True


def retry_failed(saga: SagaInstance, *, now: datetime, config: SagaConfig, by: str) -> Decision:
    """A person's retry of a FAILED saga (the participant is back): the commands nobody confirmed
    go out again as new messages with fresh attempts (their receivers answer a repeat: releasing,
    consuming, cancelling and refunding only do what is still to do), and the saga resumes what it
    was doing: compensating, or consuming the parts of a finished job."""
    t = _Transition(saga, now, config)
    s = t.saga
    if s.status != SagaStatus.FAILED or not s.stuck:
        t.ignore("only a FAILED saga with unconfirmed commands can be retried")
        return t.decision()
    stuck, s.stuck = s.stuck, []
    s.status = s.failed_while or SagaStatus.COMPENSATING
    s.failed_while = None
    s.finished_at = None
    s.compensation_attempts = 0
    if s.status != SagaStatus.COMPENSATING:
        s.cause = None
        for pending in stuck:
            step = s.step(pending.step_number)
            step.status, step.error, step.finished_at = StepStatus.RUNNING, None, None
    for pending in stuck:
        t.send(pending.type, pending.payload, key=pending.key, awaits=tuple(pending.awaits),
               step_number=pending.step_number)
    t.note(f"retried by {by}: {', '.join(p.type for p in stuck)}")
    t.summary_update(f"Retried by {by}")
    return t.decision()


def _wait_timed_out(t: _Transition) -> None:
    s = t.saga
    if not s.is_live or not s.wait_due_at or s.wait_due_at > t.at:
        t.changed = True  # a stale deadline: recompute it
        return
    if s.current_step == 2 and s.step(2).status == StepStatus.RUNNING:
        cause = "Budget expired: the customer did not decide in time"
        t.fail_step(2, cause)
        _compensate(t, cause)
    elif s.current_step == 5 and s.step(5).status == StepStatus.RUNNING:
        cause = "Payment expired: it was not confirmed in time"
        t.fail_step(5, cause)
        _compensate(t, cause)
    else:
        t.changed = True
