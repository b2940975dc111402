"""The saga's engine: how a declared saga moves, whatever its steps.

A :class:`Transition` is one decision being made on a private copy of the instance: it starts,
completes and fails steps by name, sends commands (tracking the ones whose reply it awaits),
turns back (compensation, newest step first), and at the end gives the :class:`Decision` — the
new instance, the commands to send and the local effects. Timeouts, the undoing of replies the
saga no longer wants, and a person's retry of a FAILED saga are here too. What the steps are, and
what each reply means, is declared in :mod:`execution.saga.definition`. No I/O happens here.
"""
from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from oficina_common import contracts
from oficina_common.messages import Envelope, clip

from ..domain import (
    FAR_FUTURE,
    NAMESPACE,
    EndReason,
    OsStatus,
    PendingCommand,
    SagaInstance,
    SagaStatus,
    StepStatus,
    iso,
    key_matches,
)
from .projection import status_reason, summary


@dataclass(frozen=True)
class SagaConfig:
    step_timeout: timedelta = timedelta(seconds=60)
    max_attempts: int = 3
    approval_timeout: timedelta = timedelta(days=7)
    approval_grace: timedelta = timedelta(seconds=60)
    payment_timeout: timedelta = timedelta(days=2)
    payment_method: str = "pix"
    # How often a saga waiting on a mechanic looks at its job itself: the job's news (the job
    # closed) may be lost by the broker after it left the work queue's outbox.
    job_check_interval: timedelta = timedelta(minutes=10)
    # How often a saga waiting for the payment asks Billing again (Billing answers with what
    # became of it): a PaymentApproved the broker lost would otherwise end in the payment timeout.
    payment_check_interval: timedelta = timedelta(minutes=10)


class OnTimeout(StrEnum):
    RETRY = "RETRY"  # send the step's command again (the same message: its receiver answers again)
    EXPIRE = "EXPIRE"  # the wait is over: the step fails and the saga compensates
    WAIT = "WAIT"  # no time limit (a mechanic's job takes what it takes); the saga looks at it now and then


class WhenUnanswered(StrEnum):
    """What a command that got no reply after every attempt means for the saga."""

    COMPENSATE = "COMPENSATE"  # its step fails and the saga turns back
    GIVE_UP = "GIVE_UP"  # the saga goes on without it (additional repairs)
    ASK_A_PERSON = "ASK_A_PERSON"  # rolling back would undo real work: FAILED, for a person to look


@dataclass(frozen=True)
class EnqueueWork:
    queue_id: str


@dataclass(frozen=True)
class WithdrawWork:
    queue_id: str
    priority: int
    reason: str


@dataclass(frozen=True)
class CheckWork:
    """Look at the job in the work queue: closed, with news the saga never heard, it is told now."""

    queue_id: str


Effect = EnqueueWork | WithdrawWork | CheckWork
LOCAL_ENQUEUE = "local.EnqueueWork"


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


# A reply's handler reads the reply's typed payload (its contract in ``oficina_common.contracts``).
Handler = Callable[["Transition", Any], None]
# A command's payload: built from its contract; a dict is one the saga sent before (re-sent as it was).
Payload = contracts.Contract | dict[str, Any]
# The compensation of a command whose outcome the saga never heard: (type, payload, tracking key).
BlindUndo = Callable[["Transition", PendingCommand], tuple[str, Payload, str] | None]


@dataclass(frozen=True)
class AwaitedCommand:
    """A command the saga tracks until its reply comes, under a key (``key`` or ``key:…``)."""

    key: str
    type: str
    replies: tuple[str, ...]
    step: str
    when_unanswered: WhenUnanswered = WhenUnanswered.COMPENSATE
    # Once the saga no longer wants what it asked for, its late reply is still awaited and undone.
    undo_late_reply: bool = False
    blind_undo: BlindUndo | None = None
    # Its attempts are its step's attempts (the step's own action, not a side command).
    is_step_action: bool = False
    # What giving up means, for a command the saga goes on without.
    given_up: Callable[[Transition, PendingCommand, str], None] | None = None
    # A compensation: it undoes what a participant did.
    undoes: bool = False


