"""Use cases of the Execution service: the only place that writes.

The saga's decisions come from the pure functions of :mod:`execution.saga`; here they are read,
written (one conditional write on the saga item, with the commands in its outbox), published,
projected and their local effects run.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, cast

from oficina_common import contracts
from oficina_common.correlation import bind_correlation_id
from oficina_common.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from oficina_common.limits import stored_bytes
from oficina_common.messages import Envelope
from oficina_common.messaging import DUPLICATE, Dispatcher
from oficina_common.metrics import SAGAS_FINISHED, SAGAS_RETRIED

from . import saga as saga_flow
from .domain import (
    ACTIVE_JOB_STATUSES,
    SWEPT_STATUSES,
    Job,
    JobStatus,
    Mechanic,
    SagaInstance,
    SagaStatus,
    StepStatus,
    iso,
    parse_iso,
)
from .ports import StoredJob, StoredSaga
from .saga import CheckWork, Decision, EnqueueWork, InvalidSagaMessage, WithdrawWork
from .wiring import Dependencies

logger = logging.getLogger(__name__)

# Two replies racing on one saga: the loser re-reads and re-applies; never drops the reply.
MAX_CONFLICT_RETRIES = 8
# How long after a change a copy of the message that made it leaves the publishing to the first
# delivery (the sweeper delivers what a crash left in any case).
FIRST_DELIVERY_GRACE = timedelta(seconds=5)

_FINISH_OUTCOMES = {SagaStatus.COMPLETED: "completed", SagaStatus.COMPENSATED: "compensated",
                    SagaStatus.FAILED: "failed"}


class ReplyTooEarly(Exception):
    """The message came before the one it depends on (two workers, two queues): nothing was
    written, and the consumer tries it again a little later instead of dropping it."""


def saga_finish_reason(saga: SagaInstance) -> str:
    """Why a finished saga ended so, in one word: the ``reason`` of ``oficina_saga_finished_total``.

    A FAILED saga (a compensation nobody confirmed) keeps the reason it began compensating for."""
    if saga.status == SagaStatus.COMPLETED:
        return "none"
    return saga.end_reason or "other"  # "other": a saga stored before it recorded its reason


# --- the saga ----------------------------------------------------------------------------------
def saga_start(envelope: Envelope, *, deps: Dependencies) -> Decision | str | None:
    """``os.DiagnosisCompleted``: create the saga instance with its first command, once.

    The item records the message's id: the same message again finishes what a crash may have
    left (publishing, projecting) and is a duplicate; another DiagnosisCompleted is ignored."""
    decision = saga_flow.start(envelope, now=deps.clock(), config=deps.config)
    try:
        stored = deps.executions.add(decision.saga, decision.commands, message_id=envelope.message_id)
    except AlreadyExists:
        existing = deps.executions.get(envelope.saga_id)
        if existing is not None and existing.has_applied(envelope.message_id):
            _tell_the_os_again(existing, deps)
            return _finish_applied(existing, deps)
        logger.info("saga %s already started; DiagnosisCompleted ignored", envelope.saga_id)
        return None
    logger.info("saga started for order %s: %s", decision.saga.order.order_number, decision.types())
    deps.executions.deliver(stored, deps.publisher, just_written=True)
    _keep(stored, deps)
    return decision


def saga_handle_reply(envelope: Envelope, *, deps: Dependencies) -> Decision | str:
    """A participant's reply (or an event) advances the saga, once (the saga item keeps its id)."""
    def decide(saga: SagaInstance) -> Decision:
        return saga_flow.handle(saga, envelope, now=deps.clock(), config=deps.config)

    return _apply(envelope.saga_id, decide, deps, cause=envelope.type, message_id=envelope.message_id)


def _tell_the_os_again(stored: StoredSaga, deps: Dependencies) -> None:
    """The OS publishes a diagnosis again when the order stays IN_DIAGNOSIS (see the OS's
    resend of unanswered diagnoses): a saga that moved the order on tells it so again. Not while
    the saga has just changed (its word is most likely still on its way)."""
    if deps.clock() - parse_iso(stored.saga.updated_at) < FIRST_DELIVERY_GRACE:
        return

    def decide(saga: SagaInstance) -> Decision:
        return saga_flow.tell_the_os(saga, now=deps.clock(), config=deps.config)

    _apply(stored.saga.execution_id, decide, deps, cause="os.DiagnosisCompleted again", known=stored)


