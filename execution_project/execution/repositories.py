"""DynamoDB repositories: one class per aggregate (the saga instance, its step records, the job).

Reads are GetItem or Query (never Scan). Every state change is ONE conditional single-item write
that carries, in the item's own outbox, the messages the change publishes (no
TransactWriteItems). The saga item is saved conditional on the version it was read at
(optimistic locking); a job's status change is conditional on the status it expects.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from oficina_common.dynamodb import (
    Page,
    conditional_write,
    epoch_seconds,
    is_conditional_failure,
    is_expired,
    query_page,
    to_dynamo,
    to_python,
)
from oficina_common.errors import AlreadyExists, ConcurrencyConflict
from oficina_common.messages import Envelope
from oficina_common.messaging import Publisher
from oficina_common.outbox import DynamoOutboxRelay, OutboxUpdate, Receipts, new_item_outbox, prepare_write

from .domain import OPEN_JOB_STATUSES, TERMINAL_STATUSES, Job, JobStatus, Mechanic, SagaInstance, StepState, iso
from .ports import HANDLED_KEPT, StoredJob, StoredSaga
from .tables import EXECUTION_STEPS, EXECUTIONS, TTL_ATTRIBUTE, WORK_QUEUE

logger = logging.getLogger(__name__)



class _ItemOutbox:
    """What the executions and work_queue repositories share: items that carry their own outbox."""

    KEY: tuple[str, ...] = ()
    table: Any
    receipts: Receipts | None = None

    def deliver(self, stored: StoredSaga | StoredJob, publisher: Publisher) -> int:
        """Publish what the item's outbox holds that has not left yet (at-least-once); without
        receipts, remove it from the item, with them, the item's next write does."""
        if not stored.outbox:
            return 0
        sent = self.relay(publisher).drain({**stored.key, "outbox": stored.outbox})
        if self.receipts is None:
            stored.outbox = {}
        return sent

    def relay(self, publisher: Publisher) -> DynamoOutboxRelay:
        return DynamoOutboxRelay(self.table, self.KEY, publisher, self.receipts)

    def _outbox_write(self, stored: StoredSaga | StoredJob, messages: Sequence[Envelope]) -> OutboxUpdate:
        """The outbox part of a write: the new messages in, the entries known published out."""
        return prepare_write(self.receipts, messages, list(stored.outbox))

    @staticmethod
    def _outbox_after(stored: StoredSaga | StoredJob, update: OutboxUpdate,
                      messages: Sequence[Envelope]) -> dict[str, str]:
        """What the item's outbox holds after the write."""
        outbox = {k: v for k, v in stored.outbox.items() if k not in update.removed}
        outbox.update({e.message_id: json.dumps(e.to_dict(), ensure_ascii=False) for e in messages})
        return outbox


