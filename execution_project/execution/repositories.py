"""DynamoDB repositories: one class per aggregate (the saga instance, its step records, the job).

Reads are GetItem or Query (never Scan). Every state change is ONE conditional single-item write
that carries, in the item's own outbox, the messages the change publishes (no
TransactWriteItems). The saga item is saved conditional on the version it was read at
(optimistic locking); a job's status change is conditional on the status it expects.
"""
from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import is_dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from oficina_common.copies import RecentCopies
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

from .domain import (
    OPEN_JOB_STATUSES,
    TERMINAL_STATUSES,
    Job,
    JobStatus,
    Mechanic,
    SagaInstance,
    StepState,
    iso,
    withdrawn_reason,
)
from .ports import HANDLED_KEPT, StoredJob, StoredSaga
from .tables import EXECUTION_STEPS, EXECUTIONS, TTL_ATTRIBUTE, WORK_QUEUE

logger = logging.getLogger(__name__)


def _fields_of(value: Any) -> dict[str, Any]:
    """A dataclass instance's fields, in their order, for ``json.dumps(default=)``."""
    if not is_dataclass(value):
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return {name: getattr(value, name) for name in value.__dataclass_fields__}


class _ItemOutbox:
    """What the executions and work_queue repositories share: items that carry their own outbox."""

    KEY: tuple[str, ...] = ()
    table: Any
    receipts: Receipts | None = None

    def deliver(self, stored: StoredSaga | StoredJob, publisher: Publisher, *, just_written: bool = False) -> int:
        """Publish what the item's outbox holds that has not left yet (at-least-once); without
        receipts, remove it from the item, with them, the item's next write does. ``just_written``:
        ``stored`` is what this process's write has just left (its receipts need no reading)."""
        if not stored.outbox:
            return 0
        sent = self.relay(publisher).drain({**stored.key, "outbox": stored.outbox}, just_written=just_written)
        if self.receipts is None:
            stored.outbox = {}
        return sent

    def relay(self, publisher: Publisher) -> DynamoOutboxRelay:
        return DynamoOutboxRelay(self.table, self.KEY, publisher, self.receipts)

    def mark_published(self, stored: StoredSaga | StoredJob, message_ids: Sequence[str]) -> None:
        """These messages reached their consumer without the broker (it was in this process):
        with receipts, they are recorded as published (the item's next write removes them, the
        sweeper leaves them); without, they are taken out of the item."""
        ids = [m for m in message_ids if m in stored.outbox]
        if not ids:
            return
        if self.receipts is not None:
            self.receipts.mark(ids)
        else:
            self._remove(stored.key, ids, last=len(ids) == len(stored.outbox))
        stored.outbox = {k: v for k, v in stored.outbox.items() if k not in ids}

    def _remove(self, key: dict[str, Any], message_ids: Sequence[str], *, last: bool) -> None:
        """One write: the entries out of the item's outbox (and the pending flag, when they were
        all it held); a relay that removed them first leaves nothing to do."""
        names = {f"#m{n}": message_id for n, message_id in enumerate(message_ids)}
        removed = [f"outbox.{name}" for name in names] + (["outbox_pending", "outbox_at"] if last else [])
        condition = " AND ".join(f"attribute_exists(outbox.{name})" for name in names)
        values = {}
        if last:
            condition += " AND size(outbox) = :count"
            values[":count"] = len(message_ids)
        try:
            self.table.update_item(Key=key, UpdateExpression="REMOVE " + ", ".join(removed),
                                   ConditionExpression=condition, ExpressionAttributeNames=names,
                                   **({"ExpressionAttributeValues": values} if values else {}))
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise

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
            # What ``saga.to_dict()`` dumps, without dataclasses.asdict deep-copying every nested
            # value first (the JSON encoder walks the dicts and lists itself).
            "saga": json.dumps(saga, default=_fields_of, separators=(",", ":"), ensure_ascii=False),
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