def _finish_applied(stored: StoredSaga, deps: Dependencies) -> str:
    """A message the saga had applied, again: the saga does not change. If the change is not
    recent, what its first delivery may not have finished (a crash before publishing, before the
    projection) is done now; a recent one is most likely still being finished by that delivery
    (a copy racing it), and publishing its messages again would only send duplicates."""
    if deps.clock() - parse_iso(stored.saga.updated_at) >= FIRST_DELIVERY_GRACE:
        deps.executions.deliver(stored, deps.publisher)
        _project_if_finished(stored.saga, deps)
    _queue_the_job_if_missing(stored.saga, deps)
    return DUPLICATE


def _project_if_finished(saga: SagaInstance, deps: Dependencies) -> None:
    """The step history (``execution_steps``) is written once, when the saga ends, in one batch:
    nothing reads it while the saga runs (the API serves the steps from the saga item), and a
    redelivered last message writes the same records again."""
    if saga.is_terminal:
        deps.steps.project_finished(saga)


def saga_time_out(execution_id: str, *, deps: Dependencies) -> Decision:
    def decide(saga: SagaInstance) -> Decision:
        return saga_flow.time_out(saga, now=deps.clock(), config=deps.config)

    return cast(Decision, _apply(execution_id, decide, deps, cause="timeout"))


def saga_retry(*, execution_id: str, by: str, deps: Dependencies) -> SagaInstance:
    """An admin's retry of a FAILED saga once the participant that never answered is back."""
    with bind_correlation_id(execution_id):
        def decide(saga: SagaInstance) -> Decision:
            decision = saga_flow.retry_failed(saga, now=deps.clock(), config=deps.config, by=by)
            if not decision.changed:  # the saga flow says which sagas can be retried
                raise InvalidTransition(f"Only a FAILED saga with unconfirmed commands can be retried; this one is "
                                        f"{saga.status}.", extra={"status": str(saga.status)})
            return decision

        # Without a message id nothing is a duplicate: _apply gives back the decision it wrote.
        saga = cast(Decision, _apply(execution_id, decide, deps, cause=f"retry by {by}")).saga
        SAGAS_RETRIED.labels("execution").inc()
        return saga


@dataclass
class SweepReport:
    timed_out: int = 0
    failed: int = 0
    outbox_delivered: int = 0


def saga_sweep(*, deps: Dependencies, limit: int = 100) -> SweepReport:
    """Celery beat: sagas past their step's timeout are retried or compensated; stranded outbox
    messages are delivered. Queries only (StatusIndex, OutboxIndex), never a Scan: up to ``limit``
    sagas of each status per run, each run going on where the last one stopped."""
    report = SweepReport()
    now = iso(deps.clock())
    for status in SWEPT_STATUSES:
        page = deps.executions.due(status, now, limit=limit, page_token=deps.sweep_cursors.get(status))
        deps.sweep_cursors[status] = page.next_token  # None: the walk is done, the next one starts over
        for execution_id in page.items:
            with bind_correlation_id(execution_id):
                try:
                    decision = saga_time_out(execution_id, deps=deps)
                except (ConcurrencyConflict, NotFound) as exc:
                    logger.info("sweeper skipped saga %s: %s", execution_id, exc)
                    report.failed += 1
                    continue
                except Exception:  # one broken saga must not stop the sweep of the others
                    logger.exception("sweeper could not advance saga %s", execution_id)
                    report.failed += 1
                    continue
                if decision.changed:
                    report.timed_out += 1
                    logger.warning("saga %s past its deadline: %s", execution_id, decision.note or "rescheduled")
    older_than = deps.outbox_sweep_age
    report.outbox_delivered += deps.executions.relay(deps.publisher).sweep(older_than=older_than)
    report.outbox_delivered += deps.jobs.relay(deps.publisher).sweep(older_than=older_than)
    return report


