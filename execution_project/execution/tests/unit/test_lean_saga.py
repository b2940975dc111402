"""Fewer reads and writes per saga, every guarantee kept (fakes, no I/O): the job queued in the
payment's own saga write, the mechanic's news applied by the process that closes the job, and the
sagas a process wrote last decided on without reading them again."""
from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from django.core.cache.backends.locmem import LocMemCache

from execution import services
from execution.domain import JobStatus, Mechanic, StepStatus, queue_id_for
from execution.repositories import RecentJobs, RecentSagas, SagaHandovers
from oficina_common.errors import ConcurrencyConflict, InvalidTransition, PermissionDenied

from ..factories import diagnosis_completed, message, replies_until_paid
from ..fakes import T0, Clock, fake_dependencies

JOAO = Mechanic(user_id="7", name="joao")


class Crash(Exception):
    """The process died here."""


def counting(deps, repository: str, method: str) -> list[str]:
    """Record each call of ``deps.<repository>.<method>`` (by its first argument's saga or job id)."""
    calls: list[str] = []
    target = getattr(deps, repository)
    original = getattr(target, method)

    def wrapper(*args, **kwargs):
        calls.append(method)
        return original(*args, **kwargs)

    setattr(target, method, wrapper)
    return calls


def handle(deps, envelope) -> str:
    return services.message_handle(envelope.to_dict(), deps=deps)


def to_payment(deps, event) -> list:
    """The saga started and answered up to (not including) the payment's approval; that reply returned."""
    assert handle(deps, event) == "handled"
    *before, approved = replies_until_paid(event)
    for answer in before:
        assert handle(deps, answer) == "handled"
    return approved


def crash_at_the_job_put(deps, monkeypatch) -> None:
    original = deps.jobs.add

    def add(job):
        monkeypatch.setattr(deps.jobs, "add", original)
        raise Crash

    monkeypatch.setattr(deps.jobs, "add", add)


def paid_then_crashed_at_the_job_put(deps, monkeypatch):
    """A saga whose payment's approval was written, and whose worker died before the job's put:
    the saga and that approval (which the broker may give back)."""
    event = diagnosis_completed()
    approved = to_payment(deps, event)
    crash_at_the_job_put(deps, monkeypatch)
    with pytest.raises(Crash):
        handle(deps, approved)
    return event, approved


# --- the job, queued in the payment's own write -------------------------------------------------
def test_the_payment_approval_queues_the_job_in_one_saga_write(deps):
    event = diagnosis_completed()
    approved = to_payment(deps, event)
    saves = counting(deps, "executions", "save")
    assert handle(deps, approved) == "handled"
    assert len(saves) == 1
    saga = deps.executions.sagas[event.saga_id]
    assert saga.step("enqueue_work").status == StepStatus.COMPLETED
    assert saga.step("complete_work").status == StepStatus.RUNNING
    assert deps.jobs.jobs[queue_id_for(event.saga_id)].status == JobStatus.QUEUED
    assert deps.publisher.types()[-1] == "os.ChangeStatus"


def test_a_crash_before_the_job_put_is_mended_by_the_redelivered_message(deps, monkeypatch):
    event, approved = paid_then_crashed_at_the_job_put(deps, monkeypatch)
    assert deps.executions.sagas[event.saga_id].step("complete_work").status == StepStatus.RUNNING
    assert queue_id_for(event.saga_id) not in deps.jobs.jobs

    assert handle(deps, approved) == "duplicate"  # the broker gives it back: the saga changes nothing
    assert deps.jobs.jobs[queue_id_for(event.saga_id)].status == JobStatus.QUEUED
    assert deps.publisher.types().count("os.ChangeStatus") == 3  # the IN_EXECUTION one, once


def test_a_crash_before_the_job_put_is_mended_when_the_saga_looks_at_its_job(deps, clock, monkeypatch):
    event, _lost_with_the_worker = paid_then_crashed_at_the_job_put(deps, monkeypatch)

    clock.now = T0 + deps.config.job_check_interval + timedelta(minutes=1)
    services.saga_sweep(deps=deps)
    job = deps.jobs.jobs[queue_id_for(event.saga_id)]
    assert job.status == JobStatus.QUEUED
    assert services.work_queue_claim(mechanic=JOAO, deps=deps).queue_id == job.queue_id