class RecentSagas(RecentCopies[StoredSaga]):
    """The saga items this process wrote last, by execution id (see :class:`~oficina_common.copies.RecentCopies`).

    A copy pays only while a saga's replies come back to the process that wrote it (one worker);
    with several worker processes sharing the queue most copies are stale, and each costs a failed
    write (billed like five reads). So the copies prove themselves: :meth:`proved` is told whether
    each write made on one held, and while more than ``STALE_LIMIT`` of the recent ones failed, no
    copy is handed out but one lookup in ``PROBE_EVERY``, which finds out when they hold again."""

    STALE_LIMIT = 0.2
    PROBE_EVERY = 32
    _WEIGHT = 0.1  # of the newest outcome in the running stale rate

    def __init__(self, size: int = 2048):
        super().__init__(
            size, key_of=lambda stored: stored.saga.execution_id,
            # The saga itself is not copied: a decision works on its own copy of it (a Transition's).
            copy_of=lambda stored: StoredSaga(saga=stored.saga, outbox=dict(stored.outbox),
                                              handled=list(stored.handled)),
            newer=lambda kept, stored: kept.saga.version > stored.saga.version)
        self.stale_rate = 0.0
        self._lookups = 0

    @property
    def trusted(self) -> bool:
        return self.stale_rate <= self.STALE_LIMIT

    def proved(self, *, held: bool) -> None:
        """A write decided on a copy held (the copy was the item) or failed its condition."""
        with self._lock:
            self.stale_rate += self._WEIGHT * ((0.0 if held else 1.0) - self.stale_rate)

    def _handed_out(self) -> bool:
        self._lookups += 1
        return self.trusted or self._lookups % self.PROBE_EVERY == 0

    def saw(self, stored: StoredSaga) -> None:
        """The item as read: a copy kept of it that is older proved stale, though no write failed
        on it (the decision on it wrote nothing: a reply that seemed early, or already taken)."""
        key = stored.saga.execution_id
        with self._lock:
            kept = self._items.get(key)
            stale = kept is not None and kept.saga.version < stored.saga.version
            if stale:
                del self._items[key]
        if stale:
            self.proved(held=False)


class SagaHandovers:
    """Copies of saga items handed, through the cache both reach (the services' Redis), from the
    process that wrote them to the one that takes the saga's next message: the worker that queues
    the job to the web process that will apply the mechanic's news, and that process back to the
    worker for the answers that follow. Without them each of those two messages reads the item.

    A copy is a guess, as :class:`RecentSagas`' are: the write decided on it is conditional on its
    version, so a copy gone stale (another write came between) fails that write and the item is
    read again, and a copy lost (the cache flushed, down, expired) is a read. Never a wrong write.
    Each copy is taken once: it is deleted as it is read."""

    def __init__(self, cache: Any, *, timeout: timedelta = timedelta(hours=12)):
        self.cache = cache
        self.timeout = int(timeout.total_seconds())

    @staticmethod
    def _key(execution_id: str) -> str:
        return f"saga-handover:{execution_id}"

    def give(self, stored: StoredSaga) -> None:
        copy = {"saga": stored.saga, "outbox": stored.outbox, "handled": stored.handled}
        try:
            self.cache.set(self._key(stored.saga.execution_id),
                           json.dumps(copy, default=_fields_of, separators=(",", ":"), ensure_ascii=False),
                           timeout=self.timeout)
        except Exception:  # noqa: BLE001 - a copy not handed over is a read for the next process
            logger.warning("saga %s not handed over: its next message reads it", stored.saga.execution_id)

    def take(self, execution_id: str) -> StoredSaga | None:
        key = self._key(execution_id)
        try:
            found = self.cache.get(key)
            if found is None:
                return None
            self.cache.delete(key)
        except Exception:  # noqa: BLE001 - the item is read instead
            logger.warning("saga %s handover unreadable: reading the saga", execution_id)
            return None
        copy = json.loads(found)
        return ExecutionRepository._stored({**copy, "version": copy["saga"]["version"]})


class RecentJobs(RecentCopies[StoredJob]):
    """The jobs this process claimed or moved last, by queue id (see
    :class:`~oficina_common.copies.RecentCopies`): a copy is trusted only for a move that writes (the
    write is conditional on the job's status and version)."""

    def __init__(self, size: int = 2048):
        super().__init__(size, key_of=lambda stored: stored.job.queue_id,
                         copy_of=lambda stored: StoredJob(job=stored.job, outbox=dict(stored.outbox)))


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


class ClaimsInFlight:
    """The claims of this process, shared by its threads: which jobs one of them is claiming
    right now, and which they have seen taken. A job never goes back to QUEUED, so a job seen
    taken stays taken, while the index may still list it for a moment."""

    REMEMBERED = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trying: set[str] = set()
        self._taken: OrderedDict[str, None] = OrderedDict()

    def begin(self, queue_id: str) -> bool:
        """Whether this claim may try the job: no other claim of this process is on it or saw it taken."""
        with self._lock:
            if queue_id in self._trying or queue_id in self._taken:
                return False
            self._trying.add(queue_id)
            return True

    def end(self, queue_id: str, *, taken: bool) -> None:
        with self._lock:
            self._trying.discard(queue_id)
            if taken:
                self._taken[queue_id] = None
                if len(self._taken) > self.REMEMBERED:
                    self._taken.popitem(last=False)


