"""The repository contracts (``execution.ports``): the same cases against the in-memory fakes the unit
tests use and the DynamoDB repositories on both emulators (moto's server and dynalite, over HTTP).
A case that passes on DynamoDB and fails on the fake means the unit tests test something production
does not do."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from execution import saga as saga_flow
from execution.domain import Job, Mechanic, iso
from execution.ports import HANDLED_KEPT
from oficina_common.errors import AlreadyExists, ConcurrencyConflict
from oficina_common.messages import Envelope

from ..factories import budget_created, diagnosis_completed, new_id
from ..saga_support import CONFIG

NOW = datetime.now(UTC)


def started(deps, **kwargs):
    decision = saga_flow.start(diagnosis_completed(**kwargs), now=NOW, config=CONFIG)
    return deps.executions.add(decision.saga, decision.commands), decision


def make_job(priority: int, created_at: str, **extra) -> Job:
    return Job(queue_id=new_id(), priority=priority, execution_id=new_id(), service_order_id=new_id(),
               order_number="OS-1", vehicle={"plate": "ABC1D23"}, items=[], notes="", created_at=created_at,
               updated_at=created_at, **extra)


class TestExecutions:
    def test_a_saga_is_created_once_and_read_back_whole(self, repos):
        stored, decision = started(repos)
        saga_id = decision.saga.execution_id
        again = repos.executions.get(saga_id)
        assert again.saga == decision.saga
        assert again.saga.version == 1
        assert list(again.outbox) == [decision.commands[0].message_id]
        assert repos.executions.get(new_id()) is None
        # A redelivered DiagnosisCompleted carries the same occurred_at: the same key, refused.
        redelivered = saga_flow.start(diagnosis_completed(saga_id=saga_id), now=NOW, config=CONFIG).saga
        redelivered.started_at = decision.saga.started_at
        with pytest.raises(AlreadyExists):
            repos.executions.add(redelivered, [])

    def test_a_saga_remembers_the_last_messages_it_applied(self, repos):
        stored, _ = started(repos)
        assert stored.handled == []
        for n in range(HANDLED_KEPT + 2):
            stored = repos.executions.save(stored, stored.saga, [], message_id=f"m-{n}")
        stored = repos.executions.save(stored, stored.saga, [])  # a change no message caused (the sweeper)
        item = repos.executions.get(stored.saga.execution_id)
        assert item.handled == [f"m-{n}" for n in range(2, HANDLED_KEPT + 2)]
        assert item.has_applied(f"m-{HANDLED_KEPT + 1}") and not item.has_applied("m-0") and not item.has_applied(None)

    def test_sagas_are_found_by_order_by_status_and_when_due(self, repos):
        stored, decision = started(repos)
        saga = decision.saga
        page = repos.executions.list_by_service_order(saga.service_order_id)
        assert [s.execution_id for s in page.items] == [saga.execution_id]
        pending = repos.executions.list_by_status("PENDING", limit=200).items
        assert saga.execution_id in [s.execution_id for s in pending]
        assert saga.execution_id not in repos.executions.due("PENDING", iso(NOW)).items
        assert saga.execution_id in repos.executions.due("PENDING", iso(NOW + timedelta(minutes=2)), limit=1000).items

    def test_the_due_sagas_are_walked_a_page_at_a_time_going_on_where_the_last_page_stopped(self, repos):
        status = f"WALK-{new_id()}"  # a status of this test's own, so other tests' sagas stay out
        ids = []
        for minutes in (1, 2, 3):
            stored, decision = started(repos)
            decision.saga.status = status
            decision.saga.deadline = iso(NOW + timedelta(minutes=minutes))
            repos.executions.save(stored, decision.saga, [])
            ids.append(decision.saga.execution_id)
        later = iso(NOW + timedelta(minutes=10))
        first = repos.executions.due(status, later, limit=2)
        assert first.items == ids[:2] and first.next_token
        second = repos.executions.due(status, later, limit=2, page_token=first.next_token)
        assert second.items == ids[2:] and second.next_token is None

    def test_a_save_is_conditional_on_the_version_it_read_and_its_messages_are_delivered_once(
            self, repos, publisher):
        stored, _ = started(repos)
        first = repos.executions.get(stored.saga.execution_id)
        second = repos.executions.get(stored.saga.execution_id)
        reply = Envelope(type="billing.BudgetCreated", saga_id=first.saga.execution_id,
                         service_order_id=first.saga.service_order_id, payload=budget_created())
        decision = saga_flow.handle(first.saga, reply, now=NOW, config=CONFIG)
        saved = repos.executions.save(first, decision.saga, decision.commands, message_id=reply.message_id)
        assert saved.saga.version == 2 and saved.has_applied(reply.message_id)
        late = saga_flow.handle(second.saga, reply, now=NOW, config=CONFIG)
        with pytest.raises(ConcurrencyConflict):
            repos.executions.save(second, late.saga, late.commands)
        assert repos.executions.get(stored.saga.execution_id).saga.current_step == 2
        # What the item holds leaves once: the first command (its worker died) and the reply's.
        assert repos.executions.deliver(saved, publisher) == 2
        assert sorted(publisher.types()) == ["billing.CreateBudget", "os.ChangeStatus"]


class TestWorkQueue:
    def test_jobs_are_listed_and_claimed_by_priority_then_age(self, repos):
        old_normal = make_job(3, "2026-03-01T08:00:00Z")
        urgent = make_job(5, "2026-03-01T10:00:00Z")
        new_normal = make_job(3, "2026-03-01T09:00:00Z")
        low = make_job(1, "2026-03-01T07:00:00Z")
        for job in (old_normal, urgent, new_normal, low):
            assert repos.jobs.add(job)
        assert not repos.jobs.add(urgent)

        listed = repos.jobs.list_by_status("QUEUED", limit=3)
        assert [j.queue_id for j in listed.items] == [urgent.queue_id, old_normal.queue_id, new_normal.queue_id]
        rest = repos.jobs.list_by_status("QUEUED", limit=3, page_token=listed.next_token)
        assert [j.queue_id for j in rest.items] == [low.queue_id]

        joao = Mechanic("7", "joao")
        claimed = [repos.jobs.claim(joao, NOW) for _ in range(5)]
        assert [j.queue_id if j else None for j in claimed] == [urgent.queue_id, old_normal.queue_id,
                                                                new_normal.queue_id, low.queue_id, None]
        assert claimed[0].status == "ASSIGNED" and claimed[0].assigned_to == "7"
        mine = repos.jobs.list_by_status("ASSIGNED", limit=10, assigned_to="7")
        assert len(mine.items) == 4
        assert repos.jobs.list_by_status("ASSIGNED", limit=10, assigned_to="8").items == []
        of_the_order = repos.jobs.list_by_service_order(urgent.service_order_id).items
        assert [j.queue_id for j in of_the_order] == [urgent.queue_id]

    def test_a_job_moves_only_from_the_status_it_was_read_in(self, repos, publisher):
        job = make_job(3, iso(NOW))
        repos.jobs.add(job)
        repos.jobs.claim(Mechanic("7", "joao"), NOW)
        stored = repos.jobs.get(job.queue_id)
        event = Envelope(type="execution.WorkCompleted", saga_id=job.execution_id,
                         service_order_id=job.service_order_id, payload={"queue_id": job.queue_id, "notes": "ok"})
        done = repos.jobs.transition(stored, {"status": "COMPLETED", "result_notes": "ok"}, expected_status="ASSIGNED",
                                    messages=[event])
        assert done.job.status == "COMPLETED" and done.job.version == 3
        with pytest.raises(ConcurrencyConflict):
            repos.jobs.transition(stored, {"status": "FAILED"}, expected_status="ASSIGNED")
        assert repos.jobs.deliver(done, publisher) == 1
        assert publisher.published[0].payload == {"queue_id": job.queue_id, "notes": "ok"}
        assert repos.jobs.deliver(repos.jobs.get(job.queue_id), publisher) == 0  # it left once
        assert not repos.jobs.withdraw(job.queue_id, 3, "late", NOW)

    def test_a_withdrawn_job_leaves_the_queue(self, repos):
        job = make_job(2, iso(NOW))
        repos.jobs.add(job)
        assert repos.jobs.withdraw(job.queue_id, 2, "order cancelled", NOW)
        withdrawn = repos.jobs.get(job.queue_id).job
        assert withdrawn.status == "FAILED" and "order cancelled" in withdrawn.failure_reason
        assert repos.jobs.claim(Mechanic("7", "joao"), NOW) is None
        assert not repos.jobs.withdraw(new_id(), 2, "never queued", NOW)

    def test_a_job_withdrawn_before_it_was_queued_stays_withdrawn(self, repos):
        job = make_job(2, iso(NOW))
        assert repos.jobs.withdraw(job.queue_id, 2, "order cancelled", NOW, tombstone=job)
        assert not repos.jobs.add(job)  # the put that comes late queues nothing
        withdrawn = repos.jobs.get(job.queue_id).job
        assert withdrawn.status == "FAILED" and withdrawn.failure_reason == "Withdrawn: order cancelled"
        assert withdrawn.order_number == job.order_number
        assert repos.jobs.claim(Mechanic("7", "joao"), NOW) is None
        assert not repos.jobs.withdraw(job.queue_id, 2, "again", NOW, tombstone=job)  # closed already