@dataclass(frozen=True)
class SagaStep:
    number: int
    name: str
    action: Callable[[Transition], None] | None
    compensation: Callable[[Transition], None] | None
    timeout: str | None  # the SagaConfig attribute bounding the step
    on_timeout: OnTimeout
    replies: Mapping[str, Handler] = field(default_factory=dict)
    expired_cause: str = ""  # the saga's cause when an EXPIRE wait runs out
    expired_reason: EndReason | None = None
    os_status_on_start: OsStatus | None = None
    os_status_on_completion: OsStatus | None = None
    # While the step waits on others, looked at every so often (``check_due_at``): news of what
    # it waits for may be lost on the way; the check asks again and schedules the next one.
    check: Callable[[Transition], None] | None = None


@dataclass(frozen=True)
class SagaDefinition:
    steps: tuple[SagaStep, ...]
    commands: tuple[AwaitedCommand, ...]
    # Replies that belong to no single step: the answers to compensations, the staff's cancel.
    replies: Mapping[str, Handler]

    def step(self, name: str) -> SagaStep:
        return next(s for s in self.steps if s.name == name)

    def command(self, key: str) -> AwaitedCommand:
        base = key.split(":", 1)[0]
        return next(c for c in self.commands if c.key == base)

    @property
    def handlers(self) -> dict[str, Handler]:
        table: dict[str, Handler] = {}
        for replies in [*(s.replies for s in self.steps), self.replies]:
            for type, handler in replies.items():
                assert table.get(type, handler) is handler, f"{type} has two handlers"
                table[type] = handler
        return table


class Transition:
    """One decision being made: a private copy of the saga plus what it will send."""

    def __init__(self, definition: SagaDefinition, saga: SagaInstance, now: datetime, config: SagaConfig, *,
                 fresh: bool = False):
        self.definition = definition
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
    def _envelope(self, type: str, payload: Payload, message_id: str = "") -> Envelope:
        s = self.saga
        message_id = message_id or str(uuid.uuid5(NAMESPACE, f"{s.execution_id}:{s.version + 1}:{len(self.commands)}"))
        return Envelope(type=type, saga_id=s.execution_id, service_order_id=s.service_order_id,
                        payload=payload, message_id=message_id, occurred_at=self.at)  # type: ignore[arg-type]

    def send(self, type: str, payload: Payload, *, key: str | None = None, step: str | int | None = None) -> None:
        """Send a command; with a ``key`` its reply is awaited (and the sweeper re-sends it)."""
        envelope = self._envelope(type, payload)
        self.commands.append(envelope)
        self.changed = True
        if key:
            self.track(key, type, envelope.payload, self.step_number(step) if step else self.saga.current_step)

    def track(self, key: str, type: str, payload: dict[str, Any], step_number: int) -> None:
        previous = self.answered(key)
        sent = self.commands[-1].message_id if self.commands and self.commands[-1].type == type else ""
        self.saga.pending.append(PendingCommand(
            key=key, type=type, payload=payload, awaits=list(self.definition.command(key).replies),
            step_number=step_number, attempts=(previous.attempts + 1) if previous else 1,
            due_at=self.due(self.config.step_timeout), message_id=sent))
        self.changed = True

    def resend(self, pending: PendingCommand) -> None:
        """The same message again: a receiver that acted on it does not act twice, it answers again."""
        if pending.type == LOCAL_ENQUEUE:
            self.effects.append(EnqueueWork(pending.payload["queue_id"]))
        else:
            self.commands.append(self._envelope(pending.type, pending.payload, pending.message_id))
        pending.attempts += 1
        pending.due_at = self.due(self.config.step_timeout)
        step = self.saga.step(pending.step_number)
        if step.status == StepStatus.RUNNING and self.definition.command(pending.key).is_step_action:
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

    def step_number(self, step: str | int) -> int:
        return step if isinstance(step, int) else self.definition.step(step).number

    def running(self, name: str) -> bool:
        return self.saga.step(name).status == StepStatus.RUNNING

    def start_step(self, name: str) -> None:
        s = self.saga
        definition = self.definition.step(name)
        step = s.step(name)
        step.status = StepStatus.RUNNING
        step.attempts = 1
        step.started_at = self.at
        step.finished_at = None
        s.current_step = definition.number
        s.wait_due_at = None
        s.check_due_at = None
        self.changed = True
        if definition.os_status_on_start:
            self.set_os_status(definition.os_status_on_start, status_reason(name, s))
        if definition.action:
            definition.action(self)

    def complete_step(self, name: str) -> None:
        s = self.saga
        step = s.step(name)
        step.status = StepStatus.COMPLETED
        step.finished_at = self.at
        step.error = None
        if s.status == SagaStatus.PENDING:
            s.status = SagaStatus.IN_PROGRESS
        self.changed = True
        definition = self.definition.step(name)
        if definition.os_status_on_completion:
            self.set_os_status(definition.os_status_on_completion, status_reason(name, s))

    def advance(self, name: str) -> None:
        """Step ``name`` is done: start the next one, or finish the saga."""
        self.complete_step(name)
        number = self.definition.step(name).number
        if number < len(self.definition.steps):
            self.start_step(self.definition.steps[number].name)
        else:
            self.finish()

    def fail_step(self, step: str | int, error: str) -> None:
        state = self.saga.step(step)
        state.status = StepStatus.FAILED
        state.error = error
        state.finished_at = self.at
        self.changed = True

    def undoing(self) -> list[PendingCommand]:
        """What the saga still undoes, or awaits in order to undo it."""
        return [p for p in self.saga.pending if p.undo or self.definition.command(p.key).undoes]

    def finish(self) -> None:
        """COMPLETED, once nothing it undoes is left to confirm; what else it still awaited (an
        additional payment asked for) is answered to a finished saga all the same."""
        s = self.saga
        if self.undoing():
            self.note("every step is done: the saga completes once what it undoes is confirmed")
            return
        s.status = SagaStatus.COMPLETED
        s.finished_at = self.at
        s.pending = []
        s.wait_due_at = s.check_due_at = None
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
                                                contracts.ChangeStatus(to=to, reason=reason, summary=summary(s))))
        if s.is_live and not self.undoing() and all(step.status == StepStatus.COMPLETED for step in s.steps):
            self.finish()  # the last confirmation it was waiting for came
        if self.changed:
            s.updated_at = self.at
            s.deadline = self._deadline()
        return Decision(saga=s, commands=self.commands, effects=self.effects, changed=self.changed,
                        notes=self.notes, deferred=self.deferred)

    def _deadline(self) -> str:
        """When the sweeper must look at this saga again (the StatusIndex range key)."""
        s = self.saga
        if s.is_terminal:
            return s.finished_at or s.updated_at
        candidates = [p.due_at for p in s.pending]
        if s.is_live and s.wait_due_at and self.definition.steps[s.current_step - 1].on_timeout == OnTimeout.EXPIRE:
            candidates.append(s.wait_due_at)
        if s.is_live and s.check_due_at:
            candidates.append(s.check_due_at)
        return min(candidates) if candidates else FAR_FUTURE