class ExecutionRepository(_ItemOutbox):
    """The ``executions`` table: the saga instance is the item's ``saga`` attribute (a JSON string).

    ``status``, ``deadline``, ``serviceOrderId`` and ``customer_id`` are copied to the top level
    for the GSIs and filters; the ``saga`` attribute is the source of truth.
    """

    KEY = ("executionId", "timestamp")

    def __init__(self, table: Any, *, retention: timedelta = timedelta(days=365), receipts: Receipts | None = None):
        self.table = table
        self.retention = retention
        self.receipts = receipts

    # --- reads ----------------------------------------------------------------------------
    def get(self, execution_id: str) -> StoredSaga | None:
        # The sort key (start time) is not known to callers: one item per id, a Query finds it.
        response = self.table.query(KeyConditionExpression="executionId = :id",
                                    ExpressionAttributeValues={":id": execution_id}, Limit=1, ConsistentRead=True)
        items = response.get("Items") or []
        if not items or is_expired(items[0], TTL_ATTRIBUTE):
            return None
        return self._stored(to_python(items[0]))

    def list_by_service_order(self, service_order_id: str, *, limit: int = 20,
                              page_token: str | None = None) -> Page[SagaInstance]:
        page = query_page(self.table, start_key=EXECUTIONS.start_key("ServiceOrderIndex"), limit=limit,
                          page_token=page_token, ttl_attribute=TTL_ATTRIBUTE, IndexName="ServiceOrderIndex",
                          KeyConditionExpression="serviceOrderId = :o",
                          ExpressionAttributeValues={":o": service_order_id}, ScanIndexForward=False)
        return self._page(page)

    def list_by_status(self, status: str, *, limit: int = 20,
                       page_token: str | None = None) -> Page[SagaInstance]:
        page = query_page(self.table, start_key=EXECUTIONS.start_key("StatusIndex"), limit=limit, page_token=page_token,
                          ttl_attribute=TTL_ATTRIBUTE, IndexName="StatusIndex", KeyConditionExpression="#status = :s",
                          ExpressionAttributeNames={"#status": "status"}, ExpressionAttributeValues={":s": status})
        return self._page(page)

    def due(self, status: str, now: str, *, limit: int = 100, page_token: str | None = None) -> Page[str]:
        """Ids of sagas in ``status`` whose deadline has passed, oldest deadline first, a page at a
        time: ``page_token`` goes on where the previous page stopped."""
        page = query_page(
            self.table, limit=limit, page_token=page_token, start_key=EXECUTIONS.start_key("StatusIndex"),
            IndexName="StatusIndex", KeyConditionExpression="#status = :s AND deadline <= :now",
            ExpressionAttributeNames={"#status": "status"}, ExpressionAttributeValues={":s": status, ":now": now},
            ProjectionExpression="executionId")
        return page.map(lambda item: item["executionId"])

    # --- writes ---------------------------------------------------------------------------
    def add(self, saga: SagaInstance, commands: Sequence[Envelope], *, message_id: str | None = None) -> StoredSaga:
        """Create the instance (``message_id``: the message that started it); a second
        DiagnosisCompleted for the same saga raises AlreadyExists."""
        saga.version = 1
        handled = [message_id] if message_id else []
        item = {**self._attributes(saga), "executionId": saga.execution_id, "timestamp": saga.started_at,
                "handled": handled, **new_item_outbox(commands)}
        conditional_write(lambda: self.table.put_item(Item=item,
                                                      ConditionExpression="attribute_not_exists(executionId)"),
                          conflict=f"Execution {saga.execution_id} already exists.", error=AlreadyExists)
        return StoredSaga(saga=saga, outbox=dict(item["outbox"]), handled=handled)

    def save(self, stored: StoredSaga, saga: SagaInstance, commands: Sequence[Envelope], *,
             message_id: str | None = None) -> StoredSaga:
        """Write the new state, conditional on the version ``stored`` was read at, with its messages
        and (``message_id``) the id of the message it applies."""
        expected = stored.saga.version
        saga.version = expected + 1
        handled = [*stored.handled, message_id][-HANDLED_KEPT:] if message_id else list(stored.handled)
        attributes = {**self._attributes(saga), "handled": handled}
        names: dict[str, str] = {}
        values: dict[str, Any] = {":expected": expected}
        clauses: list[str] = []
        for n, (name, value) in enumerate(attributes.items()):
            names[f"#a{n}"] = name
            values[f":a{n}"] = value
            clauses.append(f"#a{n} = :a{n}")
        outbox = self._outbox_write(stored, commands)
        names.update(outbox.names)
        values.update(outbox.values)
        expression = outbox.expression(clauses, [] if TTL_ATTRIBUTE in attributes else [TTL_ATTRIBUTE])
        try:
            conditional_write(lambda: self.table.update_item(
                Key=stored.key, UpdateExpression=expression, ConditionExpression="version = :expected",
                ExpressionAttributeNames=names, ExpressionAttributeValues=values),
                conflict=f"Execution {saga.execution_id} changed since it was read (version {expected}).")
        except ConcurrencyConflict:
            saga.version = expected
            raise
        return StoredSaga(saga=saga, outbox=self._outbox_after(stored, outbox, commands), handled=handled)

    # --- mapping --------------------------------------------------------------------------
    def _attributes(self, saga: SagaInstance) -> dict[str, Any]:
        data = saga.to_dict()
        attributes = {
            "serviceOrderId": saga.service_order_id,
            "status": str(saga.status),
            "deadline": saga.deadline,
            "current_step": saga.current_step,
            "customer_id": saga.order.customer_id,
            "updated_at": saga.updated_at,
            "version": saga.version,
            # One JSON string, not a map: it is written whole at every step and read at every
            # message, a map's ~120 nested values each cost boto3 and the endpoint a conversion, and
            # no expression ever looks inside it.
            "saga": json.dumps(data, separators=(",", ":"), ensure_ascii=False),
        }
        if saga.status in TERMINAL_STATUSES:
            attributes[TTL_ATTRIBUTE] = epoch_seconds(datetime.now(UTC) + self.retention)
        return attributes

    @staticmethod
    def _stored(item: dict[str, Any]) -> StoredSaga:
        saga = item["saga"]
        data = json.loads(saga) if isinstance(saga, str) else dict(saga)  # a map: written before the string
        data["version"] = int(item["version"])
        return StoredSaga(saga=SagaInstance.from_dict(data), outbox=dict(item.get("outbox") or {}),
                          handled=list(item.get("handled") or []))

    def _page(self, page: Page[dict[str, Any]]) -> Page[SagaInstance]:
        return page.map(lambda item: self._stored(item).saga)


