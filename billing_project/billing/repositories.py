"""One repository per aggregate over DynamoDB (boto3 resource API).

Reads are GetItem or Query (never Scan). Every state change is ONE conditional single-item write,
and the messages it publishes travel in that same write (the item's outbox); they are drained
right after the write and swept later by a beat task if the drain did not happen.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property, lru_cache
from typing import Any

from oficina_common.dynamodb import (
    Page,
    conditional_write,
    is_expired,
    query_all,
    query_page,
)
from oficina_common.errors import AlreadyExists, ConcurrencyConflict
from oficina_common.messages import Envelope
from oficina_common.messaging import Publisher
from oficina_common.outbox import DynamoOutboxRelay, OutboxUpdate, Receipts, new_item_outbox, prepare_write

from . import tables
from .domain import (
    ApprovalToken,
    Budget,
    BudgetLine,
    BudgetStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
    iso,
    parse_iso,
)

logger = logging.getLogger(__name__)

MAX_VERSIONS = 1000
# Budget versions whose lines a process keeps (a few hundred bytes each).
LINES_CACHED = 4096


def default_publisher() -> Publisher:
    from config.celery import app
    from oficina_common.messaging import CeleryPublisher

    return CeleryPublisher(app)


def _present(attributes: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB keys (and older emulators) refuse empty strings: absent means empty."""
    return {k: v for k, v in attributes.items() if v is not None and v != ""}


def _update(table: Any, key: dict[str, Any], attributes: dict[str, Any], *, condition: str,
            names: dict[str, str] | None = None, values: dict[str, Any] | None = None,
            outbox: OutboxUpdate | None = None, conflict: str,
            error: type[Exception] = ConcurrencyConflict) -> dict[str, Any]:
    """One conditional UpdateItem: SET what has a value, REMOVE what is empty, plus the outbox's part."""
    outbox = outbox or OutboxUpdate()
    names = dict(names or {})
    values = dict(values or {})
    sets: list[str] = []
    removes: list[str] = []
    for n, (name, value) in enumerate(attributes.items()):
        names[f"#a{n}"] = name
        if value is None or value == "":
            removes.append(f"#a{n}")
        else:
            values[f":a{n}"] = value
            sets.append(f"#a{n} = :a{n}")
    names.update(outbox.names)
    values.update(outbox.values)
    expression = outbox.expression(sets, removes)
    kwargs: dict[str, Any] = {"Key": key, "UpdateExpression": expression, "ConditionExpression": condition,
                              "ExpressionAttributeNames": names, "ReturnValues": "ALL_NEW"}
    if values:
        kwargs["ExpressionAttributeValues"] = values
    return conditional_write(lambda: table.update_item(**kwargs), conflict=conflict, error=error)["Attributes"]