def _apply(execution_id: str, decide: Callable[[SagaInstance], Decision], deps: Dependencies, *, cause: str,
           known: StoredSaga | None = None, message_id: str | None = None) -> Decision | str:
    """Decide on the saga as read and write the decision conditional on that read (re-reading and
    deciding again when another writer won). ``message_id``: the message being applied; it is
    recorded in the same write, and a message the saga has already applied is a DUPLICATE.

    The first decision may be made on the copy this process wrote last (:class:`RecentSagas`),
    without reading the item, but only if it writes: the write is conditional on the copy's
    version, so a stale copy fails it and the saga is read again. A decision to write nothing
    (a duplicate, ignored, too early) is made again on the item as read before it is acted on."""
    def decide_all(saga: SagaInstance) -> Decision:
        return saga_flow.with_the_job_queued(decide(saga), now=deps.clock(), config=deps.config)

    stored = known
    for attempt in range(MAX_CONFLICT_RETRIES):
        decision, on_our_copy = None, False
        if stored is None and attempt == 0:
            stored, decision, on_our_copy = _decided_on_the_copy(execution_id, decide_all, deps, message_id)
        if stored is None:
            stored = deps.executions.get(execution_id)
            if stored is None:
                raise NotFound(f"Execution {execution_id} not found.", code="execution_not_found")
            deps.recent_sagas.saw(stored)
        if decision is None:
            if stored.has_applied(message_id):
                return _finish_applied(stored, deps)
            decision = decide_all(stored.saga)
        if decision.deferred:
            raise ReplyTooEarly(f"{cause}: {decision.deferred}")
        if not decision.changed:
            if decision.notes:
                logger.info("%s: %s", cause, decision.note)
            deps.executions.deliver(stored, deps.publisher)  # what an earlier crash left, if anything
            _run_effects(decision, stored, deps)
            return decision
        try:
            saved = deps.executions.save(stored, decision.saga, decision.commands, message_id=message_id)
        except ConcurrencyConflict:
            logger.info("%s: saga changed meanwhile; re-reading (attempt %d)", cause, attempt + 1)
            deps.recent_sagas.forget(execution_id)
            if on_our_copy:
                deps.recent_sagas.proved(held=False)
            stored = None
            continue
        if on_our_copy:
            deps.recent_sagas.proved(held=True)
        logger.info("%s -> saga %s step %s%s%s", cause, saved.saga.status, saved.saga.current_step,
                    f"; sent {', '.join(decision.types())}" if decision.commands else "",
                    f" ({decision.note})" if decision.notes else "")
        if saved.saga.is_terminal and not stored.saga.is_terminal:
            # Counted by the one writer whose conditional save made the saga final.
            SAGAS_FINISHED.labels(_FINISH_OUTCOMES[saved.saga.status], saga_finish_reason(saved.saga)).inc()
        deps.executions.deliver(saved, deps.publisher, just_written=True)
        _keep(saved, deps)
        _project_if_finished(saved.saga, deps)
        _run_effects(decision, saved, deps)
        return decision
    raise ConcurrencyConflict(f"Execution {execution_id} kept changing; {cause} will be retried.")


def _decided_on_the_copy(execution_id: str, decide: Callable[[SagaInstance], Decision], deps: Dependencies,
                         message_id: str | None) -> tuple[StoredSaga | None, Decision | None, bool]:
    """The copy of the saga this process wrote last (or, lacking one, the copy another process
    handed over: :class:`SagaHandovers`) and the decision on it, if that decision writes, and
    whether the copy was this process's own; (None, None, False) otherwise: the saga is to be read."""
    copy = deps.recent_sagas.get(execution_id)
    ours = copy is not None
    if copy is None and deps.saga_handovers is not None:
        copy = deps.saga_handovers.take(execution_id)
    if copy is None or copy.has_applied(message_id):
        return None, None, False
    try:
        decision = decide(copy.saga)
    except Exception:  # noqa: BLE001 - decided again on the item as read, where it counts
        return None, None, False
    if decision.deferred or not decision.changed:
        return None, None, False
    return copy, decision, ours


def _keep(saved: StoredSaga, deps: Dependencies) -> None:
    """Keep the copy just written for the saga's next message, unless that message is the
    mechanic's news, which the web process applies (:func:`_told_the_saga`): the copy is handed
    over to it instead (kept here, it would be stale by then, and a write on it a failed one).
    While this process's copies prove stale (several workers share the queue: :class:`RecentSagas`)
    the next message is as likely another worker's, and the copy is handed over as well."""
    if deps.job_news_in_process and saga_flow.waits_for_the_job(saved.saga) and not saved.saga.pending:
        deps.recent_sagas.forget(saved.saga.execution_id)
        _hand_over(saved, deps)
    else:
        deps.recent_sagas.keep(saved)
        if not deps.recent_sagas.trusted:
            _hand_over(saved, deps)


def _hand_over(stored: StoredSaga | None, deps: Dependencies) -> None:
    if stored is not None and deps.saga_handovers is not None:
        deps.saga_handovers.give(stored)