class ExecutionStepRepository:
    """``execution_steps``: the step history of finished sagas, for queries by status.

    The steps list inside the executions item is the source of truth (it changes in the same
    conditional write as the rest of the saga; the API reads it there). The records are written
    once the saga has ended, from the item as written or read, in one batch; the key is
    deterministic, so a redelivered last message writes the same records again.
    """

    def __init__(self, table: Any):
        self.table = table

    def project_finished(self, saga: SagaInstance) -> None:
        """Every started step of a finished saga in one BatchWriteItem (25 items a call; a saga has
        7 steps). Unconditional: the records are a pure function of the saga item as read, and a
        saga that ends again (a late reply reopened it) writes its newer steps over them."""
        with self.table.batch_writer(overwrite_by_pkeys=["executionId", "stepNumber"]) as batch:
            for step in saga.started_steps():
                batch.put_item(Item=self._record(saga, step))

    def _record(self, saga: SagaInstance, step: StepState) -> dict[str, Any]:
        return to_dynamo({
            "executionId": saga.execution_id, "stepNumber": step.step_number, "name": step.name,
            "status": str(step.status), "attempts": step.attempts, "started_at": step.started_at,
            "finished_at": step.finished_at, "error": step.error, "serviceOrderId": saga.service_order_id,
            "updated_at": saga.updated_at, "saga_version": saga.version,
        })

    def list_for(self, execution_id: str) -> list[dict[str, Any]]:
        response = self.table.query(KeyConditionExpression="executionId = :id",
                                    ExpressionAttributeValues={":id": execution_id}, ConsistentRead=True)
        return [to_python(i) for i in response.get("Items", [])]

    def list_by_status(self, status: str, *, limit: int = 20,
                       page_token: str | None = None) -> Page[dict[str, Any]]:
        return query_page(self.table, start_key=EXECUTION_STEPS.start_key("StatusIndex"), limit=limit,
                          page_token=page_token, IndexName="StatusIndex",
                          KeyConditionExpression="#status = :s", ExpressionAttributeNames={"#status": "status"},
                          ExpressionAttributeValues={":s": status}, ScanIndexForward=False)