class _OutboxCarrier:
    """What both aggregates share: a table whose items carry an outbox, drained after each write."""

    spec = tables.BUDGETS
    key_attributes: tuple[str, ...] = ()

    def __init__(self, *, table: Any = None, publisher: Publisher | None = None, receipts: Receipts | None = None):
        self._table = table
        self._publisher = publisher
        self.receipts = receipts

    @cached_property
    def table(self) -> Any:
        return self._table if self._table is not None else tables.table(self.spec)

    @cached_property
    def publisher(self) -> Publisher:
        return self._publisher if self._publisher is not None else default_publisher()

    @cached_property
    def relay(self) -> DynamoOutboxRelay:
        return DynamoOutboxRelay(self.table, self.key_attributes, self.publisher, self.receipts)

    def drain(self, item: dict[str, Any], messages: Sequence[Envelope]) -> None:
        """Publish the messages this write carried, then take them out of the item's outbox (with
        receipts: record that they left; the item's next write takes them out).

        Only this write's own messages: another writer's are drained by that writer (or the
        sweeper), so a message is not published twice just because two writes raced.
        """
        mine = {m.message_id for m in messages}
        outbox = {k: v for k, v in (item.get("outbox") or {}).items() if k in mine}
        if not outbox:
            return
        try:
            self.relay.drain({**{k: item[k] for k in self.key_attributes}, "outbox": outbox}, just_written=True)
        except Exception:
            # The write happened; the sweeper publishes what is left (at-least-once).
            logger.warning("outbox drain failed; the sweeper will deliver", exc_info=True)

    def _insert(self, item: dict[str, Any], messages: Sequence[Envelope], *, conflict: str) -> None:
        """Create the item with its messages, once (AlreadyExists if it is there), then drain them."""
        if self.receipts is not None:
            self.receipts.forget([m.message_id for m in messages])
        item = {**item, **new_item_outbox(messages)}
        absent = f"attribute_not_exists({self.key_attributes[0]})"
        conditional_write(lambda: self.table.put_item(Item=item, ConditionExpression=absent),
                          conflict=conflict, error=AlreadyExists)
        self.drain(item, messages)

    def _move(self, key: dict[str, Any], changes: dict[str, Any], *, expected: Any, messages: Sequence[Envelope],
              conflict: str) -> dict[str, Any]:
        """Write a change, conditional on the status and revision ``expected`` was read in; drain its messages."""
        item = _update(
            self.table, key, {**changes, "rev": expected.rev + 1},
            condition="#cs = :cs AND #cr = :cr",
            names={"#cs": "status", "#cr": "rev"},
            values={":cs": expected.status.value, ":cr": expected.rev},
            outbox=prepare_write(self.receipts, messages, expected.outbox_held), conflict=conflict,
        )
        self.drain(item, messages)
        return item

    def sweep_outbox(self) -> int:
        return self.relay.sweep()

    def _append_messages(self, key: dict[str, Any], messages: Sequence[Envelope], conflict: str) -> None:
        """Publish again without changing state (a compensation asked twice still gets its reply)."""
        first = next(iter(key))
        item = _update(self.table, key, {}, condition=f"attribute_exists({first})",
                       outbox=prepare_write(self.receipts, messages, ()), conflict=conflict)
        self.drain(item, messages)


# --- budgets ------------------------------------------------------------------------------------

def _lines_prefix(version: int, lines_key: str) -> str:
    return f"{version:04d}#{lines_key}#"


def _budget_item(budget: Budget) -> dict[str, Any]:
    return _present({
        "budgetId": budget.budget_id,
        "version": budget.version,
        "sagaId": budget.saga_id,
        "serviceOrderId": budget.service_order_id,
        "customerId": budget.customer_id,
        "customerName": budget.customer_name,
        "customerEmail": budget.customer_email,
        "orderNumber": budget.order_number,
        "trackingUrl": budget.tracking_url,
        "status": budget.status.value,
        "currency": budget.currency,
        "totalCents": budget.total_cents,
        "additionalTotalCents": budget.additional_total_cents,
        "additionalLineCount": budget.additional_line_count,
        "lineCount": len(budget.lines),
        "linesKey": budget.lines_key,
        "revisionReason": budget.revision_reason,
        "commandId": budget.command_id,
        "expiresAt": iso(budget.expires_at),
        "createdAt": iso(budget.created_at),
        "updatedAt": iso(budget.updated_at),
        "decidedBy": budget.decided_by,
        "decidedAt": iso(budget.decided_at),
        "decisionReason": budget.decision_reason,
        "linkSentAt": iso(budget.link_sent_at),
        "declinedLineIds": sorted(budget.declined_line_ids) or None,
        "carriedLineCount": budget.carried_line_count,
        "lines": _lines_attribute(budget.lines),
        "rev": budget.rev,
    })


def _lines_attribute(lines: Iterable[BudgetLine]) -> str:
    """The version's lines as one compact JSON attribute of its item, written in the same PutItem: the
    reads (get, latest, a list, a decision) need no ``budget_items`` Query. The lines never change
    after the version is created (a decision records declined line ids, not the lines)."""
    return json.dumps([line.to_message() for line in lines], separators=(",", ":"), ensure_ascii=False)


def _lines_of(item: dict[str, Any]) -> tuple[BudgetLine, ...]:
    """The lines kept inside the version's item (a JSON list with the domain's own field names)."""
    return tuple(_line_from(line, int(line.get("line_id") or n + 1), catalog_id="catalog_id",
                            unit_price_cents="unit_price_cents")
                 for n, line in enumerate(json.loads(item["lines"])))


