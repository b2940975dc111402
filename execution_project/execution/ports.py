"""What the services need from their repositories: one protocol per aggregate, and the shapes they
hand back (a saga or a job as read, with what its item's outbox still holds).

``repositories.py`` implements them on DynamoDB and ``tests/fakes.py`` in memory; the contract
tests (``tests/contract/``) run the same cases against both. Free of Django and boto3, like the domain.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from oficina_common.dynamodb import Page
from oficina_common.messages import Envelope
from oficina_common.messaging import Publisher

from .domain import Job, Mechanic, SagaInstance

# How many ids of applied messages a saga item remembers (its whole life holds a few dozen).
HANDLED_KEPT = 100


@dataclass
class StoredSaga:
    """A saga as read (or just written), with what its item's outbox still holds and the ids of
    the messages it has applied (its inbox: recorded in the same conditional write as each change)."""

    saga: SagaInstance
    outbox: dict[str, str] = field(default_factory=dict)
    handled: list[str] = field(default_factory=list)

    def has_applied(self, message_id: str | None) -> bool:
        return message_id is not None and message_id in self.handled

    @property
    def key(self) -> dict[str, str]:
        return {"executionId": self.saga.execution_id, "timestamp": self.saga.started_at}


@dataclass
class StoredJob:
    job: Job
    outbox: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> dict[str, Any]:
        return {"queueId": self.job.queue_id, "priority": self.job.priority}



class OutboxRelay(Protocol):
    def sweep(self, *, older_than: Any = ..., limit: int = ...) -> int: ...


class Executions(Protocol):
    """Saga instances. A change is one write conditional on the version read (``ConcurrencyConflict``
    otherwise) that carries the commands it sends and the id of the message that caused it."""

    def get(self, execution_id: str) -> StoredSaga | None: ...
    def list_by_service_order(self, service_order_id: str, *, limit: int = 20,
                              page_token: str | None = None) -> Page[SagaInstance]: ...
    def list_by_status(self, status: str, *, limit: int = 20, page_token: str | None = None) -> Page[SagaInstance]: ...
    def due(self, status: str, now: str, *, limit: int = 100, page_token: str | None = None) -> Page[str]: ...
    def add(self, saga: SagaInstance, commands: Sequence[Envelope], *,
            message_id: str | None = None) -> StoredSaga: ...
    def save(self, stored: StoredSaga, saga: SagaInstance, commands: Sequence[Envelope], *,
             message_id: str | None = None) -> StoredSaga: ...
    def deliver(self, stored: StoredSaga, publisher: Publisher, *, just_written: bool = False) -> int: ...
    def relay(self, publisher: Publisher) -> OutboxRelay: ...


class ExecutionSteps(Protocol):
    """The step history of finished sagas (a projection; the saga item is the source of truth)."""

    def project_finished(self, saga: SagaInstance) -> None: ...


class WorkQueue(Protocol):
    """The mechanics' jobs, by priority then age; a move is conditional on the status read."""

    def get(self, queue_id: str) -> StoredJob | None: ...
    def list_by_status(self, status: str, *, limit: int = 20, page_token: str | None = None,
                       assigned_to: str | None = None) -> Page[Job]: ...
    def list_by_service_order(self, service_order_id: str, *, limit: int = 20,
                              page_token: str | None = None) -> Page[Job]: ...
    def add(self, job: Job) -> bool: ...
    def claim(self, mechanic: Mechanic, now: datetime) -> Job | None: ...
    def transition(self, stored: StoredJob, changes: dict[str, Any], *, expected_status: str,
                   messages: Sequence[Envelope] = ()) -> StoredJob: ...
    def withdraw(self, queue_id: str, priority: int, reason: str, now: datetime, *,
                 tombstone: Job | None = None) -> bool: ...
    def deliver(self, stored: StoredJob, publisher: Publisher, *, just_written: bool = False) -> int: ...
    def mark_published(self, stored: StoredJob, message_ids: Sequence[str]) -> None: ...
    def relay(self, publisher: Publisher) -> OutboxRelay: ...