def test_a_cancellation_before_the_job_put_leaves_no_orphan_job(deps, monkeypatch):
    event, approved = paid_then_crashed_at_the_job_put(deps, monkeypatch)

    cancelled = message(event.saga_id, event.service_order_id, "os.OrderCancelled", reason="desistiu",
                        cancelled_by="a")
    assert handle(deps, cancelled) == "handled"
    queue_id = queue_id_for(event.saga_id)
    withdrawn = deps.jobs.jobs[queue_id]
    assert withdrawn.status == JobStatus.FAILED and "desistiu" in withdrawn.failure_reason

    assert handle(deps, approved) == "duplicate"  # the late copy of the payment's approval
    assert deps.jobs.jobs[queue_id].status == JobStatus.FAILED
    assert services.work_queue_claim(mechanic=JOAO, deps=deps) is None


def test_a_cancellation_after_the_job_put_withdraws_the_job(deps):
    event = diagnosis_completed()
    assert handle(deps, to_payment(deps, event)) == "handled"
    handle(deps, message(event.saga_id, event.service_order_id, "os.OrderCancelled", reason="desistiu",
                         cancelled_by="a"))
    assert deps.jobs.jobs[queue_id_for(event.saga_id)].status == JobStatus.FAILED
    assert services.work_queue_claim(mechanic=JOAO, deps=deps) is None


# --- the mechanic's news, applied where the job closes -------------------------------------------
@pytest.fixture
def told(deps):
    deps.job_news_in_process = True
    return deps


def claimed_job(deps) -> str:
    event = diagnosis_completed()
    assert handle(deps, to_payment(deps, event)) == "handled"
    return services.work_queue_claim(mechanic=JOAO, deps=deps).queue_id


def test_closing_a_job_tells_its_saga_without_the_broker(told):
    deps = told
    queue_id = claimed_job(deps)
    job = deps.jobs.jobs[queue_id]
    services.job_complete(queue_id=queue_id, mechanic=JOAO, notes="Trocado", deps=deps)
    saga = deps.executions.sagas[job.execution_id]
    assert saga.work_done and saga.work_notes == "Trocado"
    assert "execution.WorkCompleted" not in deps.publisher.types()
    assert deps.publisher.types()[-1] == "os.ConsumeParts"
    assert deps.jobs.outboxes[queue_id] == {}  # nothing left for the sweeper

    services.job_complete(queue_id=queue_id, mechanic=JOAO, notes="Trocado", deps=deps)  # pressed again
    assert deps.publisher.types().count("os.ConsumeParts") == 1


def test_a_report_tells_its_saga_without_the_broker(told):
    deps = told
    queue_id = claimed_job(deps)
    item = {"kind": "part", "catalog_id": "7", "description": "Filtro", "quantity": 1, "unit_price_cents": 3550}
    services.job_report_additional_repairs(queue_id=queue_id, mechanic=JOAO, items=[item], notes="extra", deps=deps)
    assert "execution.AdditionalRepairReported" not in deps.publisher.types()
    assert deps.publisher.types()[-1] == "os.PriceItems"


def test_news_the_saga_cannot_take_here_goes_through_the_broker(told):
    deps = told
    queue_id = claimed_job(deps)
    deps.executions.conflicts_to_raise = services.MAX_CONFLICT_RETRIES  # the saga keeps changing
    done = services.job_complete(queue_id=queue_id, mechanic=JOAO, notes="Trocado", deps=deps)
    assert done.status == JobStatus.COMPLETED  # the mechanic's word is kept all the same
    news = deps.publisher.published[-1]
    assert news.type == "execution.WorkCompleted"
    assert not deps.executions.sagas[done.execution_id].work_done

    assert handle(deps, news) == "handled"  # the worker applies it
    assert deps.executions.sagas[done.execution_id].work_done
    assert handle(deps, news) == "duplicate"


def test_news_applied_here_and_published_again_after_a_crash_is_taken_once(told, monkeypatch):
    deps = told
    queue_id = claimed_job(deps)
    job = deps.jobs.jobs[queue_id]

    def crash(*args, **kwargs):
        raise Crash

    monkeypatch.setattr(deps.jobs, "mark_published", crash)  # the process dies before the receipt
    with pytest.raises(Crash):
        services.job_complete(queue_id=queue_id, mechanic=JOAO, notes="Trocado", deps=deps)
    assert deps.executions.sagas[job.execution_id].work_done
    consumed = deps.publisher.types().count("os.ConsumeParts")

    assert deps.jobs.relay(deps.publisher).sweep() == 1  # the sweeper publishes what the job still holds
    news = deps.publisher.published[-1]
    assert news.type == "execution.WorkCompleted"
    assert handle(deps, news) == "duplicate"
    assert deps.publisher.types().count("os.ConsumeParts") == consumed