# --- turning back ------------------------------------------------------------------------------
def undo_reason(t: Transition) -> str:
    """Why the saga undoes things, as a command carries it: cut to what every receiver stores, so
    that a long reason (an attendant's, a mechanic's) never gets a compensation refused."""
    return clip(t.saga.cause)


def is_undoing(s: SagaInstance) -> bool:
    return s.status in (SagaStatus.COMPENSATING, SagaStatus.COMPENSATED, SagaStatus.FAILED)


def compensate(t: Transition, why: str, reason: EndReason, *, job_closed: bool = False) -> None:
    """Turn back: every step's compensation, newest first (each checks what was really done)."""
    s = t.saga
    s.status = SagaStatus.COMPENSATING
    s.cause = why
    s.end_reason = reason
    s.compensation_attempts = 1
    s.wait_due_at = s.check_due_at = None
    for pending in list(s.pending):
        if t.definition.command(pending.key).undo_late_reply:
            pending.undo = True
        else:
            s.pending.remove(pending)
    t.job_closed = job_closed
    for step in reversed(t.definition.steps):
        if step.compensation:
            step.compensation(t)
    for state in s.steps:
        if state.status == StepStatus.RUNNING:
            state.status = StepStatus.FAILED
            state.error = state.error or f"Interrupted: {why}"
            state.finished_at = t.at
        elif state.status == StepStatus.COMPLETED and not _compensation_pending(s, state.step_number):
            state.status = StepStatus.COMPENSATED
    t.changed = True
    t.note(f"compensating: {why}")
    maybe_finish_compensation(t, announce=False)
    if not s.cancelled_by_os:
        t.set_os_status(OsStatus.CANCELLED, why)


def _compensation_pending(s: SagaInstance, step_number: int) -> bool:
    return any(p.step_number == step_number and not p.undo for p in s.pending)