def _budget_changes(budget: Budget) -> dict[str, Any]:
    """What a move writes. Not ``linkSentAt``: only :meth:`BudgetRepository.mark_link_sent` writes
    it, with no revision bump, so a move read before it would write the old value back (remove it)
    and the link would seem never sent."""
    return {
        "status": budget.status.value,
        "updatedAt": iso(budget.updated_at),
        "decidedBy": budget.decided_by,
        "decidedAt": iso(budget.decided_at),
        "decisionReason": budget.decision_reason,
        # Which lines the decision declined: in the same conditional write as the decision itself.
        "declinedLineIds": sorted(budget.declined_line_ids) or None,
    }


def _budget_from(item: dict[str, Any], lines: Iterable[BudgetLine]) -> Budget:
    return Budget(
        budget_id=item["budgetId"],
        version=int(item["version"]),
        saga_id=item.get("sagaId", ""),
        service_order_id=item.get("serviceOrderId", ""),
        customer_id=item.get("customerId", ""),
        status=BudgetStatus(item["status"]),
        lines=tuple(lines),
        expires_at=parse_iso(item["expiresAt"]),
        created_at=parse_iso(item["createdAt"]),
        updated_at=parse_iso(item["updatedAt"]),
        customer_name=item.get("customerName", ""),
        customer_email=item.get("customerEmail", ""),
        order_number=item.get("orderNumber", ""),
        tracking_url=item.get("trackingUrl", ""),
        currency=item.get("currency", "BRL"),
        additional_total_cents=int(item.get("additionalTotalCents", 0)),
        additional_line_count=int(item.get("additionalLineCount", 0)),
        revision_reason=item.get("revisionReason", ""),
        decided_by=item.get("decidedBy", ""),
        decided_at=parse_iso(item.get("decidedAt")),
        decision_reason=item.get("decisionReason", ""),
        command_id=item.get("commandId", ""),
        lines_key=item.get("linesKey", ""),
        link_sent_at=parse_iso(item.get("linkSentAt")),
        declined_line_ids=frozenset(int(i) for i in item.get("declinedLineIds") or ()),
        carried_line_count=int(item.get("carriedLineCount", 0)),
        rev=int(item.get("rev", 0)),
        outbox_held=tuple(item.get("outbox") or ()),
    )


def _line_from(item: dict[str, Any], line_id: int, *, catalog_id: str = "catalogId",
               unit_price_cents: str = "unitPriceCents") -> BudgetLine:
    """One line, from a ``budget_items`` row (the defaults' attribute names) or from the JSON
    list inside a version's item (its names given). Lines written before jobs existed are one
    job, none optional."""
    return BudgetLine(kind=item["kind"], catalog_id=item[catalog_id], description=item["description"],
                      quantity=int(item["quantity"]), unit_price_cents=int(item[unit_price_cents]),
                      job=int(item.get("job", 1)), optional=bool(item.get("optional", False)), line_id=line_id)


@lru_cache(maxsize=LINES_CACHED)
def _version_lines(items_table: Any, budget_id: str, version: int, lines_key: str) -> tuple[BudgetLine, ...]:
    """A version's lines, read once per process: they are written before the version item that makes
    them visible and never change after (a retried command rewrites the same rows), while a budget
    is loaded again at every step of its saga and on every page that shows it."""
    rows = query_all(
        items_table,
        KeyConditionExpression="budgetId = :b AND begins_with(itemId, :p)",
        ExpressionAttributeValues={":b": budget_id, ":p": _lines_prefix(version, lines_key)},
        ConsistentRead=True,
    )
    return tuple(_line_from(row, n + 1) for n, row in enumerate(sorted(rows, key=lambda r: r["itemId"])))