# --- the sagas a process wrote last ---------------------------------------------------------------
def test_replies_to_the_process_that_wrote_the_saga_last_read_nothing(deps):
    event = diagnosis_completed()
    reads = counting(deps, "executions", "get")
    handle(deps, event)
    for answer in replies_until_paid(event):
        assert handle(deps, answer) == "handled"
    assert reads == []
    assert deps.jobs.jobs[queue_id_for(event.saga_id)].status == JobStatus.QUEUED


def two_workers(deps):
    """Two processes on the same tables: each with its own copies of the sagas it wrote."""
    return deps, replace(deps, recent_sagas=RecentSagas())


def test_two_workers_taking_turns_on_one_saga_apply_every_reply(deps):
    one, other = two_workers(deps)
    event = diagnosis_completed()
    handle(one, event)
    for n, answer in enumerate(replies_until_paid(event)):
        assert handle((other, one)[n % 2], answer) == "handled"
    saga = deps.executions.sagas[event.saga_id]
    assert saga.step("complete_work").status == StepStatus.RUNNING
    assert saga.version == 1 + len(replies_until_paid(event))  # one write per reply, none lost or doubled
    assert deps.publisher.types().count("billing.RequestPayment") == 1


def test_a_stale_copy_that_would_ignore_a_reply_still_applies_it(deps):
    one, other = two_workers(deps)
    event = diagnosis_completed()
    created, approved, reserved, *_ = replies_until_paid(event)
    handle(one, event)
    handle(one, created)  # one's copy: waiting for the approval
    handle(other, approved)  # the saga moves on elsewhere: it now waits for the parts
    # On one's copy the reservation was never asked for; on the saga it is the awaited answer.
    assert handle(one, reserved) == "handled"
    assert deps.executions.sagas[event.saga_id].step("reserve_parts").status == StepStatus.COMPLETED
    assert deps.publisher.types().count("billing.RequestPayment") == 1


def test_a_stale_copy_that_would_defer_a_reply_still_applies_it(deps):
    one, other = two_workers(deps)
    event = diagnosis_completed()
    handle(one, event)  # one's copy: the budget not created yet
    created, approved, *_ = replies_until_paid(event)
    handle(other, created)
    # On one's copy this approval overtook its budget (too early); on the saga it is on time.
    assert handle(one, approved) == "handled"
    assert deps.executions.sagas[event.saga_id].step("create_budget").status == StepStatus.COMPLETED


def test_a_reply_redelivered_to_a_process_with_a_stale_copy_is_a_duplicate(deps):
    one, other = two_workers(deps)
    event = diagnosis_completed()
    created, approved, *_ = replies_until_paid(event)
    handle(one, event)
    handle(one, created)
    assert handle(other, approved) == "handled"
    version = deps.executions.sagas[event.saga_id].version
    assert handle(one, approved) == "duplicate"  # one's copy would apply it: its write fails, the item says no
    assert deps.executions.sagas[event.saga_id].version == version
    assert deps.publisher.types().count("os.ReserveParts") == 1


def test_a_saga_waiting_on_its_mechanic_is_not_kept_when_the_web_process_tells_it(told):
    deps = told
    event = diagnosis_completed()
    assert handle(deps, to_payment(deps, event)) == "handled"
    assert deps.recent_sagas.get(event.saga_id) is None


def test_the_copies_are_bounded():
    recent = RecentSagas(size=2)
    deps = fake_dependencies(Clock(T0))
    for _ in range(3):
        handle(replace(deps, recent_sagas=recent), diagnosis_completed())
    assert len(recent) == 2


def test_copies_that_keep_failing_are_no_longer_handed_out_but_probed(deps):
    """Several workers sharing the queue make most copies stale: after a few failed writes the
    process reads the saga instead (no more failed writes), and the copies are handed out again
    once they hold again (one worker left)."""
    one, other = two_workers(deps)
    failed_writes: list[str] = []
    save = deps.executions.save

    def counted_save(*args, **kwargs):
        try:
            return save(*args, **kwargs)
        except ConcurrencyConflict:
            failed_writes.append("conflict")
            raise

    deps.executions.save = counted_save
    for _ in range(12):
        event = diagnosis_completed()
        created, approved, *_ = replies_until_paid(event)
        handle(one, event)
        handle(one, created)
        handle(other, approved)  # the saga moves on in the other process
        assert handle(one, approved) == "duplicate"  # redelivered here, to a stale copy
    assert not one.recent_sagas.trusted
    assert 2 <= len(failed_writes) <= 5  # the first few, then at most a probe: not one per saga
    for _ in range(60):  # alone again: the copies hold
        one.recent_sagas.proved(held=True)
    assert one.recent_sagas.trusted
    assert one.recent_sagas.get(event.saga_id) is None  # the stale copy was dropped when the saga was read
    event = diagnosis_completed()
    handle(one, event)
    assert all(one.recent_sagas.get(event.saga_id) is not None for _ in range(RecentSagas.PROBE_EVERY))


