"""Fewer reads and writes per saga on real DynamoDB endpoints, every guarantee kept: a job's
outbox with receipts, a withdrawal racing the job's put, claims at the same moment, and two
workers each deciding on the copies of the sagas it wrote last."""
from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from execution import services
from execution.domain import JobStatus, Mechanic, StepStatus, iso
from execution.repositories import RecentSagas, WorkQueueRepository
from oficina_common.dynamodb import is_conditional_failure
from oficina_common.messages import Envelope

from ..contract.test_repositories import NOW, make_job
from ..factories import diagnosis_completed, replies_until_paid

JOAO = Mechanic("7", "joao")


def writes_of(table, monkeypatch) -> list[str]:
    """The outcome of each UpdateItem on ``table`` from now on: "ok" or "conditional failure"."""
    outcomes: list[str] = []
    original = table.update_item

    def update_item(**kwargs):
        try:
            response = original(**kwargs)
        except ClientError as exc:
            outcomes.append("conditional failure" if is_conditional_failure(exc) else "error")
            raise
        outcomes.append("ok")
        return response

    monkeypatch.setattr(table, "update_item", update_item)
    return outcomes


def closed_with_news(deps) -> tuple:
    job = make_job(3, iso(NOW))
    deps.jobs.add(job)
    deps.jobs.claim(JOAO, NOW)
    news = Envelope(type="execution.WorkCompleted", saga_id=job.execution_id, service_order_id=job.service_order_id,
                    payload={"queue_id": job.queue_id, "notes": "ok"})
    done = deps.jobs.transition(deps.jobs.get(job.queue_id), {"status": "COMPLETED", "result_notes": "ok"},
                                expected_status="ASSIGNED", messages=[news])
    return done, news


# --- a job's outbox with receipts ---------------------------------------------------------------
def test_a_jobs_published_news_is_not_written_again_and_the_sweeper_leaves_it(empty_queue, publisher,
                                                                             monkeypatch):
    deps = empty_queue
    assert deps.jobs.receipts is not None
    done, news = closed_with_news(deps)
    writes = writes_of(deps.jobs.table, monkeypatch)
    assert deps.jobs.deliver(done, publisher) == 1
    assert writes == []  # no removal written after publishing
    held = deps.jobs.get(done.job.queue_id).outbox
    assert list(held) == [news.message_id] and deps.jobs.receipts.published(held) == {news.message_id}
    assert deps.jobs.relay(publisher).sweep(older_than=timedelta(0)) == 0
    assert writes == [] and publisher.types() == ["execution.WorkCompleted"]


def test_a_jobs_news_a_crash_kept_from_the_broker_is_published_by_the_sweeper_once(empty_queue, publisher):
    deps = empty_queue
    done, news = closed_with_news(deps)  # ... and the process dies before delivering
    assert deps.jobs.relay(publisher).sweep(older_than=timedelta(0)) == 1
    assert [e.message_id for e in publisher.published] == [news.message_id]
    assert deps.jobs.relay(publisher).sweep(older_than=timedelta(0)) == 0


def test_news_told_to_the_saga_in_process_leaves_nothing_for_the_sweeper(empty_queue, publisher):
    deps = empty_queue
    assert deps.job_news_in_process
    event = diagnosis_completed()
    services.message_handle(event.to_dict(), deps=deps)
    for answer in replies_until_paid(event):
        services.message_handle(answer.to_dict(), deps=deps)
    job = services.work_queue_claim(mechanic=JOAO, deps=deps)
    services.job_complete(queue_id=job.queue_id, mechanic=JOAO, notes="Trocado", deps=deps)
    assert deps.executions.get(event.saga_id).saga.work_done
    assert deps.jobs.relay(publisher).sweep(older_than=timedelta(0)) == 0
    assert "execution.WorkCompleted" not in publisher.types()


def test_without_receipts_news_told_in_process_is_taken_out_of_the_job(empty_queue, publisher):
    deps = replace(empty_queue, jobs=WorkQueueRepository(empty_queue.jobs.table, receipts=None))
    done, news = closed_with_news(deps)
    deps.jobs.mark_published(done, [news.message_id])
    assert done.outbox == {} and deps.jobs.get(done.job.queue_id).outbox == {}
    assert deps.jobs.relay(publisher).sweep(older_than=timedelta(0)) == 0 and publisher.published == []


