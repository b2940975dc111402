"""The outbox on DynamoDB.

Outbox: the messages a state change publishes travel in the SAME conditional single-item write
as the change itself, in a map attribute ``outbox`` (message id -> envelope JSON) on the
aggregate's item. ``outbox_pending``/``outbox_at`` are set while the map is non-empty, and form
the sparse GSI ``OutboxIndex`` the sweeper queries (never a Scan) for messages a crash left
undelivered. Delivery is at-least-once; consumers make a repeated message change nothing twice
(see :mod:`oficina_common.messaging`).

Two ways to know a message left, by what the repository is given:
- without receipts, the relay removes each message from the item after publishing it (one more
  write per change);
- with :class:`Receipts` (a fast store beside the broker: Redis through Django's cache), the
  relay records a receipt after publishing and writes nothing; the item's NEXT write removes the
  entries that have receipts (:func:`prepare_write`), and the sweeper publishes
  only entries without one, writing nothing. An entry whose receipt is lost (the store emptied)
  is published again: a duplicate, which consumers take once.

Every item that can carry messages must be created with an ``outbox`` map (maybe empty):
DynamoDB cannot ``SET outbox.#id`` on a missing map.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from botocore.exceptions import ClientError

from .dynamodb import Index, is_conditional_failure, query_all
from .messages import Envelope
from .messaging import Publisher
from .timestamps import iso, now_iso, parse_iso

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


@dataclass
class OutboxUpdate:
    """The clauses an item's write adds for its outbox: ``SET`` the new messages, ``REMOVE`` the
    ones known published (and the pending flag once nothing is left). Merge them into the update
    expression of the state change so everything lands in one write."""

    set_clauses: list[str] = field(default_factory=list)
    remove_clauses: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)  # the ids of the messages the write takes out

    def expression(self, set_clauses: Sequence[str] = (), remove_clauses: Sequence[str] = ()) -> str:
        """The whole update expression: the change's own clauses and the outbox's."""
        sets, removes = [*set_clauses, *self.set_clauses], [*remove_clauses, *self.remove_clauses]
        return " ".join(part for part in (
            "SET " + ", ".join(sets) if sets else "", "REMOVE " + ", ".join(removes) if removes else "") if part)


def outbox_write(envelopes: Sequence[Envelope], *, held: Collection[str] = (),
                 published: Collection[str] = ()) -> OutboxUpdate:
    """What a write does to the item's outbox: adds ``envelopes``; of the entries the item
    ``held`` when read, removes those ``published`` (their receipts say so)."""
    update = OutboxUpdate()
    for n, envelope in enumerate(envelopes):
        update.names[f"#ob{n}"] = envelope.message_id
        update.values[f":ob{n}"] = json.dumps(envelope.to_dict(), ensure_ascii=False)
        update.set_clauses.append(f"outbox.#ob{n} = :ob{n}")
    gone = update.removed = [message_id for message_id in held if message_id in published]
    for n, message_id in enumerate(gone):
        update.names[f"#op{n}"] = message_id
        update.remove_clauses.append(f"outbox.#op{n}")
    if envelopes:
        update.set_clauses += ["outbox_pending = :ob_pending", "outbox_at = :ob_at"]
        update.values.update({":ob_pending": PENDING, ":ob_at": now_iso()})
    elif gone and len(gone) == len(held):
        update.remove_clauses += ["outbox_pending", "outbox_at"]
    return update


class Receipts(Protocol):
    """Which messages have been published (see the module's docstring)."""

    ttl: timedelta

    def published(self, message_ids: Collection[str]) -> set[str]: ...

    def mark(self, message_ids: Collection[str]) -> None: ...

    def forget(self, message_ids: Collection[str]) -> None: ...

    def before_write(self, new: Collection[str], held: Collection[str]) -> set[str]:
        """``forget(new)`` and ``published(held)`` (one round trip where the store allows)."""
        ...


class CacheReceipts:
    """Receipts in a Django cache (the services' Redis): one key per message, for ``ttl``.

    The store failing is never a reason to fail a change: a receipt not read means the message is
    published again, a receipt not written means it will be (at-least-once either way)."""

    def __init__(self, cache: Any, *, ttl: timedelta = timedelta(days=3)):
        self.cache = cache
        self.ttl = ttl

    @staticmethod
    def _key(message_id: str) -> str:
        return f"outbox-sent:{message_id}"

    def published(self, message_ids: Collection[str]) -> set[str]:
        if not message_ids:
            return set()
        try:
            found = self.cache.get_many([self._key(m) for m in message_ids])
        except Exception:  # noqa: BLE001 - the store is an optimisation; publishing again is safe
            logger.warning("outbox receipts unreadable; %d message(s) will be published again", len(message_ids))
            return set()
        return {m for m in message_ids if self._key(m) in found}

    def mark(self, message_ids: Collection[str]) -> None:
        if not message_ids:
            return
        try:
            self.cache.set_many({self._key(m): 1 for m in message_ids}, timeout=int(self.ttl.total_seconds()))
        except Exception:  # noqa: BLE001
            logger.warning("outbox receipts not recorded; %d message(s) will be published again", len(message_ids))

    def forget(self, message_ids: Collection[str]) -> None:
        """Before a write that carries these messages (again: a command re-sent keeps its id, and
        a repeated command is answered with the same reply): they are to be published anew.

        A store that cannot forget fails the write: a stale receipt would keep the message in."""
        if message_ids:
            self.cache.delete_many([self._key(m) for m in message_ids])

    def before_write(self, new: Collection[str], held: Collection[str]) -> set[str]:
        """What a write needs before it is made: the receipts of its ``new`` messages forgotten,
        and which of the entries the item ``held`` have one. On Django's Redis cache both go in one
        pipeline (one round trip instead of two, for every state change); elsewhere, one by one."""
        redis = self._redis()
        if redis is None or not held:
            self.forget(new)
            return self.published(held)
        held = list(held)
        keys = [self.cache.make_and_validate_key(self._key(m)) for m in held]
        pipeline = redis.pipeline(transaction=False)
        if new:
            pipeline.delete(*(self.cache.make_and_validate_key(self._key(m)) for m in new))
        pipeline.mget(keys)
        # A store that cannot forget fails the write (as ``forget``): a stale receipt would keep it in.
        found = pipeline.execute()[-1]
        return {m for m, value in zip(held, found, strict=True) if value is not None}

    def _redis(self) -> Any:
        """The redis-py client under Django's own Redis cache backend, if that is the cache."""
        from django.core.cache.backends.redis import RedisCache

        return self.cache._cache.get_client(write=True) if isinstance(self.cache, RedisCache) else None


def prepare_write(receipts: Receipts | None, envelopes: Sequence[Envelope], held: Collection[str]) -> OutboxUpdate:
    """The outbox part of an item's write: ``envelopes`` in (their receipts forgotten first, so
    that they are published even if they were before), and of the entries ``held`` when read,
    those with receipts out."""
    if receipts is None:
        return outbox_write(envelopes, held=held)
    new = {e.message_id for e in envelopes}
    earlier = [m for m in held if m not in new]
    return outbox_write(envelopes, held=earlier, published=receipts.before_write(new, earlier))


def pending_messages(item: dict[str, Any]) -> list[Envelope]:
    envelopes = [Envelope.from_dict(json.loads(raw)) for raw in (item.get("outbox") or {}).values()]
    return sorted(envelopes, key=lambda e: e.occurred_at)


# How far back each table's sweeper has looked (``outbox_at``), per process: with receipts, an
# entry stays in its item until the item's next write, and the sweeper must not read it again
# at every run.
_SWEPT_UP_TO: dict[str, str] = {}
SWEEP_OVERLAP = timedelta(minutes=2)


class DynamoOutboxRelay:
    """Publishes an item's pending messages, then removes each from the item (or, with
    ``receipts``, records that they left and writes nothing)."""

    def __init__(self, table: Any, key_attributes: Sequence[str], publisher: Publisher,
                 receipts: Receipts | None = None):
        self.table = table
        self.key_attributes = tuple(key_attributes)
        self.publisher = publisher
        self.receipts = receipts

    def _key(self, item: dict[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in self.key_attributes}

    def drain(self, item: dict[str, Any], *, just_written: bool = False) -> int:
        """Publish the item's pending messages. ``just_written``: ``item`` is what a write of this
        process has just left; every entry in it lacked a receipt as that write was prepared (the
        new ones had theirs forgotten, the published ones were taken out), so the receipts are not
        read again. One raced by another relay goes out twice; consumers take it once."""
        key = self._key(item)
        envelopes = pending_messages(item)
        if self.receipts is not None:
            published = set() if just_written else self.receipts.published([e.message_id for e in envelopes])
            unsent = [e for e in envelopes if e.message_id not in published]
            for envelope in unsent:
                self.publisher.publish(envelope)
            self.receipts.mark([e.message_id for e in unsent])
            return len(unsent)
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
        """Deliver what a crash left behind: items flagged pending for longer than ``older_than``.

        With receipts, the items stay flagged until their next write: each run looks only at
        what was flagged since the last one (at most as far back as receipts live), and reads an
        item again only when an entry of its index copy has no receipt."""
        now = datetime.now(UTC)
        cutoff = iso(now - older_than)
        condition = "outbox_pending = :p AND outbox_at <= :cutoff"
        values: dict[str, Any] = {":p": PENDING, ":cutoff": cutoff}
        if self.receipts is not None:
            oldest = iso(now - self.receipts.ttl + SWEEP_OVERLAP)
            values[":since"] = max(_SWEPT_UP_TO.get(self.table.name, oldest), oldest)
            condition = "outbox_pending = :p AND outbox_at BETWEEN :since AND :cutoff"
        stale = query_all(self.table, IndexName=OUTBOX_INDEX.name, KeyConditionExpression=condition,
                          ExpressionAttributeValues=values)
        sent, swept_up_to = 0, cutoff
        for n, indexed in enumerate(stale):
            if n >= limit:
                swept_up_to = indexed["outbox_at"]  # the next run goes on from here
                break
            if self.receipts is not None:
                held = list(indexed.get("outbox") or {})  # the index holds the whole item (ALL)
                if len(self.receipts.published(held)) == len(held):
                    continue  # all published; the item's next write removes them
            fresh = self.table.get_item(Key=self._key(indexed), ConsistentRead=True).get("Item")
            if fresh:
                sent += self.drain(fresh)
        if self.receipts is not None:
            # Some overlap: a write stamped a moment before the last cutoff may have landed after it.
            _SWEPT_UP_TO[self.table.name] = iso(parse_iso(swept_up_to) - SWEEP_OVERLAP)
        if sent:
            logger.warning("outbox sweeper delivered %d stranded message(s)", sent)
        return sent