def compensation_answered(t: Transition, *keys: str) -> bool:
    """A compensation (or the undoing of a late reply) is confirmed."""
    pending = t.answered(*keys) or stuck_answered(t, *keys)
    if pending is None:
        return False
    state = t.saga.step(pending.step_number)
    if is_undoing(t.saga) and state.status == StepStatus.COMPLETED \
            and not _compensation_pending(t.saga, pending.step_number):
        state.status = StepStatus.COMPENSATED  # (a saga that goes on only undid a late reply)
    maybe_finish_compensation(t)
    return True


def stuck_answered(t: Transition, *keys: str) -> PendingCommand | None:
    """A FAILED saga hears from a participant it had given up on: the command is confirmed after
    all, and once none is left unconfirmed the saga goes on with what it was doing (compensating,
    or finishing the work)."""
    s = t.saga
    pending = next((p for p in s.stuck if key_matches(p.key, keys)), None) if s.status == SagaStatus.FAILED else None
    if pending is None:
        return None
    s.stuck.remove(pending)
    t.changed = True
    if not s.stuck and s.failed_while:
        s.status, s.failed_while, s.finished_at = s.failed_while, None, None
        t.note("every unconfirmed command is confirmed now")
    return pending


def maybe_finish_compensation(t: Transition, *, announce: bool = True) -> None:
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


def cancel_late(t: Transition, type: str, payload: Payload, key: str, step: str | int) -> None:
    """Undo something a participant did that the saga no longer wants, and await the answer like
    any compensation (re-sent until confirmed; a message the broker loses is sent again):
    a COMPENSATED saga compensates again until this is confirmed; a FAILED one keeps it with the
    commands a person retries; a saga that goes on finishes only once it is confirmed."""
    s = t.saga
    if s.status == SagaStatus.COMPENSATED:
        s.status, s.finished_at = SagaStatus.COMPENSATING, None
        t.note("compensating again: a late reply is undone")
    t.send(type, payload, key=key, step=step)
    if s.status == SagaStatus.FAILED:
        s.stuck.append(s.pending.pop())
    t.note(f"undone with {type}")


def stop_awaiting(t: Transition, pending: PendingCommand) -> None:
    """The saga no longer wants what ``pending`` asked for: its reply, if one comes, is undone."""
    pending.undo = True
    pending.due_at = t.due(t.config.step_timeout)
    t.changed = True


def fail_for_a_person(t: Transition, stuck: list[PendingCommand], why: str) -> None:
    """FAILED: the sweeper stops; the unconfirmed commands are kept for :func:`retry_failed`."""
    s = t.saga
    s.failed_while = str(s.status)
    s.stuck = list(stuck)
    s.status = SagaStatus.FAILED
    s.cause = why
    # Turning back for its own reason, or stopped where it was: a command nobody answered.
    s.end_reason = s.end_reason or EndReason.TIMEOUT
    s.finished_at = t.at
    s.pending = []
    t.changed = True


# --- the clock ---------------------------------------------------------------------------------
def time_out(t: Transition) -> None:
    """The sweeper's turn: re-send overdue commands, or give up and compensate."""
    s = t.saga
    if s.is_terminal or s.deadline > t.at:
        t.ignore("nothing is due")
        return
    overdue = [p for p in s.pending if p.due_at <= t.at]
    if s.status == SagaStatus.COMPENSATING:
        _compensation_timed_out(t, overdue)
    elif overdue:
        _commands_timed_out(t, overdue)
    else:
        _wait_timed_out(t)


def _commands_timed_out(t: Transition, overdue: list[PendingCommand]) -> None:
    for pending in overdue:
        if pending.undo:
            _undo_timed_out(t, pending)
            continue
        if pending.attempts < t.config.max_attempts:
            t.resend(pending)
            continue
        error = f"No reply to {pending.type} after {pending.attempts} attempts"
        command = t.definition.command(pending.key)
        if command.when_unanswered == WhenUnanswered.GIVE_UP:
            # The saga goes on without it; a late reply is still undone.
            stop_awaiting(t, pending)
            t.note(error)
            if command.given_up:
                command.given_up(t, pending, error)
        elif command.when_unanswered == WhenUnanswered.ASK_A_PERSON:
            fail_for_a_person(t, [pending], error)
            t.fail_step(pending.step_number, error)
            t.note(error)
            return
        else:
            # The command stays awaited while the saga compensates: what a late reply reports is
            # undone, and if none ever comes, what the receiver may have done is undone blindly.
            stop_awaiting(t, pending)
            t.fail_step(pending.step_number, error)
            compensate(t, f"The saga stopped: {error}", EndReason.TIMEOUT)
            return