class WorkQueueRepository(_ItemOutbox):
    """``work_queue``: the mechanics' jobs."""

    KEY = ("queueId", "priority")
    CLAIM_CANDIDATES = 10
    CLAIM_ROUNDS = 5

    def __init__(self, table: Any, *, retention: timedelta = timedelta(days=90), receipts: Receipts | None = None):
        self.table = table
        self.retention = retention
        self.receipts = receipts
        self.claims = ClaimsInFlight()

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
        race for a job exactly one wins and the other moves on to the next candidate. Under
        contention "the best job" is the best one no other claim is taking at that moment: a job
        another claim of this process is trying, or has seen taken, is passed over without a
        write (it is not this claim's to have, whichever way that claim ends), and a claim that
        finds every candidate of a page taken goes on with the next page instead of the same one.
        """
        at = iso(now)
        start_key: dict[str, Any] | None = None
        for _ in range(self.CLAIM_ROUNDS):
            page = {"ExclusiveStartKey": start_key} if start_key else {}
            response = self.table.query(
                IndexName="StatusPriorityIndex", KeyConditionExpression="#status = :queued",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":queued": JobStatus.QUEUED.value}, Limit=self.CLAIM_CANDIDATES, **page)
            candidates = [to_python(i) for i in response.get("Items", []) if not is_expired(i, TTL_ATTRIBUTE)]
            for candidate in candidates:
                claimed = self._try_claim(candidate, mechanic, at)
                if claimed is not None:
                    return claimed
            start_key = response.get("LastEvaluatedKey")
            if not start_key:
                return None
        return None

    def _try_claim(self, candidate: dict[str, Any], mechanic: Mechanic, at: str) -> Job | None:
        queue_id = candidate["queueId"]
        if not self.claims.begin(queue_id):
            return None
        taken = False
        try:
            updated = self.table.update_item(
                Key={"queueId": queue_id, "priority": candidate["priority"]},
                UpdateExpression="SET #status = :assigned, assigned_to = :me, assigned_to_name = :name, "
                                 "assigned_at = :at, updated_at = :at, version = version + :one",
                ConditionExpression="#status = :queued",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":assigned": JobStatus.ASSIGNED.value,
                                           ":queued": JobStatus.QUEUED.value, ":me": mechanic.user_id,
                                           ":name": mechanic.name, ":at": at, ":one": 1},
                ReturnValues="ALL_NEW")
            taken = True
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            taken = True  # another mechanic took it a moment ago
            return None
        finally:
            self.claims.end(queue_id, taken=taken)
        return self._stored(to_python(updated["Attributes"])).job

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

    def withdraw(self, queue_id: str, priority: int, reason: str, now: datetime, *,
                 tombstone: Job | None = None) -> bool:
        """Take an open job off the queue because its order was cancelled (compensation).

        ``tombstone``: the job as it would have been queued. A job not there yet (its saga
        recorded it queued, and the put that follows has not landed) is put withdrawn, so that
        the late put finds the id taken instead of queueing an orphan; whichever of the two puts
        lands first, the job ends withdrawn."""
        if self._close_open(queue_id, priority, reason, now):
            return True
        if tombstone is None:
            return False
        if self._put_withdrawn(tombstone, reason, now):
            return True
        # The job is there: put since the first look (open: withdrawn now), or closed already.
        return self._close_open(queue_id, priority, reason, now)

    def _close_open(self, queue_id: str, priority: int, reason: str, now: datetime) -> bool:
        open_statuses = {f":open{n}": status.value for n, status in enumerate(OPEN_JOB_STATUSES)}
        try:
            self.table.update_item(
                Key={"queueId": queue_id, "priority": priority},
                UpdateExpression="SET #status = :failed, failure_reason = :reason, finished_at = :at, "
                                 "updated_at = :at, version = version + :one, "
                                 f"{TTL_ATTRIBUTE} = :ttl",
                ConditionExpression=f"#status IN ({', '.join(open_statuses)})",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":failed": JobStatus.FAILED.value, ":reason": withdrawn_reason(reason),
                                           ":at": iso(now), ":one": 1, **open_statuses,
                                           ":ttl": epoch_seconds(now + self.retention)})
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False  # not there (yet), or already closed
            raise
        return True

    def _put_withdrawn(self, job: Job, reason: str, now: datetime) -> bool:
        at = iso(now)
        withdrawn = replace(job, status=JobStatus.FAILED, failure_reason=withdrawn_reason(reason), finished_at=at,
                            updated_at=at)
        item = {**self._attributes(withdrawn), **new_item_outbox(), TTL_ATTRIBUTE: epoch_seconds(now + self.retention)}
        try:
            self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(queueId)")
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
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