def test_an_untrusted_process_still_probes_one_lookup_in_so_many():
    recent = RecentSagas()
    deps = fake_dependencies(Clock(T0))
    event = diagnosis_completed()
    handle(replace(deps, recent_sagas=recent), event)
    for _ in range(30):
        recent.proved(held=False)
    handed = [recent.get(event.saga_id) for _ in range(2 * RecentSagas.PROBE_EVERY)]
    assert sum(copy is not None for copy in handed) == 2


# --- the saga handed over between the worker and the web process ----------------------------------
PARTS = [{"catalog_id": "7", "quantity": 2}]


def worker_and_web(deps, *, handovers: bool = True):
    """The execution worker and the web process: the same tables and the same cache (a real Django
    cache, in memory), each process with its own copies of the sagas it wrote."""
    shared = SagaHandovers(LocMemCache(f"handovers-{uuid.uuid4()}", {})) if handovers else None
    worker = replace(deps, job_news_in_process=True, saga_handovers=shared)
    return worker, replace(worker, recent_sagas=RecentSagas())


def paid_and_queued(worker):
    """A saga paid for in the worker, its job queued: the saga's first message."""
    event = diagnosis_completed()
    assert handle(worker, to_payment(worker, event)) == "handled"
    return event


def parts_consumed(event):
    return message(event.saga_id, event.service_order_id, "os.PartsConsumed", parts=PARTS)


@pytest.mark.parametrize("handovers, reads", [(True, []), (False, ["get", "get"])])
def test_the_mechanics_news_and_the_answer_after_it_read_no_saga(deps, handovers, reads):
    worker, web = worker_and_web(deps, handovers=handovers)
    event = paid_and_queued(worker)
    counted = counting(deps, "executions", "get")
    job = services.work_queue_claim(mechanic=JOAO, deps=web)
    services.job_complete(queue_id=job.queue_id, mechanic=JOAO, notes="Trocado", deps=web)  # the web process
    consumed = parts_consumed(event)
    assert handle(worker, consumed) == "handled"  # back in the worker
    assert counted == reads
    saga = deps.executions.sagas[event.saga_id]
    assert saga.work_done and saga.status == "COMPLETED"
    assert saga.version == 1 + len(replies_until_paid(event)) + 2  # one write per message, none lost or doubled
    assert deps.publisher.types()[-1] == "os.ChangeStatus"
    assert handle(worker, consumed) == "duplicate"  # redelivered


def test_a_handed_over_copy_gone_stale_fails_its_write_and_the_news_is_applied_once(deps):
    worker, web = worker_and_web(deps)
    event = paid_and_queued(worker)
    deps.executions.sagas[event.saga_id].version += 1  # another writer came between: the copy is stale
    counted = counting(deps, "executions", "get")
    trusted = web.recent_sagas.stale_rate
    job = services.work_queue_claim(mechanic=JOAO, deps=web)
    services.job_complete(queue_id=job.queue_id, mechanic=JOAO, notes="Trocado", deps=web)
    assert counted == ["get"]  # the write on the copy failed its condition: the saga was read
    saga = deps.executions.sagas[event.saga_id]
    assert saga.work_done and deps.publisher.types().count("os.ConsumeParts") == 1
    assert "execution.WorkCompleted" not in deps.publisher.types()
    assert web.recent_sagas.stale_rate == trusted  # another process's copy says nothing of this one's


def test_a_handover_lost_with_the_cache_is_a_read(deps):
    worker, web = worker_and_web(deps)
    event = paid_and_queued(worker)
    worker.saga_handovers.cache.clear()  # Redis restarted: it keeps nothing on disk
    counted = counting(deps, "executions", "get")
    job = services.work_queue_claim(mechanic=JOAO, deps=web)
    services.job_complete(queue_id=job.queue_id, mechanic=JOAO, notes="Trocado", deps=web)
    assert counted == ["get"] and deps.executions.sagas[event.saga_id].work_done


