"""In-memory repositories with the same interface (and the same conditional semantics) as the real ones."""
from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import EndpointConnectionError

from execution.domain import OPEN_JOB_STATUSES, Job, JobStatus, Mechanic, SagaInstance, StepState, iso, withdrawn_reason
from execution.ports import HANDLED_KEPT, StoredJob, StoredSaga
from execution.saga import SagaConfig
from execution.wiring import Dependencies
from oficina_common.dynamodb import Page
from oficina_common.errors import AlreadyExists, ConcurrencyConflict
from oficina_common.messages import Envelope
from oficina_common.messaging import Publisher, RecordingPublisher


class FakeRelay:
    def __init__(self, outboxes: dict[str, dict[str, str]], publisher: Publisher):
        self.outboxes = outboxes
        self.publisher = publisher

    def sweep(self, **_: Any) -> int:
        sent = 0
        for outbox in self.outboxes.values():
            for raw in list(outbox.values()):
                self.publisher.publish(Envelope.from_dict(json.loads(raw)))
                sent += 1
            outbox.clear()
        return sent


class FakeExecutionRepository:
    def __init__(self) -> None:
        self.sagas: dict[str, SagaInstance] = {}
        self.outboxes: dict[str, dict[str, str]] = {}
        self.handled: dict[str, list[str]] = {}
        self.conflicts_to_raise = 0  # simulate a concurrent writer winning this many times
        self.outages = 0  # fail reads like an unreachable endpoint this many times

    def get(self, execution_id: str) -> StoredSaga | None:
        if self.outages:
            self.outages -= 1
            raise EndpointConnectionError(endpoint_url="http://dynamodb")
        saga = self.sagas.get(execution_id)
        if saga is None:
            return None
        return StoredSaga(saga=copy.deepcopy(saga), outbox=dict(self.outboxes[execution_id]),
                          handled=list(self.handled[execution_id]))

    def add(self, saga: SagaInstance, commands: Sequence[Envelope], *, message_id: str | None = None) -> StoredSaga:
        if self.outages:
            self.outages -= 1
            raise EndpointConnectionError(endpoint_url="http://dynamodb")
        if saga.execution_id in self.sagas:
            raise AlreadyExists("exists")
        saga.version = 1
        self.sagas[saga.execution_id] = copy.deepcopy(saga)
        self.outboxes[saga.execution_id] = {e.message_id: json.dumps(e.to_dict()) for e in commands}
        self.handled[saga.execution_id] = [message_id] if message_id else []
        return StoredSaga(saga=saga, outbox=dict(self.outboxes[saga.execution_id]),
                          handled=list(self.handled[saga.execution_id]))

    def save(self, stored: StoredSaga, saga: SagaInstance, commands: Sequence[Envelope], *,
             message_id: str | None = None) -> StoredSaga:
        current = self.sagas[saga.execution_id]
        if self.conflicts_to_raise:
            self.conflicts_to_raise -= 1
            raise ConcurrencyConflict("someone else wrote first")
        if current.version != stored.saga.version:
            raise ConcurrencyConflict("version moved")
        saga.version = stored.saga.version + 1
        self.sagas[saga.execution_id] = copy.deepcopy(saga)
        outbox = self.outboxes[saga.execution_id]
        outbox.update({e.message_id: json.dumps(e.to_dict()) for e in commands})
        if message_id:
            self.handled[saga.execution_id] = [*self.handled[saga.execution_id], message_id][-HANDLED_KEPT:]
        return StoredSaga(saga=saga, outbox=dict(outbox), handled=list(self.handled[saga.execution_id]))

    def deliver(self, stored: StoredSaga, publisher: Publisher, *, just_written: bool = False) -> int:
        outbox = self.outboxes[stored.saga.execution_id]
        sent = 0
        for message_id in list(stored.outbox):
            if message_id in outbox:
                publisher.publish(Envelope.from_dict(json.loads(outbox.pop(message_id))))
                sent += 1
        stored.outbox = {}
        return sent

    def due(self, status: str, now: str, *, limit: int = 100, page_token: str | None = None) -> Page[str]:
        due = sorted((s.deadline, s.execution_id) for s in self.sagas.values()
                     if s.status == status and s.deadline <= now)
        start = next((i for i, key in enumerate(due) if "|".join(key) > page_token), len(due)) if page_token else 0
        page = due[start:start + limit]
        more = start + limit < len(due)
        return Page([execution_id for _, execution_id in page], "|".join(page[-1]) if more else None)

    def list_by_service_order(self, service_order_id: str, *, limit: int = 20,
                              page_token: str | None = None) -> Page[SagaInstance]:
        return Page([copy.deepcopy(s) for s in self.sagas.values() if s.service_order_id == service_order_id],
                          None)

    def list_by_status(self, status: str, *, limit: int = 20, page_token: str | None = None) -> Page:
        return Page([copy.deepcopy(s) for s in self.sagas.values() if s.status == status], None)

    def relay(self, publisher: Publisher) -> FakeRelay:
        return FakeRelay(self.outboxes, publisher)