# --- a withdrawal racing the job's put ----------------------------------------------------------
def test_a_put_landing_between_the_withdrawals_looks_is_withdrawn(empty_queue, monkeypatch):
    deps = empty_queue
    job = make_job(4, iso(NOW))
    first_look = deps.jobs._close_open
    looks: list[bool] = []

    def racing(*args):
        closed = first_look(*args)
        if not looks:
            assert deps.jobs.add(job)  # the enqueue's put lands right after the withdrawal's first look
        looks.append(closed)
        return closed

    monkeypatch.setattr(deps.jobs, "_close_open", racing)
    assert deps.jobs.withdraw(job.queue_id, 4, "desistiu", NOW, tombstone=job)
    assert looks == [False, True]
    withdrawn = deps.jobs.get(job.queue_id).job
    assert (withdrawn.status, withdrawn.failure_reason) == ("FAILED", "Withdrawn: desistiu")
    assert deps.jobs.claim(JOAO, NOW) is None


# --- claims at the same moment -------------------------------------------------------------------
def claim_all_at_once(repositories: list[WorkQueueRepository], mechanics: int) -> dict[str, list[str]]:
    barrier = threading.Barrier(mechanics)
    claims: dict[str, list[str]] = {}

    def mechanic(n: int) -> None:
        who = Mechanic(f"m{n}", f"m{n}")
        repository = repositories[n % len(repositories)]
        barrier.wait()
        taken = []
        while (job := repository.claim(who, NOW)) is not None:
            taken.append(job.queue_id)
        claims[who.user_id] = taken

    threads = [threading.Thread(target=mechanic, args=(n,)) for n in range(mechanics)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return claims


# dynalite only: moto's server does not serialize concurrent conditional writes to one item.
@pytest.mark.parametrize("dynamo", ["dynalite"], indirect=True)
def test_claims_of_one_process_at_the_same_moment_never_write_in_vain(empty_queue, monkeypatch):
    deps = empty_queue
    jobs = [make_job(1 + n % 5, f"2026-03-01T08:00:{n:02d}Z") for n in range(12)]
    for job in jobs:
        deps.jobs.add(job)
    writes = writes_of(deps.jobs.table, monkeypatch)
    claims = claim_all_at_once([deps.jobs], mechanics=8)
    handed_out = Counter(queue_id for taken in claims.values() for queue_id in taken)
    assert set(handed_out) == {job.queue_id for job in jobs} and max(handed_out.values()) == 1
    assert writes == ["ok"] * len(jobs)  # no conditional claim lost: each claim went for a job nobody else was on


@pytest.mark.parametrize("dynamo", ["dynalite"], indirect=True)
def test_claims_of_two_processes_at_the_same_moment_never_share_a_job(empty_queue):
    deps = empty_queue
    jobs = [make_job(1 + n % 5, f"2026-03-01T08:00:{n:02d}Z") for n in range(12)]
    for job in jobs:
        deps.jobs.add(job)
    other_process = WorkQueueRepository(deps.jobs.table, receipts=deps.jobs.receipts)
    claims = claim_all_at_once([deps.jobs, other_process], mechanics=8)
    handed_out = Counter(queue_id for taken in claims.values() for queue_id in taken)
    assert set(handed_out) == {job.queue_id for job in jobs} and max(handed_out.values()) == 1
    for user_id, taken in claims.items():
        for queue_id in taken:
            assert deps.jobs.get(queue_id).job.assigned_to == user_id


def test_a_lone_mechanic_still_gets_the_most_urgent_oldest_job_first(empty_queue):
    deps = empty_queue
    routine, urgent_new, urgent_old = (make_job(2, "2026-03-01T07:00:00Z"), make_job(5, "2026-03-01T09:00:00Z"),
                                       make_job(5, "2026-03-01T08:00:00Z"))
    for job in (routine, urgent_new, urgent_old):
        deps.jobs.add(job)
    order = [deps.jobs.claim(JOAO, NOW).queue_id for _ in range(3)]
    assert order == [urgent_old.queue_id, urgent_new.queue_id, routine.queue_id]


# --- two workers, each with the copies of the sagas it wrote last ---------------------------------
def test_two_workers_taking_turns_on_one_saga_on_real_tables(empty_queue, publisher):
    one = empty_queue
    other = replace(one, recent_sagas=RecentSagas())
    event = diagnosis_completed()
    services.message_handle(event.to_dict(), deps=one)
    answers = replies_until_paid(event)
    for n, answer in enumerate(answers):
        assert services.message_handle(answer.to_dict(), deps=(other, one)[n % 2]) == "handled"
    for n, answer in enumerate(answers):  # every reply once more, to the other worker
        assert services.message_handle(answer.to_dict(), deps=(one, other)[n % 2]) == "duplicate"
    stored = one.executions.get(event.saga_id)
    assert stored.saga.step("complete_work").status == StepStatus.RUNNING
    assert stored.saga.version == 1 + len(answers)
    assert one.jobs.get(stored.saga.queue_id).job.status == JobStatus.QUEUED
    assert Counter(publisher.types())["os.ReserveParts"] == 1


# --- the saga handed over between the worker and the web process, through Redis ------------------
def counted_reads(deps, monkeypatch) -> list[str]:
    reads: list[str] = []
    original = deps.executions.get
    monkeypatch.setattr(deps.executions, "get", lambda saga_id: reads.append(saga_id) or original(saga_id))
    return reads


def paid_in_the_worker_closed_in_the_web(worker, web, *, between=lambda saga_id: None):
    """A saga answered by the worker up to its job, the job closed by the web process, and the
    parts' consumption answered to the worker again; ``between`` runs once the job is queued."""
    event = diagnosis_completed()
    services.message_handle(event.to_dict(), deps=worker)
    for answer in replies_until_paid(event):
        assert services.message_handle(answer.to_dict(), deps=worker) == "handled"
    between(event.saga_id)
    job = services.work_queue_claim(mechanic=JOAO, deps=web)
    services.job_complete(queue_id=job.queue_id, mechanic=JOAO, notes="Trocado", deps=web)
    consumed = Envelope(type="os.PartsConsumed", saga_id=event.saga_id, service_order_id=event.service_order_id,
                        payload={"parts": [{"catalog_id": "7", "quantity": 2}]})
    assert services.message_handle(consumed.to_dict(), deps=worker) == "handled"
    assert services.message_handle(consumed.to_dict(), deps=worker) == "duplicate"
    return event.saga_id


def test_the_saga_goes_to_the_web_process_and_back_through_redis_unread(empty_queue, publisher, monkeypatch):
    worker = empty_queue
    assert worker.job_news_in_process and worker.saga_handovers is not None  # as settings wire them
    web = replace(worker, recent_sagas=RecentSagas())  # another process: its own copies
    reads = counted_reads(worker, monkeypatch)
    saga_id = paid_in_the_worker_closed_in_the_web(worker, web)
    assert reads == [saga_id]  # the duplicate's only: the news and the answer after it read nothing
    stored = worker.executions.get(saga_id)
    assert stored.saga.status == "COMPLETED" and stored.saga.work_done
    assert stored.saga.version == 1 + len(replies_until_paid(diagnosis_completed())) + 2
    assert Counter(publisher.types())["os.ConsumeParts"] == 1 and "execution.WorkCompleted" not in publisher.types()


def test_a_write_between_the_handover_and_the_news_fails_the_copys_write_and_nothing_else(empty_queue, publisher,
                                                                                        monkeypatch):
    worker = empty_queue
    web = replace(worker, recent_sagas=RecentSagas())
    table = worker.executions.table

    def another_writer(saga_id: str) -> None:
        key = {"executionId": saga_id, "timestamp": worker.executions.get(saga_id).saga.started_at}
        table.update_item(Key=key, UpdateExpression="SET version = version + :one",
                          ExpressionAttributeValues={":one": 1})

    seen: dict[str, list[str]] = {}

    def between(saga_id: str) -> None:
        another_writer(saga_id)
        seen["writes"] = writes_of(table, monkeypatch)

    saga_id = paid_in_the_worker_closed_in_the_web(worker, web, between=between)
    stored = worker.executions.get(saga_id)
    # The news on the stale copy failed its condition, was decided again on the saga as read, and
    # written; the parts' answer, on the copy that write handed over, held.
    assert seen["writes"] == ["conditional failure", "ok", "ok"]
    assert stored.saga.status == "COMPLETED" and stored.saga.work_done
    assert Counter(publisher.types())["os.ConsumeParts"] == 1


def test_two_workers_whose_copies_proved_stale_hand_each_reply_the_saga_through_redis(empty_queue, publisher,
                                                                                     monkeypatch):
    one = replace(empty_queue, job_news_in_process=False)
    other = replace(one, recent_sagas=RecentSagas())
    for worker in (one, other):  # several workers share the queue: their own copies are not trusted
        for _ in range(30):
            worker.recent_sagas.proved(held=False)
    reads = counted_reads(one, monkeypatch)
    event = diagnosis_completed()
    services.message_handle(event.to_dict(), deps=one)
    answers = replies_until_paid(event)
    for n, answer in enumerate(answers):
        assert services.message_handle(answer.to_dict(), deps=(other, one)[n % 2]) == "handled"
    assert reads == []  # each reply decided on the copy the other worker handed over
    for n, answer in enumerate(answers):  # every reply once more, to the other worker
        assert services.message_handle(answer.to_dict(), deps=(one, other)[n % 2]) == "duplicate"
    stored = one.executions.get(event.saga_id)
    assert stored.saga.version == 1 + len(answers)
    assert Counter(publisher.types())["os.ReserveParts"] == 1