class BudgetRepository(_OutboxCarrier):
    """Budget versions (``budgets``) and their immutable item lines (``budget_items``)."""

    spec = tables.BUDGETS
    key_attributes = ("budgetId", "version")

    def __init__(self, *, table: Any = None, items_table: Any = None, publisher: Publisher | None = None,
                 receipts: Receipts | None = None):
        super().__init__(table=table, publisher=publisher, receipts=receipts)
        self._items_table = items_table

    @cached_property
    def items_table(self) -> Any:
        return self._items_table if self._items_table is not None else tables.table(tables.BUDGET_ITEMS)

    # reads
    def _load(self, item: dict[str, Any]) -> Budget:
        if "lines" in item:
            return _budget_from(item, _lines_of(item))
        # A version written before its item carried its lines: they are in budget_items only.
        lines = _version_lines(self.items_table, item["budgetId"], int(item["version"]), item.get("linesKey", ""))
        return _budget_from(item, lines)

    def get(self, budget_id: str, version: int) -> Budget | None:
        item = self.table.get_item(Key={"budgetId": budget_id, "version": version}, ConsistentRead=True).get("Item")
        return self._load(item) if item else None

    def latest(self, budget_id: str) -> Budget | None:
        items = self.table.query(
            KeyConditionExpression="budgetId = :b", ExpressionAttributeValues={":b": budget_id},
            ScanIndexForward=False, Limit=1, ConsistentRead=True,
        ).get("Items", [])
        return self._load(items[0]) if items else None

    def get_with_latest_version(self, budget_id: str, version: int) -> tuple[Budget | None, int]:
        """A version and the number of the budget's latest one (0 when there is none from ``version``
        on), in one consistent Query of the versions from ``version`` on: a decision needs both."""
        items = list(query_all(self.table, KeyConditionExpression="budgetId = :b AND version >= :v",
                               ExpressionAttributeValues={":b": budget_id, ":v": version}, ConsistentRead=True))
        wanted = next((item for item in items if int(item["version"]) == version), None)
        latest = max((int(item["version"]) for item in items), default=0)
        return (self._load(wanted) if wanted else None), latest

    def versions(self, budget_id: str) -> list[Budget]:
        items = query_all(self.table, KeyConditionExpression="budgetId = :b",
                          ExpressionAttributeValues={":b": budget_id}, ConsistentRead=True)
        return [self._load(item) for n, item in enumerate(items) if n < MAX_VERSIONS]

    def list_by_service_order(self, service_order_id: str) -> list[Budget]:
        """The latest version of each budget of an order, oldest budget first, in one Query.

        The index projects the whole item (its lines included), so the list is served from it: like
        any list, it may lag a write by the index's propagation delay. Decisions read the table
        itself and answer a stale version with a 409 naming the latest.
        """
        latest: dict[str, dict[str, Any]] = {}
        for item in query_all(self.table, IndexName="ServiceOrderIndex",
                              KeyConditionExpression="serviceOrderId = :o",
                              ExpressionAttributeValues={":o": service_order_id}):
            current = latest.get(item["budgetId"])
            if current is None or int(item["version"]) > int(current["version"]):
                latest[item["budgetId"]] = item
        ordered = sorted(latest.values(), key=lambda i: (i.get("createdAt", ""), i["budgetId"]))
        return [self._load(item) for item in ordered]

    def list_by_status(self, status: BudgetStatus, *, limit: int = 50,
                       page_token: str | None = None) -> Page[Budget]:
        page = query_page(self.table, IndexName="StatusIndex", KeyConditionExpression="#s = :s",
                          ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":s": status.value},
                          limit=limit, page_token=page_token, start_key=self.spec.start_key("StatusIndex"))
        return page.map(self._load)

    def due_for_expiry(self, now: datetime, *, limit: int = 100) -> list[tuple[str, int]]:
        """(budget_id, version) of versions still waiting for approval past their expiry."""
        items = query_all(
            self.table, IndexName="StatusIndex",
            KeyConditionExpression="#s = :s AND expiresAt <= :now",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": BudgetStatus.PENDING_APPROVAL.value, ":now": iso(now)},
        )
        found = []
        for n, item in enumerate(items):
            if n >= limit:
                break
            found.append((item["budgetId"], int(item["version"])))
        return found

    # writes
    def add(self, budget: Budget, messages: Sequence[Envelope] = (), *,
            link_claimed_at: datetime | None = None) -> Budget:
        """Write the version's lines, then the version item that makes them visible (if it is new).

        With ``link_claimed_at`` the version is created claimed for sending its approval link (see
        ``claim_link_sending``): the worker that creates it sends the link without a claim write.
        """
        prefix = _lines_prefix(budget.version, budget.lines_key)
        with self.items_table.batch_writer(overwrite_by_pkeys=["budgetId", "itemId"]) as batch:
            for n, line in enumerate(budget.lines):
                # Deterministic ids and contents: a retried command rewrites the same rows.
                batch.put_item(Item=_present({
                    "budgetId": budget.budget_id, "itemId": f"{prefix}{n:03d}", "version": budget.version,
                    "position": n, "kind": line.kind, "catalogId": line.catalog_id,
                    "description": line.description, "quantity": line.quantity,
                    "unitPriceCents": line.unit_price_cents, "totalCents": line.total_cents,
                    "job": line.job, "optional": line.optional, "lineId": line.line_id,
                }))
        item = {**_budget_item(budget), **_present({"linkClaimedAt": iso(link_claimed_at)})}
        self._insert(item, messages, conflict=f"Budget {budget.budget_id} version {budget.version} already exists.")
        return budget

    def save(self, budget: Budget, *, expected: Budget, messages: Sequence[Envelope] = ()) -> Budget:
        """Write a move, conditional on the status and revision it was read in."""
        item = self._move({"budgetId": budget.budget_id, "version": budget.version}, _budget_changes(budget),
                          expected=expected, messages=messages,
                          conflict=f"Budget {budget.budget_id} version {budget.version} changed meanwhile.")
        return _budget_from(item, budget.lines)

    def claim_link_sending(self, budget: Budget, now: datetime, *, stale_after: timedelta) -> bool:
        """Only one sender e-mails a version's link; a claim left by a crashed sender goes stale."""
        try:
            _update(self.table, {"budgetId": budget.budget_id, "version": budget.version},
                    {"linkClaimedAt": iso(now)},
                    condition="attribute_exists(budgetId) AND attribute_not_exists(linkSentAt) AND "
                              "(attribute_not_exists(linkClaimedAt) OR linkClaimedAt < :stale)",
                    values={":stale": iso(now - stale_after)}, conflict="claimed")
        except ConcurrencyConflict:
            return False
        return True

    def release_link_claim(self, budget: Budget) -> None:
        _update(self.table, {"budgetId": budget.budget_id, "version": budget.version}, {"linkClaimedAt": None},
                condition="attribute_exists(budgetId)", conflict=f"Budget {budget.budget_id} is gone.")

    def mark_link_sent(self, budget: Budget, when: datetime) -> None:
        # Not a state move: no revision bump, so it never races a decision.
        _update(self.table, {"budgetId": budget.budget_id, "version": budget.version}, {"linkSentAt": iso(when)},
                condition="attribute_exists(budgetId)", conflict=f"Budget {budget.budget_id} is gone.")

    def republish(self, budget: Budget, messages: Sequence[Envelope]) -> None:
        self._append_messages({"budgetId": budget.budget_id, "version": budget.version}, messages,
                              conflict=f"Budget {budget.budget_id} is gone.")


