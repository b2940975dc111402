"""The saga of a service order: declared in :mod:`.definition`, moved by :mod:`.engine`, shown to
the OS by :mod:`.projection`.

Given a saga instance and a reply (or event, or the clock), :func:`handle`, :func:`time_out` and
:func:`work_enqueued` return a :class:`Decision`: the new instance, the commands (envelopes) to
send and the local effects (the work-queue job) to run. No I/O happens here; message ids are
derived from the saga id and its version, so the same input always gives the same output.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from oficina_common import contracts
from oficina_common.messages import Envelope, InvalidMessage

from ..domain import OsStatus, SagaInstance, ServiceOrder, StepState, StepStatus, iso
from . import engine
from .definition import REPLY_TYPES, SAGA, SAGA_STEPS, STEP_NAMES
from .engine import (
    CheckWork,
    Decision,
    EnqueueWork,
    InvalidSagaMessage,
    OnTimeout,
    SagaConfig,
    SagaStep,
    Transition,
    WithdrawWork,
)
from .projection import summary
from .steps import item_line

__all__ = ["REPLY_TYPES", "SAGA_STEPS", "STEP_NAMES", "CheckWork", "Decision", "EnqueueWork", "InvalidSagaMessage",
           "OnTimeout", "SagaConfig", "SagaStep", "WithdrawWork", "handle", "retry_failed", "start", "summary",
           "tell_the_os", "time_out", "waits_for_the_job", "with_the_job_queued", "work_enqueued"]


def start(event: Envelope, *, now: datetime, config: SagaConfig) -> Decision:
    """A new saga from ``os.DiagnosisCompleted``: it asks Billing for the budget."""
    try:
        diagnosis: contracts.DiagnosisCompleted = event.body
    except InvalidMessage as exc:
        raise InvalidSagaMessage(f"os.DiagnosisCompleted without what the saga needs: {exc}") from exc
    order = ServiceOrder(
        order_number=diagnosis.order_number, customer_id=diagnosis.customer_id,
        customer_name=diagnosis.customer_name, customer_email=diagnosis.customer_email,
        tracking_url=diagnosis.tracking_url, vehicle=diagnosis.vehicle.to_payload(), priority=diagnosis.priority,
        items=[item_line(line) for line in diagnosis.items], notes=diagnosis.notes)
    if not order.items:
        raise InvalidSagaMessage("os.DiagnosisCompleted without items")
    at = iso(now)
    saga = SagaInstance(execution_id=event.saga_id, service_order_id=event.service_order_id,
                        started_at=event.occurred_at, order=order,
                        steps=[StepState(step_number=s.number, name=s.name) for s in SAGA_STEPS],
                        created_at=at, updated_at=at)
    t = Transition(SAGA, saga, now, config, fresh=True)
    t.start_step(SAGA_STEPS[0].name)
    t.note("started")
    return t.decision()


def handle(saga: SagaInstance, message: Envelope, *, now: datetime, config: SagaConfig) -> Decision:
    """The saga's answer to a reply or event: its new state and the commands to send."""
    return engine.handle(Transition(SAGA, saga, now, config), message, saga)


def tell_the_os(saga: SagaInstance, *, now: datetime, config: SagaConfig) -> Decision:
    """The OS asks again about the diagnosis (``os.DiagnosisCompleted`` once more: it still shows
    the order IN_DIAGNOSIS): the saga tells it again where the order is, its earlier word (the
    budget waiting for approval, or the cancellation) may have been lost by the broker."""
    t = Transition(SAGA, saga, now, config)
    if saga.os_status == OsStatus.IN_DIAGNOSIS:
        t.ignore("the order is where the OS shows it")
    else:
        t.summary_update(f"The saga tells the order's status again: {saga.os_status}")
    return t.decision()


def work_enqueued(saga: SagaInstance, queue_id: str, *, now: datetime, config: SagaConfig) -> Decision:
    """The job is in the work queue (the enqueue_work step's local action is done)."""
    t = Transition(SAGA, saga, now, config)
    s = t.saga
    if s.is_live and t.running("enqueue_work") and queue_id == s.queue_id:
        t.answered("enqueue_work")
        t.advance("enqueue_work")
    elif engine.is_undoing(s):
        # The job appeared after the saga turned back: take it off the queue again.
        t.effects.append(WithdrawWork(queue_id, s.order.priority, s.cause or "Service order cancelled"))
        t.note("job withdrawn")
    else:
        t.ignore("the job was already enqueued")
    return t.decision()


def with_the_job_queued(decision: Decision, *, now: datetime, config: SagaConfig) -> Decision:
    """A decision that queues the job, also recording the job queued (one write instead of two).

    The job's id is known before it exists (:func:`~execution.domain.queue_id_for`), and the
    service creates it right after the write, with a put that only lands once
    (``attribute_not_exists``). If the put never comes (a crash right after the write), the saga
    already waits for the mechanic: its look at the job (:func:`waits_for_the_job`) and a
    redelivery of the message create it; a withdrawal that comes first leaves a withdrawn job in
    its place, so the late put queues nothing."""
    queued = next((e for e in decision.effects if isinstance(e, EnqueueWork)), None)
    if queued is None or not decision.changed or decision.deferred:
        return decision
    then = work_enqueued(decision.saga, queued.queue_id, now=now, config=config)
    if not then.changed or then.commands:
        # Nothing to record, or commands whose ids would repeat the decision's own (both are
        # numbered from the same version): the job's own write records it, as before.
        return decision
    return replace(decision, saga=then.saga, effects=[*decision.effects, *then.effects],
                   notes=[*decision.notes, *then.notes])


def waits_for_the_job(saga: SagaInstance) -> bool:
    """Whether the saga, as read, is waiting for its job's mechanic: the job must be in the queue."""
    return (saga.is_live and bool(saga.queue_id) and not saga.work_done
            and saga.step("complete_work").status == StepStatus.RUNNING)


def time_out(saga: SagaInstance, *, now: datetime, config: SagaConfig) -> Decision:
    """The sweeper's turn: re-send overdue commands, or give up and compensate."""
    t = Transition(SAGA, saga, now, config)
    engine.time_out(t)
    return t.decision()


def retry_failed(saga: SagaInstance, *, now: datetime, config: SagaConfig, by: str) -> Decision:
    """A person's retry of a FAILED saga once the participant that never answered is back."""
    t = Transition(SAGA, saga, now, config)
    engine.retry_failed(t, by)
    return t.decision()