def test_a_handover_is_taken_once_and_is_the_saga_as_written(deps):
    worker, _ = worker_and_web(deps)
    event = paid_and_queued(worker)
    handed = worker.saga_handovers.take(event.saga_id)
    assert handed.saga.to_dict() == deps.executions.sagas[event.saga_id].to_dict()
    assert handed.handled == deps.executions.handled[event.saga_id]
    assert handed.outbox == deps.executions.outboxes[event.saga_id]
    assert worker.saga_handovers.take(event.saga_id) is None


def reads_per_saga(one, other, sagas: int) -> list[int]:
    """Sagas answered by two workers taking turns: how many times each read the saga item."""
    reads = counting(one, "executions", "get")
    per_saga = []
    for _ in range(sagas):
        before = len(reads)
        event = diagnosis_completed()
        handle(one, event)
        for n, answer in enumerate(replies_until_paid(event)):
            assert handle((other, one)[n % 2], answer) == "handled"
        per_saga.append(len(reads) - before)
    return per_saga


@pytest.mark.parametrize("handovers", [True, False])
def test_workers_whose_copies_prove_stale_hand_the_saga_over_and_read_nothing(deps, handovers):
    one, other = worker_and_web(deps, handovers=handovers)  # here: two workers on one queue
    one.job_news_in_process = other.job_news_in_process = False
    per_saga = reads_per_saga(one, other, 16)
    assert not one.recent_sagas.trusted and not other.recent_sagas.trusted
    replies = len(replies_until_paid(diagnosis_completed()))
    # Once both processes' copies have proved stale: with handovers no reply reads the saga but
    # a probe's now and then (RecentSagas.PROBE_EVERY); without, every reply reads it.
    settled = per_saga[-8:]
    assert (sum(settled) <= 2) if handovers else settled == [replies] * 8
    saga = max(deps.executions.sagas.values(), key=lambda s: s.started_at)
    assert saga.version == 1 + replies  # one write per reply, none lost or doubled


class BrokenCache:
    def set(self, *args, **kwargs):
        raise ConnectionError("redis is down")

    get = delete = set


def test_a_cache_that_is_down_hands_nothing_over_and_fails_nothing(deps):
    worker, web = worker_and_web(deps)
    worker.saga_handovers.cache = BrokenCache()
    event = paid_and_queued(worker)
    job = services.work_queue_claim(mechanic=JOAO, deps=web)
    services.job_complete(queue_id=job.queue_id, mechanic=JOAO, notes="Trocado", deps=web)
    assert handle(worker, parts_consumed(event)) == "handled"
    assert deps.executions.sagas[event.saga_id].status == "COMPLETED"


# --- the jobs a process claimed or moved last -----------------------------------------------------
def test_closing_the_job_a_process_just_claimed_reads_nothing(deps):
    queue_id = claimed_job(deps)
    reads = counting(deps, "jobs", "get")
    assert services.job_complete(queue_id=queue_id, mechanic=JOAO, notes="ok", deps=deps).status == "COMPLETED"
    assert reads == []


def test_a_stale_copy_of_a_job_moved_elsewhere_is_read_again_and_the_move_made(deps):
    queue_id = claimed_job(deps)
    other = replace(deps, recent_jobs=RecentJobs())  # the other web process
    services.job_start(queue_id=queue_id, mechanic=JOAO, deps=other)
    done = services.job_complete(queue_id=queue_id, mechanic=JOAO, notes="ok", deps=deps)  # copy: ASSIGNED
    assert (done.status, deps.jobs.jobs[queue_id].status) == ("COMPLETED", "COMPLETED")


def test_a_stale_copy_never_lets_a_move_through_that_the_job_refuses(deps):
    queue_id = claimed_job(deps)
    other = replace(deps, recent_jobs=RecentJobs())
    services.job_fail(queue_id=queue_id, mechanic=Mechanic(user_id="1", name="admin", is_admin=True),
                      reason="motor fundido", deps=other)
    with pytest.raises(InvalidTransition):
        services.job_complete(queue_id=queue_id, mechanic=JOAO, notes="ok", deps=deps)  # copy: ASSIGNED
    assert deps.jobs.jobs[queue_id].status == "FAILED"
    with pytest.raises(PermissionDenied):
        services.job_complete(queue_id=queue_id, mechanic=Mechanic(user_id="8", name="ana"), notes="", deps=deps)
