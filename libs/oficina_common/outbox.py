"""The outbox on DynamoDB.

Outbox: the messages a state change publishes travel in the SAME conditional single-item write
as the change itself, in a map attribute ``outbox`` (message id -> envelope JSON) on the
aggregate's item. ``outbox_pending``/``outbox_at`` are set while the map is non-empty, and form
the sparse GSI ``OutboxIndex`` the sweeper queries (never a Scan) for messages a crash left
undelivered. Delivery is at-least-once: publish first, then remove; consumers make a repeated
message change nothing twice (see :mod:`oficina_common.messaging`).

Every item that can carry messages must be created with an ``outbox`` map (maybe empty):
DynamoDB cannot ``SET outbox.#id`` on a missing map.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from .dynamodb import Index, is_conditional_failure, now_iso, query_all
from .messages import Envelope
from .messaging import Publisher

logger = logging.getLogger(__name__)

OUTBOX_INDEX = Index("OutboxIndex", ("outbox_pending", "S"), ("outbox_at", "S"))
PENDING = "1"


def new_item_outbox(envelopes: Sequence[Envelope] = ()) -> dict[str, Any]:
    """The outbox attributes of an item being created (``put_item``)."""
    # UTF-8 as it is (an item holds 400 KB; "ç" escaped takes six bytes, as it is two).
    attributes: dict[str, Any] = {"outbox": {e.message_id: json.dumps(e.to_dict(), ensure_ascii=False)
                                             for e in envelopes}}
    if envelopes:
        attributes.update(outbox_pending=PENDING, outbox_at=now_iso())
    return attributes


def outbox_update(envelopes: Sequence[Envelope]) -> tuple[list[str], dict[str, str], dict[str, Any]]:
    """``SET`` clauses, names and values that add these messages to an item's outbox.

    Merge them into the update expression of the state change so both land in one write.
    """
    clauses: list[str] = []
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    for n, envelope in enumerate(envelopes):
        names[f"#ob{n}"] = envelope.message_id
        values[f":ob{n}"] = json.dumps(envelope.to_dict(), ensure_ascii=False)
        clauses.append(f"outbox.#ob{n} = :ob{n}")
    if envelopes:
        clauses += ["outbox_pending = :ob_pending", "outbox_at = :ob_at"]
        values.update({":ob_pending": PENDING, ":ob_at": now_iso()})
    return clauses, names, values


def pending_messages(item: dict[str, Any]) -> list[Envelope]:
    envelopes = [Envelope.from_dict(json.loads(raw)) for raw in (item.get("outbox") or {}).values()]
    return sorted(envelopes, key=lambda e: e.occurred_at)


class DynamoOutboxRelay:
    """Publishes an item's pending messages, then removes each from the item."""

    def __init__(self, table: Any, key_attributes: Sequence[str], publisher: Publisher):
        self.table = table
        self.key_attributes = tuple(key_attributes)
        self.publisher = publisher

    def _key(self, item: dict[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in self.key_attributes}

    def drain(self, item: dict[str, Any]) -> int:
        key = self._key(item)
        envelopes = pending_messages(item)
        for envelope in envelopes:
            self.publisher.publish(envelope)
        if envelopes and self._remove_all(key, envelopes):
            return len(envelopes)
        for envelope in envelopes:
            self._remove_one(key, envelope)
        self._clear_pending_flag(key)
        return len(envelopes)

    def _remove_all(self, key: dict[str, Any], envelopes: list[Envelope]) -> bool:
        """One write when the outbox holds exactly what was published (the usual case)."""
        names = {f"#m{n}": e.message_id for n, e in enumerate(envelopes)}
        try:
            self.table.update_item(
                Key=key,
                UpdateExpression="REMOVE " + ", ".join(f"outbox.{name}" for name in names)
                                 + ", outbox_pending, outbox_at",
                ConditionExpression=" AND ".join([f"attribute_exists(outbox.{name})" for name in names]
                                                 + ["size(outbox) = :count"]),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":count": len(envelopes)},
            )
            return True
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            return False  # another relay got there first, or new messages arrived: one by one

    def _remove_one(self, key: dict[str, Any], envelope: Envelope) -> None:
        try:
            self.table.update_item(
                Key=key,
                UpdateExpression="REMOVE outbox.#m",
                ConditionExpression="attribute_exists(outbox.#m)",
                ExpressionAttributeNames={"#m": envelope.message_id},
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            # Another relay removed it first: it was published (maybe twice; consumers take it once).

    def _clear_pending_flag(self, key: dict[str, Any]) -> None:
        try:
            self.table.update_item(
                Key=key,
                UpdateExpression="REMOVE outbox_pending, outbox_at",
                ConditionExpression="attribute_exists(outbox_pending) AND size(outbox) = :zero",
                ExpressionAttributeValues={":zero": 0},
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            # New messages arrived meanwhile (or nothing was pending): the flag must stay as it is.

    def sweep(self, *, older_than: timedelta = timedelta(seconds=30), limit: int = 200) -> int:
        """Deliver what a crash left behind: items flagged pending for longer than ``older_than``."""
        cutoff = (datetime.now(UTC) - older_than).isoformat().replace("+00:00", "Z")
        sent = 0
        stale = query_all(
            self.table,
            IndexName=OUTBOX_INDEX.name,
            KeyConditionExpression="outbox_pending = :p AND outbox_at <= :cutoff",
            ExpressionAttributeValues={":p": PENDING, ":cutoff": cutoff},
        )
        for n, indexed in enumerate(stale):
            if n >= limit:
                break
            fresh = self.table.get_item(Key=self._key(indexed), ConsistentRead=True).get("Item")
            if fresh:
                sent += self.drain(fresh)
        if sent:
            logger.warning("outbox sweeper delivered %d stranded message(s)", sent)
        return sent

