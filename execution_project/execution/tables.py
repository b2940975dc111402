"""The Execution service's DynamoDB tables (names prefixed with ``DYNAMODB_TABLE_PREFIX``).

- ``executions``: one item per saga instance, keyed (executionId, timestamp) where ``timestamp``
  is when the saga started (the DiagnosisCompleted's ``occurred_at``); the instance itself is the
  ``saga`` attribute, a JSON string (items written before it was one hold a map, still read). ``ServiceOrderIndex``
  finds an order's saga; ``StatusIndex`` (status, deadline) is what the sweeper queries for sagas
  past their step's timeout. The item carries its outbox (``OutboxIndex``), the ids of the last
  messages it applied (``handled``: the consumer's de-duplication, written with each change) and,
  once the saga is over, a TTL.
- ``execution_steps``: one item per (executionId, stepNumber), a projection of the steps list
  kept in the executions item (the source of truth); ``StatusIndex`` (status, updated_at).
- ``work_queue``: one job per saga, keyed (queueId, priority); ``StatusPriorityIndex`` (status,
  queue_rank = "{9-priority}#{created_at}#{queueId}") lists a status's jobs by priority then age,
  so listing and claiming are Queries; ``ServiceOrderIndex``; the outbox; a TTL on finished jobs.
"""
from __future__ import annotations

from oficina_common.dynamodb import Index, TableSpec
from oficina_common.outbox import OUTBOX_INDEX

TTL_ATTRIBUTE = "expires_at"

EXECUTIONS = TableSpec(
    name="executions",
    hash_key=("executionId", "S"),
    range_key=("timestamp", "S"),
    indexes=(
        Index("ServiceOrderIndex", ("serviceOrderId", "S"), ("timestamp", "S")),
        Index("StatusIndex", ("status", "S"), ("deadline", "S")),
        OUTBOX_INDEX,
    ),
    ttl_attribute=TTL_ATTRIBUTE,
)

EXECUTION_STEPS = TableSpec(
    name="execution_steps",
    hash_key=("executionId", "S"),
    range_key=("stepNumber", "N"),
    indexes=(Index("StatusIndex", ("status", "S"), ("updated_at", "S")),),
)

WORK_QUEUE = TableSpec(
    name="work_queue",
    hash_key=("queueId", "S"),
    range_key=("priority", "N"),
    indexes=(
        Index("ServiceOrderIndex", ("serviceOrderId", "S"), ("created_at", "S")),
        Index("StatusPriorityIndex", ("status", "S"), ("queue_rank", "S")),
        OUTBOX_INDEX,
    ),
    ttl_attribute=TTL_ATTRIBUTE,
)

TABLES: tuple[TableSpec, ...] = (EXECUTIONS, EXECUTION_STEPS, WORK_QUEUE)