def _run_effects(decision: Decision, stored: StoredSaga, deps: Dependencies) -> None:
    for effect in decision.effects:
        if isinstance(effect, EnqueueWork):
            _enqueue_job(effect.queue_id, stored, deps)
        elif isinstance(effect, WithdrawWork):
            if deps.jobs.withdraw(effect.queue_id, effect.priority, effect.reason, deps.clock(),
                                  tombstone=_job_of(stored.saga, effect.queue_id, deps)):
                logger.info("job %s withdrawn: %s", effect.queue_id, effect.reason)
        elif isinstance(effect, CheckWork):
            _check_work(effect.queue_id, stored, deps)


# A job's closing news, told again from the job itself: one id per job and outcome, so a saga that
# hears it twice (the check and the late original) takes it once.
_RECOVERED = uuid.UUID("6f1d8f5e-3c9a-4a64-9b55-2f0e1f3d7c21")


def _job_news(job: Job, **envelope: Any) -> Envelope:
    """What a closed job tells its saga, from the job itself: WorkCompleted with its notes, or
    WorkFailed with why (``envelope``: a message id of its own, when one is given)."""
    if job.status == JobStatus.COMPLETED:
        message_type, news = "execution.WorkCompleted", contracts.WorkCompleted(queue_id=job.queue_id,
                                                                                notes=job.result_notes or "")
    else:
        message_type, news = "execution.WorkFailed", contracts.WorkFailed(queue_id=job.queue_id,
                                                                          reason=job.failure_reason or "")
    return Envelope(type=message_type, saga_id=job.execution_id, service_order_id=job.service_order_id,
                    payload=news, **envelope)


def _check_work(queue_id: str, stored: StoredSaga, deps: Dependencies) -> None:
    """The saga looked at its job: closed, the news the job published (and the broker may have
    lost) is applied now from the job itself; still open, nothing happens; missing while the saga
    waits for it (a crash between the saga's write and the job's put), it is queued now."""
    found = deps.jobs.get(queue_id)
    if found is None:
        _queue_the_job_if_missing(stored.saga, deps)
        return
    if found.job.status not in (JobStatus.COMPLETED, JobStatus.FAILED):
        return
    job = found.job
    envelope = _job_news(job, message_id=str(uuid.uuid5(_RECOVERED, f"{queue_id}:{job.status}")))
    logger.warning("job %s is %s but its saga never heard: told now", queue_id, job.status)
    saga_handle_reply(envelope, deps=deps)


def _job_of(saga: SagaInstance, queue_id: str, deps: Dependencies) -> Job:
    order = saga.order
    at = iso(deps.clock())
    return Job(queue_id=queue_id, priority=order.priority, execution_id=saga.execution_id,
               service_order_id=saga.service_order_id, order_number=order.order_number, vehicle=order.vehicle,
               items=order.items, notes=order.notes, created_at=at, updated_at=at)


def _enqueue_job(queue_id: str, stored: StoredSaga, deps: Dependencies) -> None:
    """Put the job the saga has just recorded as queued (:func:`saga.with_the_job_queued`); a put
    that finds the id taken (a copy of the message, or a withdrawal that came first) queues nothing."""
    if deps.jobs.add(_job_of(stored.saga, queue_id, deps)):
        logger.info("job %s queued (priority %s)", queue_id, stored.saga.order.priority)
    if stored.saga.step("enqueue_work").status != StepStatus.RUNNING:
        return

    def decide(current: SagaInstance) -> Decision:
        return saga_flow.work_enqueued(current, queue_id, now=deps.clock(), config=deps.config)

    _apply(stored.saga.execution_id, decide, deps, cause="job queued", known=stored)


def _queue_the_job_if_missing(saga: SagaInstance, deps: Dependencies) -> None:
    """A saga (as read) that waits for its mechanic has its job in the queue: the put after the
    write that recorded it may have been lost to a crash. One conditional put: it lands only if
    there is no job (nor a withdrawn one) under that id."""
    if saga_flow.waits_for_the_job(saga) and deps.jobs.add(_job_of(saga, saga.queue_id or "", deps)):
        logger.warning("job %s was missing from the queue: queued now", saga.queue_id)


# --- consuming messages ------------------------------------------------------------------------
def _guarded(handler: Callable[..., Any], deps: Dependencies) -> Callable[[Envelope], Any]:
    """Errors no retry can fix (a payload the saga cannot use, an unknown saga) are logged and dropped."""
    def run(envelope: Envelope) -> Any:
        try:
            return handler(envelope, deps=deps)
        except InvalidSagaMessage as exc:
            logger.error("dropped %s %s: %s", envelope.type, envelope.message_id, exc)
        except NotFound as exc:
            logger.warning("dropped %s %s: %s", envelope.type, envelope.message_id, exc.message)
        return None

    return run