def _undo_timed_out(t: Transition, pending: PendingCommand) -> None:
    """A command whose reply would be undone is still unanswered. While the saga goes on it is
    asked again (the same message: its receiver answers with what it did), so that exactly that
    is undone; a saga that turned back waits a little more, then undoes blindly what the receiver
    may have done without telling (each receiver undoes only what it did for the order)."""
    if t.saga.is_live:
        t.resend(pending)
        return
    if pending.attempts < t.config.max_attempts:
        pending.attempts += 1
        pending.due_at = t.due(t.config.step_timeout)
        t.changed = True
        return
    t.answered(pending.key)
    blind_undo = t.definition.command(pending.key).blind_undo
    blind = blind_undo(t, pending) if blind_undo else None
    if blind is None:
        t.note(f"gave up waiting for the reply to {pending.type}")
        return
    type, payload, key = blind
    cancel_late(t, type, payload, key, pending.step_number)
    t.note(f"no reply to {pending.type}: undone blindly")


def _compensation_timed_out(t: Transition, overdue: list[PendingCommand]) -> None:
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
            s.step(pending.step_number).error = f"{pending.type} not confirmed after {pending.attempts} attempts"
        fail_for_a_person(t, stuck, f"{s.cause}; compensation not confirmed: {', '.join(p.type for p in stuck)}")
        t.note("compensation failed: a person must look at this order")
        if not s.cancelled_by_os:
            t.summary_update(s.cause)
        return
    maybe_finish_compensation(t)


def _wait_timed_out(t: Transition) -> None:
    s = t.saga
    step = t.definition.steps[s.current_step - 1]
    expired = step.on_timeout == OnTimeout.EXPIRE and bool(s.wait_due_at) and s.wait_due_at <= t.at
    if s.is_live and s.check_due_at and s.check_due_at <= t.at and not expired:
        s.check_due_at = None
        t.changed = True
        if step.check and t.running(step.name):
            step.check(t)  # asks again and schedules the next check
        return
    if not s.is_live or not s.wait_due_at or s.wait_due_at > t.at or step.on_timeout != OnTimeout.EXPIRE \
            or not t.running(step.name):
        t.changed = True  # a stale deadline: recompute it
        return
    t.fail_step(step.name, step.expired_cause)
    compensate(t, step.expired_cause, step.expired_reason or EndReason.TIMEOUT)


def retry_failed(t: Transition, by: str) -> None:
    """A person's retry of a FAILED saga (the participant is back): the commands nobody confirmed
    go out again as new messages with fresh attempts (their receivers answer a repeat: releasing,
    consuming, cancelling and refunding only do what is still to do), and the saga resumes what it
    was doing: compensating, or consuming the parts of a finished job."""
    s = t.saga
    if s.status != SagaStatus.FAILED or not s.stuck:
        t.ignore("only a FAILED saga with unconfirmed commands can be retried")
        return
    stuck, s.stuck = s.stuck, []
    s.status = s.failed_while or SagaStatus.COMPENSATING
    s.failed_while = None
    s.finished_at = None
    s.compensation_attempts = 0
    if s.status != SagaStatus.COMPENSATING:
        s.cause = s.end_reason = None
        for pending in stuck:
            step = s.step(pending.step_number)
            step.status, step.error, step.finished_at = StepStatus.RUNNING, None, None
    for pending in stuck:
        t.send(pending.type, pending.payload, key=pending.key, step=pending.step_number)
    t.note(f"retried by {by}: {', '.join(p.type for p in stuck)}")
    t.summary_update(f"Retried by {by}")


def handle(t: Transition, message: Envelope, original: SagaInstance) -> Decision:
    """The saga's answer to a reply or event: its new state and the commands to send (or, for a
    message that came too early, ``original`` unchanged and the reason to try again later)."""
    handler = t.definition.handlers.get(message.type)
    if handler is None:
        t.ignore(f"{message.type} is not a saga reply")
        return t.decision()
    try:
        handler(t, message.body)  # the typed payload; one that breaks its contract: InvalidMessage
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidSagaMessage(f"{message.type} without what the saga needs: {exc!r}") from exc
    if t.deferred:
        return Decision(saga=original, notes=t.notes, deferred=t.deferred)
    return t.decision()