# --- approval tokens ------------------------------------------------------------------------------

class ApprovalTokenRepository:
    def __init__(self, *, table: Any = None):
        self._table = table

    @cached_property
    def table(self) -> Any:
        return self._table if self._table is not None else tables.table(tables.APPROVAL_TOKENS)

    def add(self, token: ApprovalToken) -> None:
        item = {"tokenHash": token.token_hash, "budgetId": token.budget_id, "version": token.version,
                "expiresAt": iso(token.expires_at), "createdAt": iso(token.created_at),
                "ttl": int(token.expires_at.timestamp())}
        conditional_write(
            lambda: self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(tokenHash)"),
            conflict="This approval token already exists.", error=AlreadyExists,
        )

    def get(self, token_hash: str, *, now: datetime | None = None,
            include_expired: bool = False) -> ApprovalToken | None:
        """The link's record; an expired one only with ``include_expired`` (the page says "expirou")."""
        item = self.table.get_item(Key={"tokenHash": token_hash}, ConsistentRead=True).get("Item")
        if not item or (not include_expired and is_expired(item, "ttl", now=now.timestamp() if now else None)):
            return None
        return ApprovalToken(
            token_hash=item["tokenHash"], budget_id=item["budgetId"], version=int(item["version"]),
            expires_at=parse_iso(item["expiresAt"]), created_at=parse_iso(item["createdAt"]),
            used_at=parse_iso(item.get("usedAt")), used_decision=item.get("usedDecision", ""),
        )

    def mark_used(self, token_hash: str, decision: str, when: datetime) -> None:
        """Single use: the first decision sticks; the same decision again is allowed (a double click)."""
        _update(self.table, {"tokenHash": token_hash}, {"usedAt": iso(when), "usedDecision": decision},
                condition="attribute_exists(tokenHash) AND (attribute_not_exists(usedAt) OR usedDecision = :d)",
                values={":d": decision}, conflict="This approval link was already used.")