def message_dispatcher(deps: Dependencies) -> Dispatcher:
    handlers: dict[str, Callable[[Envelope], Any]] = {"os.DiagnosisCompleted": _guarded(saga_start, deps)}
    for message_type in saga_flow.REPLY_TYPES:
        handlers[message_type] = _guarded(saga_handle_reply, deps)
    return Dispatcher(handlers)


def message_handle(data: Any, *, deps: Dependencies) -> str:
    """The ``execution.handle_message`` consumer: once per message id. Every message changes one
    saga, whose item records the ids it has applied (no separate inbox to write)."""
    return message_dispatcher(deps).dispatch(data, None)


# --- the work queue ----------------------------------------------------------------------------
def _job(queue_id: str, deps: Dependencies) -> StoredJob:
    stored = deps.jobs.get(queue_id)
    if stored is None:
        raise NotFound(f"Job {queue_id} not found.", code="job_not_found")
    return stored


def work_queue_claim(*, mechanic: Mechanic, deps: Dependencies) -> Job | None:
    job = deps.jobs.claim(mechanic, deps.clock())
    if job:
        deps.recent_jobs.keep(StoredJob(job))  # a job just queued holds no messages yet
        with bind_correlation_id(job.execution_id):
            logger.info("job %s claimed by %s", job.queue_id, mechanic.name or mechanic.user_id)
    return job


def _move_job(stored: StoredJob, to: JobStatus, changes: dict[str, Any], *, news: Envelope | None = None,
              deps: Dependencies, from_copy: bool = False) -> Job:
    """The job's move, with its news for the saga (``news``) in the same write. ``from_copy``: the
    job is this process's copy (:class:`RecentJobs`); a conflict means the copy was stale and is
    raised as such, for the caller to read the job and decide again."""
    try:
        saved = deps.jobs.transition(stored, {"status": to.value, "updated_at": iso(deps.clock()), **changes},
                                     expected_status=stored.job.status, messages=[news] if news else [])
    except ConcurrencyConflict:
        deps.recent_jobs.forget(stored.job.queue_id)
        if from_copy:
            raise
        current = _job(stored.job.queue_id, deps).job
        raise InvalidTransition(f"The job changed meanwhile: it is now {current.status}; "
                                f"it cannot go from {current.status} to {to}.",
                                extra={"from": current.status, "to": to.value}) from None
    if news is not None and deps.job_news_in_process and _told_the_saga(news, deps):
        deps.jobs.mark_published(saved, [news.message_id])
    deps.jobs.deliver(saved, deps.publisher, just_written=True)
    if to in ACTIVE_JOB_STATUSES:
        deps.recent_jobs.keep(saved)
    else:
        deps.recent_jobs.forget(saved.job.queue_id)  # closed: nothing more to write on it
    return saved.job


def _told_the_saga(news: Envelope, deps: Dependencies) -> bool:
    """The job's news applied to its saga here, as the execution worker would apply it from the
    broker (one task fewer). The job's write already holds the news: if anything goes wrong here
    it is published as usual, and if the process dies before its receipt is recorded the sweeper
    publishes it; the saga takes a message it has applied once (its id is in the saga item)."""
    try:
        message_dispatcher(deps).dispatch(news.to_dict(), None)
    except Exception:  # noqa: BLE001 - the broker carries it instead
        logger.warning("%s %s not applied here; published for the worker", news.type, news.message_id,
                       exc_info=True)
        return False
    finally:
        # The saga's next message (the participants' answers) goes to a worker: no copy kept here,
        # the one this write left is handed over to it.
        _hand_over(deps.recent_sagas.pop(news.saga_id), deps)
    return True


def job_start(*, queue_id: str, mechanic: Mechanic, deps: Dependencies) -> Job:
    stored = _job(queue_id, deps)
    job = stored.job
    with bind_correlation_id(job.execution_id):
        job.ensure_actor(mechanic)
        if job.status == JobStatus.IN_PROGRESS:
            return job
        job.ensure_can_move(JobStatus.IN_PROGRESS)
        started = _move_job(stored, JobStatus.IN_PROGRESS, {"started_at": iso(deps.clock())}, deps=deps)
        logger.info("job %s started", queue_id)
        return started


def job_complete(*, queue_id: str, mechanic: Mechanic, notes: str, deps: Dependencies) -> Job:
    return _close_job(queue_id, mechanic, JobStatus.COMPLETED, {"result_notes": notes}, outcome="completed",
                      deps=deps)