class WorkQueueRepository(_ItemOutbox):
    """``work_queue``: the mechanics' jobs."""

    KEY = ("queueId", "priority")
    CLAIM_CANDIDATES = 10
    CLAIM_ROUNDS = 5

    def __init__(self, table: Any, *, retention: timedelta = timedelta(days=90), receipts: Receipts | None = None):
        self.table = table
        self.retention = retention
        self.receipts = receipts

    # --- reads ----------------------------------------------------------------------------
    def get(self, queue_id: str) -> StoredJob | None:
        # The priority is part of the key; one job per queue id, so a Query finds it.
        response = self.table.query(KeyConditionExpression="queueId = :id", ExpressionAttributeValues={":id": queue_id},
                                    Limit=1, ConsistentRead=True)
        items = response.get("Items") or []
        if not items or is_expired(items[0], TTL_ATTRIBUTE):
            return None
        return self._stored(to_python(items[0]))

    def list_by_status(self, status: str, *, limit: int = 20, page_token: str | None = None,
                       assigned_to: str | None = None) -> Page[Job]:
        query: dict[str, Any] = {
            "IndexName": "StatusPriorityIndex", "KeyConditionExpression": "#status = :s",
            "ExpressionAttributeNames": {"#status": "status"}, "ExpressionAttributeValues": {":s": status},
        }
        if assigned_to is not None:
            query["FilterExpression"] = "assigned_to = :me"
            query["ExpressionAttributeValues"][":me"] = assigned_to
        page = query_page(self.table, start_key=WORK_QUEUE.start_key("StatusPriorityIndex"), limit=limit,
                          page_token=page_token, ttl_attribute=TTL_ATTRIBUTE, **query)
        return page.map(lambda item: self._stored(item).job)

    def list_by_service_order(self, service_order_id: str, *, limit: int = 20,
                              page_token: str | None = None) -> Page[Job]:
        page = query_page(self.table, start_key=WORK_QUEUE.start_key("ServiceOrderIndex"), limit=limit,
                          page_token=page_token, ttl_attribute=TTL_ATTRIBUTE, IndexName="ServiceOrderIndex",
                          KeyConditionExpression="serviceOrderId = :o",
                          ExpressionAttributeValues={":o": service_order_id})
        return page.map(lambda item: self._stored(item).job)

    # --- writes ---------------------------------------------------------------------------
    def add(self, job: Job) -> bool:
        """Queue the job; False when it is already there (the saga's step was retried)."""
        item = {**self._attributes(job), **new_item_outbox()}
        try:
            conditional_write(lambda: self.table.put_item(Item=item,
                                                          ConditionExpression="attribute_not_exists(queueId)"),
                              conflict=f"Job {job.queue_id} already exists.", error=AlreadyExists)
        except AlreadyExists:
            return False
        return True

    def claim(self, mechanic: Mechanic, now: datetime) -> Job | None:
        """The most urgent, oldest QUEUED job, now ASSIGNED to ``mechanic``; None when none is left.

        Atomic: the update is conditional on the job still being QUEUED, so when two mechanics
        race for a job exactly one wins and the other moves on to the next candidate.
        """
        at = iso(now)
        for _ in range(self.CLAIM_ROUNDS):
            response = self.table.query(
                IndexName="StatusPriorityIndex", KeyConditionExpression="#status = :queued",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":queued": JobStatus.QUEUED.value}, Limit=self.CLAIM_CANDIDATES)
            candidates = [to_python(i) for i in response.get("Items", []) if not is_expired(i, TTL_ATTRIBUTE)]
            if not candidates:
                return None
            for candidate in candidates:
                try:
                    updated = self.table.update_item(
                        Key={"queueId": candidate["queueId"], "priority": candidate["priority"]},
                        UpdateExpression="SET #status = :assigned, assigned_to = :me, assigned_to_name = :name, "
                                         "assigned_at = :at, updated_at = :at, version = version + :one",
                        ConditionExpression="#status = :queued",
                        ExpressionAttributeNames={"#status": "status"},
                        ExpressionAttributeValues={":assigned": JobStatus.ASSIGNED.value,
                                                   ":queued": JobStatus.QUEUED.value, ":me": mechanic.user_id,
                                                   ":name": mechanic.name, ":at": at, ":one": 1},
                        ReturnValues="ALL_NEW")
                except ClientError as exc:
                    if is_conditional_failure(exc):
                        continue  # another mechanic took it a moment ago
                    raise
                return self._stored(to_python(updated["Attributes"])).job
        return None

    def transition(self, stored: StoredJob, changes: dict[str, Any], *, expected_status: str,
                   messages: Sequence[Envelope] = ()) -> StoredJob:
        """Apply ``changes`` if the job is still in ``expected_status`` at the version read."""
        job = stored.job
        changes = dict(changes, updated_at=changes.get("updated_at") or job.updated_at)
        names = {"#status": "status"}
        values: dict[str, Any] = {":expected": expected_status, ":version": job.version, ":one": 1}
        clauses = ["version = version + :one"]
        for n, (name, value) in enumerate(changes.items()):
            names[f"#c{n}"] = name
            values[f":c{n}"] = to_dynamo(value)
            clauses.append(f"#c{n} = :c{n}")
        if changes.get("status") in (JobStatus.COMPLETED, JobStatus.FAILED):
            clauses.append(f"{TTL_ATTRIBUTE} = :ttl")
            values[":ttl"] = epoch_seconds(datetime.now(UTC) + self.retention)
        outbox = self._outbox_write(stored, messages)
        names.update(outbox.names)
        values.update(outbox.values)
        response = conditional_write(lambda: self.table.update_item(
            Key=stored.key, UpdateExpression=outbox.expression(clauses),
            ConditionExpression="#status = :expected AND version = :version",
            ExpressionAttributeNames=names, ExpressionAttributeValues=values, ReturnValues="ALL_NEW"),
            conflict=f"Job {job.queue_id} changed since it was read.")
        return self._stored(to_python(response["Attributes"]))

    def withdraw(self, queue_id: str, priority: int, reason: str, now: datetime) -> bool:
        """Take an open job off the queue because its order was cancelled (compensation)."""
        open_statuses = {f":open{n}": status.value for n, status in enumerate(OPEN_JOB_STATUSES)}
        try:
            self.table.update_item(
                Key={"queueId": queue_id, "priority": priority},
                UpdateExpression="SET #status = :failed, failure_reason = :reason, finished_at = :at, "
                                 "updated_at = :at, version = version + :one, "
                                 f"{TTL_ATTRIBUTE} = :ttl",
                ConditionExpression=f"#status IN ({', '.join(open_statuses)})",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":failed": JobStatus.FAILED.value, ":reason": f"Withdrawn: {reason}",
                                           ":at": iso(now), ":one": 1, **open_statuses,
                                           ":ttl": epoch_seconds(now + self.retention)})
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False  # not there (yet), or already closed
            raise
        return True

    # --- mapping --------------------------------------------------------------------------
    @staticmethod
    def _attributes(job: Job) -> dict[str, Any]:
        data = job.to_dict()
        data.pop("queue_id")
        data.pop("execution_id")
        data.pop("service_order_id")
        return to_dynamo({**data, "queueId": job.queue_id, "executionId": job.execution_id,
                           "serviceOrderId": job.service_order_id, "status": str(job.status),
                           "queue_rank": job.queue_rank})

    @staticmethod
    def _stored(item: dict[str, Any]) -> StoredJob:
        data = dict(item)
        data["queue_id"] = data.pop("queueId")
        data["execution_id"] = data.pop("executionId")
        data["service_order_id"] = data.pop("serviceOrderId")
        return StoredJob(job=Job.from_dict(data), outbox=dict(item.get("outbox") or {}))