# --- payments -------------------------------------------------------------------------------------

def _payment_item(payment: Payment) -> dict[str, Any]:
    return _present({
        "paymentId": payment.payment_id,
        "timestamp": payment.timestamp,
        "sagaId": payment.saga_id,
        "serviceOrderId": payment.service_order_id,
        "budgetId": payment.budget_id,
        "budgetVersion": payment.budget_version,
        "customerId": payment.customer_id,
        "amountCents": payment.amount_cents,
        "currency": payment.currency,
        "method": payment.method.value,
        "payerEmail": payment.payer_email,
        "description": payment.description,
        "createdAt": iso(payment.created_at),
        "rev": payment.rev,
        **_payment_changes(payment),
    })


def _payment_changes(payment: Payment) -> dict[str, Any]:
    return {
        "status": payment.status.value,
        "updatedAt": iso(payment.updated_at),
        "mercadopagoPaymentId": payment.mercadopago_payment_id,
        "mercadopagoStatus": payment.mercadopago_status,
        "mercadopagoStatusDetail": payment.mercadopago_status_detail,
        "qrCode": payment.qr_code,
        "qrCodeBase64": payment.qr_code_base64,
        "ticketUrl": payment.ticket_url,
        "preferenceId": payment.preference_id,
        "initPoint": payment.init_point,
        "requestedAt": iso(payment.requested_at),
        "failureReason": payment.failure_reason,
        "cancelRequestedAt": iso(payment.cancel_requested_at),
        "cancelReason": payment.cancel_reason,
        "refundId": payment.refund_id,
        "refundedExtras": list(payment.refunded_extras) or None,
    }


def _payment_from(item: dict[str, Any]) -> Payment:
    return Payment(
        payment_id=item["paymentId"],
        timestamp=item["timestamp"],
        saga_id=item.get("sagaId", ""),
        service_order_id=item.get("serviceOrderId", ""),
        budget_id=item.get("budgetId", ""),
        budget_version=int(item.get("budgetVersion", 0)),
        customer_id=item.get("customerId", ""),
        amount_cents=int(item["amountCents"]),
        method=PaymentMethod(item["method"]),
        payer_email=item.get("payerEmail", ""),
        description=item.get("description", ""),
        status=PaymentStatus(item["status"]),
        created_at=parse_iso(item["createdAt"]),
        updated_at=parse_iso(item["updatedAt"]),
        currency=item.get("currency", "BRL"),
        mercadopago_payment_id=item.get("mercadopagoPaymentId"),
        mercadopago_status=item.get("mercadopagoStatus", ""),
        mercadopago_status_detail=item.get("mercadopagoStatusDetail", ""),
        qr_code=item.get("qrCode", ""),
        qr_code_base64=item.get("qrCodeBase64", ""),
        ticket_url=item.get("ticketUrl", ""),
        preference_id=item.get("preferenceId", ""),
        init_point=item.get("initPoint", ""),
        requested_at=parse_iso(item.get("requestedAt")),
        failure_reason=item.get("failureReason", ""),
        cancel_requested_at=parse_iso(item.get("cancelRequestedAt")),
        cancel_reason=item.get("cancelReason", ""),
        refund_id=item.get("refundId", ""),
        refunded_extras=tuple(item.get("refundedExtras") or ()),
        rev=int(item.get("rev", 0)),
        outbox_held=tuple(item.get("outbox") or ()),
    )