def job_fail(*, queue_id: str, mechanic: Mechanic, reason: str, deps: Dependencies) -> Job:
    return _close_job(queue_id, mechanic, JobStatus.FAILED, {"failure_reason": reason}, outcome=f"failed: {reason}",
                      deps=deps)


def _close_job(queue_id: str, mechanic: Mechanic, to: JobStatus, changes: dict[str, Any], *, outcome: str,
               deps: Dependencies) -> Job:
    """The mechanic's last word on a job: the job closes and tells its saga, in one write.

    The copy of the job this process claimed or moved last is used without reading the job only
    when it says the move is theirs to make: the write is conditional on its status and version,
    and a stale copy fails it (the job is read and the move decided again). Any refusal, or the
    same move again, is decided on the job as read."""
    def close(stored: StoredJob, *, from_copy: bool = False) -> Job:
        job = stored.job
        with bind_correlation_id(job.execution_id):
            job.ensure_actor(mechanic)
            if job.status == to:
                return job  # the same decision again: nothing changes twice
            job.ensure_can_move(to)
            event = _job_news(replace(job, status=to, **changes))  # the job as this move closes it
            closed = _move_job(stored, to, {"finished_at": iso(deps.clock()), **changes}, news=event, deps=deps,
                               from_copy=from_copy)
            logger.info("job %s %s", queue_id, outcome)
            return closed

    copy = deps.recent_jobs.get(queue_id)
    if copy is not None and copy.job.may_move(mechanic, to):
        try:
            return close(copy, from_copy=True)
        except ConcurrencyConflict:
            logger.info("job %s changed since this process last wrote it; read again", queue_id)
    return close(_job(queue_id, deps))


# A DynamoDB item holds at most 400 KB, and a report is stored on the job and (as the revision,
# the command that asks for it and its outbox copy) on the saga: each report is bounded in bytes
# as stored, and a job takes a bounded number of them.
MAX_REPORT_BYTES = 16_000
MAX_REPORTS_PER_JOB = 10
MAX_JOB_BYTES = 300_000  # the job as JSON, which is larger than what DynamoDB counts of it
# What a mechanic writes when closing a job (its notes, or why it failed): kept on the job, the
# saga and the message between them.
MAX_NOTES_BYTES = 4_000


def job_report_additional_repairs(*, queue_id: str, mechanic: Mechanic, items: list[dict[str, Any]], notes: str,
                                  deps: Dependencies) -> Job:
    """The mechanic found more to fix: the saga asks Billing for a revised budget."""
    if not items:
        raise ValidationFailed("Report at least one item.", code="no_items")
    size = stored_bytes({"items": items, "notes": notes})
    if size > MAX_REPORT_BYTES:
        raise ValidationFailed(f"items: a report holds at most {MAX_REPORT_BYTES} bytes of items and notes; "
                               f"this one has {size}.", code="report_too_large", extra={"bytes": size})
    stored = _job(queue_id, deps)
    job = stored.job
    with bind_correlation_id(job.execution_id):
        job.ensure_actor(mechanic)
        if job.status not in ACTIVE_JOB_STATUSES:
            raise InvalidTransition(f"Additional repairs can only be reported on an ASSIGNED or IN_PROGRESS job; "
                                    f"this one is {job.status}.", extra={"from": job.status})
        # The item also holds, until its next write, the report its outbox carried last.
        held = sum(len(raw.encode()) for raw in stored.outbox.values())
        if len(job.additional_repairs) >= MAX_REPORTS_PER_JOB or \
                stored_bytes(job.to_dict()) + held + size > MAX_JOB_BYTES:
            raise InvalidTransition(f"This job takes no more reports of additional repairs (at most "
                                    f"{MAX_REPORTS_PER_JOB}, and what it holds is near what one record can hold).",
                                    code="too_many_reports")
        event = Envelope(type="execution.AdditionalRepairReported", saga_id=job.execution_id,
                         service_order_id=job.service_order_id,
                         payload=contracts.AdditionalRepairReported(queue_id=job.queue_id, items=items, notes=notes))
        report = {"items": items, "notes": notes, "reported_at": iso(deps.clock()),
                  "reported_by": mechanic.name or mechanic.user_id}
        reported = _move_job(stored, JobStatus(job.status), {"additional_repairs": [*job.additional_repairs, report]},
                             news=event, deps=deps)
        logger.info("job %s: additional repairs reported (%d item(s))", queue_id, len(items))
        return reported