class FakeStepRepository:
    def __init__(self) -> None:
        self.records: dict[tuple[str, int], tuple[int, StepState]] = {}

    def project_finished(self, saga: SagaInstance) -> None:
        for step in saga.started_steps():
            self.records[(saga.execution_id, step.step_number)] = (saga.version, copy.deepcopy(step))


class FakeWorkQueueRepository:
    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.outboxes: dict[str, dict[str, str]] = {}

    def get(self, queue_id: str) -> StoredJob | None:
        job = self.jobs.get(queue_id)
        return StoredJob(copy.deepcopy(job), dict(self.outboxes[queue_id])) if job else None

    def add(self, job: Job) -> bool:
        if job.queue_id in self.jobs:
            return False
        self.jobs[job.queue_id] = copy.deepcopy(job)
        self.outboxes[job.queue_id] = {}
        return True

    def claim(self, mechanic: Mechanic, now: datetime) -> Job | None:
        queued = sorted((j for j in self.jobs.values() if j.status == JobStatus.QUEUED), key=lambda j: j.queue_rank)
        if not queued:
            return None
        job = queued[0]
        job.status, job.assigned_to, job.assigned_to_name, job.assigned_at = (
            JobStatus.ASSIGNED, mechanic.user_id, mechanic.name, iso(now))
        job.version += 1
        return copy.deepcopy(job)

    def transition(self, stored: StoredJob, changes: dict[str, Any], *, expected_status: str,
                   messages: Sequence[Envelope] = ()) -> StoredJob:
        job = self.jobs[stored.job.queue_id]
        if job.status != expected_status or job.version != stored.job.version:
            raise ConcurrencyConflict("job changed")
        for name, value in changes.items():
            setattr(job, name, value)
        job.version += 1
        outbox = self.outboxes[job.queue_id]
        outbox.update({e.message_id: json.dumps(e.to_dict()) for e in messages})
        return StoredJob(copy.deepcopy(job), dict(outbox))

    def list_by_status(self, status: str, *, limit: int = 20, page_token: str | None = None,
                       assigned_to: str | None = None) -> Page[Job]:
        """Like the StatusPriorityIndex query: one status, by priority then age, one page at a time."""
        matching = sorted((j for j in self.jobs.values() if j.status == status
                           and (assigned_to is None or j.assigned_to == assigned_to)), key=lambda j: j.queue_rank)
        start = int(page_token or 0)
        page = matching[start:start + limit]
        more = start + limit < len(matching)
        return Page(items=[copy.deepcopy(j) for j in page], next_token=str(start + limit) if more else None)

    def list_by_service_order(self, service_order_id: str, *, limit: int = 20,
                              page_token: str | None = None) -> Page[Job]:
        matching = sorted((j for j in self.jobs.values() if j.service_order_id == service_order_id),
                          key=lambda j: j.created_at)
        start = int(page_token or 0)
        more = start + limit < len(matching)
        return Page([copy.deepcopy(j) for j in matching[start:start + limit]], str(start + limit) if more else None)

    def withdraw(self, queue_id: str, priority: int, reason: str, now: datetime, *,
                 tombstone: Job | None = None) -> bool:
        job = self.jobs.get(queue_id)
        if job is None and tombstone is not None:
            job = self.jobs[queue_id] = copy.deepcopy(tombstone)
            self.outboxes[queue_id] = {}
            job.status = JobStatus.QUEUED  # put withdrawn, as below
        if job is None or job.status not in OPEN_JOB_STATUSES:
            return False
        job.status, job.failure_reason = JobStatus.FAILED, withdrawn_reason(reason)
        job.finished_at = job.updated_at = iso(now)
        return True

    def mark_published(self, stored: StoredJob, message_ids: Sequence[str]) -> None:
        outbox = self.outboxes[stored.job.queue_id]
        for message_id in message_ids:
            outbox.pop(message_id, None)
            stored.outbox.pop(message_id, None)

    def deliver(self, stored: StoredJob, publisher: Publisher, *, just_written: bool = False) -> int:
        outbox = self.outboxes[stored.job.queue_id]
        for message_id in list(stored.outbox):
            publisher.publish(Envelope.from_dict(json.loads(outbox.pop(message_id))))
        sent = len(stored.outbox)
        stored.outbox = {}
        return sent

    def relay(self, publisher: Publisher) -> FakeRelay:
        return FakeRelay(self.outboxes, publisher)


# When the unit tests' clock starts.
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def fake_dependencies(clock: Clock, config: SagaConfig | None = None) -> Dependencies:
    return Dependencies(executions=FakeExecutionRepository(), steps=FakeStepRepository(),
                        jobs=FakeWorkQueueRepository(),
                        publisher=RecordingPublisher(), config=config or SagaConfig(), clock=clock)