class PaymentRepository(_OutboxCarrier):
    """Payments: one item per payment, keyed (paymentId, timestamp)."""

    spec = tables.PAYMENTS
    key_attributes = ("paymentId", "timestamp")
    # Where the reconciliation's walk stopped: one small item of this table, under a key that is no
    # payment's (payment ids are UUIDs) and with none of the indexes' attributes, so no query sees it.
    RECONCILE_CURSOR = {"paymentId": "#reconcile", "timestamp": "cursor"}

    def get(self, payment_id: str) -> Payment | None:
        if payment_id == self.RECONCILE_CURSOR["paymentId"]:
            return None
        # One item per payment; its sort key is not known to callers, so Query the partition.
        items = self.table.query(KeyConditionExpression="paymentId = :p", ExpressionAttributeValues={":p": payment_id},
                                 Limit=1, ConsistentRead=True).get("Items", [])
        return _payment_from(items[0]) if items else None

    def find_by_mercadopago_id(self, mercadopago_payment_id: str) -> Payment | None:
        items = self.table.query(
            IndexName="MercadoPagoIndex", KeyConditionExpression="mercadopagoPaymentId = :m",
            ExpressionAttributeValues={":m": str(mercadopago_payment_id)}, Limit=1,
        ).get("Items", [])
        return self.get(items[0]["paymentId"]) if items else None

    def list_by_service_order(self, service_order_id: str, *, limit: int = 50,
                              page_token: str | None = None) -> Page[Payment]:
        page = query_page(self.table, IndexName="ServiceOrderIndex", KeyConditionExpression="serviceOrderId = :o",
                          ExpressionAttributeValues={":o": service_order_id}, limit=limit,
                          page_token=page_token, start_key=self.spec.start_key("ServiceOrderIndex"))
        return page.map(_payment_from)

    def list_by_budget(self, budget_id: str) -> list[Payment]:
        items = query_all(self.table, IndexName="BudgetIndex", KeyConditionExpression="budgetId = :b",
                          ExpressionAttributeValues={":b": budget_id})
        return [_payment_from(item) for item in items]

    def pending_created_before(self, cutoff: datetime, *, limit: int = 100,
                               page_token: str | None = None) -> Page[Payment]:
        """One page of PENDING payments created before ``cutoff``, oldest first, and the token of the next."""
        page = query_page(self.table, IndexName="StatusIndex", KeyConditionExpression="#s = :s AND createdAt <= :c",
                          ExpressionAttributeNames={"#s": "status"},
                          ExpressionAttributeValues={":s": PaymentStatus.PENDING.value, ":c": iso(cutoff)},
                          limit=limit, page_token=page_token, start_key=self.spec.start_key("StatusIndex"))
        return page.map(_payment_from)

    def reconcile_cursor(self) -> str | None:
        item = self.table.get_item(Key=self.RECONCILE_CURSOR, ConsistentRead=True).get("Item")
        return (item or {}).get("pageToken")

    def save_reconcile_cursor(self, page_token: str | None) -> None:
        # Unconditional: of two overlapping runs the later one's place is as good as the other's.
        self.table.put_item(Item=_present({**self.RECONCILE_CURSOR, "pageToken": page_token,
                                           "updatedAt": iso(datetime.now(UTC))}))

    def add(self, payment: Payment, messages: Sequence[Envelope] = ()) -> Payment:
        self._insert(_payment_item(payment), messages, conflict=f"Payment {payment.payment_id} already exists.")
        return payment

    def save(self, payment: Payment, *, expected: Payment, messages: Sequence[Envelope] = ()) -> Payment:
        """Write a change, conditional on the status and revision it was read in."""
        item = self._move({"paymentId": payment.payment_id, "timestamp": payment.timestamp},
                          _payment_changes(payment), expected=expected, messages=messages,
                          conflict=f"Payment {payment.payment_id} changed meanwhile.")
        return _payment_from(item)

    def republish(self, payment: Payment, messages: Sequence[Envelope]) -> None:
        self._append_messages({"paymentId": payment.payment_id, "timestamp": payment.timestamp}, messages,
                              conflict=f"Payment {payment.payment_id} is gone.")
