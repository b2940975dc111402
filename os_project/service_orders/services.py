"""Use cases of the service order: the only code that changes an order's status or items."""
from __future__ import annotations

import functools
import hashlib
import logging
import secrets
import smtplib
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from catalog.models import Part, Service
from core.money import to_cents
from customers.models import Customer, Vehicle
from messaging import outbox
from notifications.services import declined_work_reminder_send, status_change_notify_later
from oficina_common import contracts
from oficina_common.errors import InvalidTransition, NotFound, ValidationFailed
from oficina_common.messages import Envelope

from .domain import (
    JOB_DEFAULT,
    PRIORITY_DEFAULT,
    Decision,
    ItemKind,
    ItemLine,
    LinkExpired,
    Status,
    budget_approved,
    declined_lines_of,
    ensure_transition,
    format_number,
    is_tracking_code,
    merge_summary,
    saga_moves_to,
    totals_of,
)
from .links import declined_work_url, tracking_url
from .models import DeclinedWork, DeclinedWorkOffer, ServiceOrder, ServiceOrderItem, StatusHistory

logger = logging.getLogger(__name__)

SAGA = "saga"
NUMBER_SEQUENCE = "service_order_number_seq"


def _next_number() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(%s)", [NUMBER_SEQUENCE])
        return format_number(cursor.fetchone()[0])


# What comes with a locked order (not locked): the e-mail a status change sends names both, and
# would otherwise read each on its own.
_LOCKED_WITH = (("customer", Customer), ("vehicle", Vehicle))


@functools.cache
def _locked_order_sql() -> str:
    """``select_related("customer", "vehicle").select_for_update(of=("self",)).get(pk=…)``, written
    once from the models' fields: built and compiled by the ORM at every status change, that query
    was two thirds of its own ~2 ms of a worker's CPU, and a tenth of the OS worker's."""
    quote = connection.ops.quote_name
    order_table = quote(ServiceOrder._meta.db_table)
    columns = [f"{order_table}.{quote(field.column)}" for field in ServiceOrder._meta.concrete_fields]
    joins = []
    for name, model in _LOCKED_WITH:
        table = quote(model._meta.db_table)
        columns += [f"{table}.{quote(field.column)} AS {quote(f'{name}__{field.attname}')}"
                    for field in model._meta.concrete_fields]
        joins.append(f"INNER JOIN {table} ON ({order_table}.{quote(ServiceOrder._meta.get_field(name).column)} "
                     f"= {table}.{quote(model._meta.pk.column)})")
    return (f"SELECT {', '.join(columns)} FROM {order_table} {' '.join(joins)} "  # noqa: S608 - names from the models
            f"WHERE {order_table}.{quote(ServiceOrder._meta.pk.column)} = %s FOR UPDATE OF {order_table}")


def _locked_order(service_order_id: Any) -> ServiceOrder:
    """The order, locked for this transaction, with its customer and vehicle."""
    if not connection.in_atomic_block:  # as select_for_update() refuses: a lock that ends with the statement
        raise TransactionManagementError("The service order is locked only inside a transaction.")
    try:
        key = uuid.UUID(str(service_order_id))
    except ValueError:
        raise NotFound(f"There is no service order {service_order_id}.") from None
    # raw() maps the order's columns to its fields (their converters applied); the others it sets
    # as attributes, from which the customer and the vehicle are made.
    order = next(iter(ServiceOrder.objects.raw(_locked_order_sql(), [key])), None)
    if order is None:
        raise NotFound(f"There is no service order {service_order_id}.")
    for name, model in _LOCKED_WITH:
        fields = model._meta.concrete_fields
        values = [order.__dict__.pop(f"{name}__{field.attname}") for field in fields]
        setattr(order, name, model.from_db(order._state.db, [field.attname for field in fields], values))
    return order


def snapshot_items(requested: Sequence[dict[str, Any]]) -> list[ItemLine]:
    """Catalogue lines ``{kind, catalog_id, quantity}`` with today's name and price copied in."""
    wanted = {kind: {int(r["catalog_id"]) for r in requested if r["kind"] == kind} for kind in ItemKind}
    catalogue = {
        ItemKind.SERVICE: Service.objects.filter(active=True).in_bulk(wanted[ItemKind.SERVICE]),
        ItemKind.PART: Part.objects.filter(active=True).in_bulk(wanted[ItemKind.PART]),
    }
    lines = []
    for n, line in enumerate(requested):
        kind = ItemKind(line["kind"])
        entry = catalogue[kind].get(int(line["catalog_id"]))
        if entry is None:
            raise ValidationFailed(
                f"items[{n}]: there is no active {kind.value} with id {line['catalog_id']}.",
                code="unknown_catalog_item", extra={"field": f"items[{n}].catalog_id"},
            )
        price = entry.price if kind == ItemKind.SERVICE else entry.unit_price
        # Whether a part may be declined alone is the workshop's call (the catalogue), never the request's.
        optional = kind == ItemKind.PART and entry.may_decline_alone
        lines.append(ItemLine(kind=kind, catalog_id=entry.pk, description=entry.name,
                              quantity=int(line["quantity"]), unit_price_cents=to_cents(price),
                              job=int(line.get("job") or JOB_DEFAULT), optional=optional))
    return lines


def _item_amounts(lines: Sequence[ItemLine]) -> dict[str, int]:
    """The order's fields that hold what ``lines`` come to (services, parts), as the list shows them."""
    totals = totals_of(lines)
    return {"items_services_cents": totals.services_cents, "items_parts_cents": totals.parts_cents}


def _replace_items(order: ServiceOrder, lines: Sequence[ItemLine]) -> tuple[str, ...]:
    """The order's items become ``lines``: lines 1..n of the budget, in this order. The order's
    amounts follow them in memory; returns their fields, for the caller's save (the order's one
    UPDATE of the transaction)."""
    amounts = _item_amounts(lines)
    for field, value in amounts.items():
        setattr(order, field, value)
    order.items.all().delete()
    ServiceOrderItem.objects.bulk_create(
        ServiceOrderItem(service_order=order, kind=line.kind.value, catalog_id=line.catalog_id,
                         description=line.description, quantity=line.quantity,
                         unit_price_cents=line.unit_price_cents, line_id=position, job=line.job,
                         optional=line.optional)
        for position, line in enumerate(lines, start=1)
    )
    return tuple(amounts)


def _record_status(order: ServiceOrder, previous: str, *, by: str, reason: str) -> StatusHistory:
    entry = StatusHistory.objects.create(service_order=order, from_status=previous, to_status=order.status,
                                         at=timezone.now(), by=by, reason=reason)
    status_change_notify_later(order.pk, order.status, order=order)
    return entry


def _move_once(order: ServiceOrder, target: Status, *, by: str, reason: str = "") -> bool:
    """A person's move (start the diagnosis, deliver, cancel): asked again once it is made (the
    answer to the first request was lost on the way, a double click) it changes nothing and is
    not an error, so a client may repeat it safely. Returns whether the order moved now."""
    if order.status == target:
        return False
    _move(order, target, by=by, reason=reason)
    return True


def _move(order: ServiceOrder, target: str, *, by: str, reason: str = "",
          also_saved: tuple[str, ...] = ()) -> StatusHistory:
    """Move the order to ``target`` (InvalidTransition if it may not) and record it in the history."""
    status = ensure_transition(order.status, target)
    previous = order.status
    order.status = status.value
    order.save(update_fields=["status", *also_saved, "updated_at"])
    return _record_status(order, previous, by=by, reason=reason)


@transaction.atomic
def service_order_create(*, customer_id: int, vehicle_id: int, complaint: str, priority: int = PRIORITY_DEFAULT,
                         items: Sequence[dict[str, Any]] = (), by: str) -> ServiceOrder:
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise ValidationFailed(f"There is no customer with id {customer_id}.", extra={"field": "customer_id"})
    vehicle = Vehicle.objects.filter(pk=vehicle_id).first()
    if vehicle is None:
        raise ValidationFailed(f"There is no vehicle with id {vehicle_id}.", extra={"field": "vehicle_id"})
    if vehicle.customer_id != customer.pk:
        raise ValidationFailed(f"Vehicle {vehicle.plate} does not belong to customer {customer.name}.",
                               code="vehicle_not_of_customer", extra={"field": "vehicle_id"})
    lines = snapshot_items(items)
    order = ServiceOrder.objects.create(
        number=_next_number(),
        customer=customer,
        vehicle=vehicle,
        complaint=complaint.strip(),
        priority=priority,
        status=Status.RECEIVED,
        tracking_code=secrets.token_urlsafe(18),
        saga_summary=merge_summary({}, None),
        created_by=by,
        **_item_amounts(lines),
    )
    _replace_items(order, lines)
    _record_status(order, "", by=by, reason="Order opened")
    return order


@transaction.atomic
def service_order_start_diagnosis(*, service_order_id: Any, by: str) -> ServiceOrder:
    order = _locked_order(service_order_id)
    _move_once(order, Status.IN_DIAGNOSIS, by=by, reason="Diagnosis started")
    return order


@transaction.atomic
def service_order_submit_diagnosis(*, service_order_id: Any, items: Sequence[dict[str, Any]], notes: str,
                                   by: str) -> ServiceOrder:
    """Snapshot the diagnosed items and start the saga (the status moves when Billing has a budget)."""
    order = _locked_order(service_order_id)
    if order.status != Status.IN_DIAGNOSIS:
        raise InvalidTransition(
            f"A diagnosis can only be submitted while the order is IN_DIAGNOSIS; {order.number} is {order.status}.",
            extra={"from": order.status, "to": Status.AWAITING_APPROVAL.value},
        )
    if order.saga_id is not None:
        raise InvalidTransition(f"The diagnosis of {order.number} was already submitted; its budget is on the way.",
                                code="diagnosis_already_submitted")
    amounts: tuple[str, ...] = ()
    if items:
        lines = snapshot_items(items)
        amounts = _replace_items(order, lines)
    else:
        lines = [ItemLine(kind=ItemKind(i.kind), catalog_id=i.catalog_id, description=i.description,
                          quantity=i.quantity, unit_price_cents=i.unit_price_cents, job=i.job,
                          optional=i.optional) for i in order.items.order_by("line_id", "id")]
    if not lines:
        raise ValidationFailed("A diagnosis needs at least one service or part to put in the budget.",
                               code="empty_diagnosis", extra={"field": "items"})
    order.saga_id = uuid.uuid4()
    order.diagnosis_notes = notes.strip()
    order.save(update_fields=["saga_id", "diagnosis_notes", *amounts, "updated_at"])
    customer, vehicle = order.customer, order.vehicle
    outbox.publish(Envelope(
        type="os.DiagnosisCompleted",
        saga_id=str(order.saga_id),
        service_order_id=str(order.pk),
        payload=contracts.DiagnosisCompleted(
            order_number=order.number,
            customer_id=str(customer.pk),
            customer_name=customer.name,
            customer_email=customer.email,
            vehicle=contracts.Vehicle(plate=vehicle.plate, model=f"{vehicle.brand} {vehicle.model}".strip()),
            priority=order.priority,
            items=[contracts.ItemLine(**line.to_message()) for line in lines],
            notes=order.diagnosis_notes,
            tracking_url=tracking_url(order.tracking_code),
        ),
    ))
    return order


def service_orders_resend_unanswered_diagnoses() -> int:
    """Orders whose diagnosis the saga never answered (still IN_DIAGNOSIS once the saga should
    have asked for the budget): their ``os.DiagnosisCompleted`` is published again. A broker that
    loses everything loses it after the outbox marked it published; the saga starts once.

    The cancellations of the last day go out again too (:func:`_resend_cancellations`), on the
    same clock: the beat task that runs this is the OS's one look at what the broker may have lost."""
    waiting = ServiceOrder.objects.filter(status=Status.IN_DIAGNOSIS, saga_id__isnull=False)
    ids = [str(pk) for pk in waiting.order_by("updated_at").values_list("pk", flat=True)[:500]]
    sent = outbox.resend_unanswered(
        message_type="os.DiagnosisCompleted", service_order_ids=ids,
        older_than=timedelta(seconds=settings.DIAGNOSIS_RESEND_AFTER_SECONDS),
        max_attempts=settings.DIAGNOSIS_RESEND_MAX_ATTEMPTS) if ids else 0
    return sent + _resend_cancellations()


# How many times a staff cancellation is published again after the first time.
CANCELLATION_RESENDS = 3


def _resend_cancellations() -> int:
    """``os.OrderCancelled`` again, a few times, a while apart, with its own id: the saga says
    nothing back to a staff cancellation, and one the broker lost (or that came before the saga
    had started, racing the diagnosis) would leave it waiting on the customer or the mechanic
    with the order cancelled. A saga that heard it takes a repeat as the duplicate it is."""
    since = timezone.now() - timedelta(days=1)
    cancelled = ServiceOrder.objects.filter(status=Status.CANCELLED, saga_id__isnull=False, updated_at__gte=since)
    ids = [str(pk) for pk in cancelled.order_by("updated_at").values_list("pk", flat=True)[:500]]
    if not ids:
        return 0
    return outbox.resend_unanswered(
        message_type="os.OrderCancelled", service_order_ids=ids,
        older_than=timedelta(seconds=settings.DIAGNOSIS_RESEND_AFTER_SECONDS), max_attempts=CANCELLATION_RESENDS)


@transaction.atomic
def service_order_deliver(*, service_order_id: Any, by: str) -> ServiceOrder:
    order = _locked_order(service_order_id)
    _move_once(order, Status.DELIVERED, by=by, reason="Vehicle handed to the customer")
    return order


@transaction.atomic
def service_order_cancel(*, service_order_id: Any, reason: str, by: str) -> ServiceOrder:
    """Staff cancel an order; a running saga is told (once) so it compensates what it did."""
    order = _locked_order(service_order_id)
    if _move_once(order, Status.CANCELLED, by=by, reason=reason) and order.saga_id is not None:
        outbox.publish(Envelope(
            type="os.OrderCancelled",
            saga_id=str(order.saga_id),
            service_order_id=str(order.pk),
            payload=contracts.OrderCancelled(reason=reason, cancelled_by=by),
        ))
    return order


def service_order_apply_saga_status(*, service_order_id: Any, to: Any, reason: str = "",
                                    summary: Any = None) -> bool:
    """``os.ChangeStatus`` from the saga; runs inside the consumer's transaction.

    The same status only refreshes the summary; a status further along the path walks the order
    through the ones between (the saga's word for them was lost by the broker, or overtaken by
    this one: the saga is the authority on where the order is); an illegal move is logged and
    dropped (returns False).
    """
    order = _locked_order(service_order_id)
    recorded = (order.saga_summary or {}).get("budget")
    order.saga_summary = merge_summary(order.saga_summary or {}, summary)
    if isinstance(summary, dict) and summary.get("budget") != recorded:
        # The same budget summary again (every later status carries it) was recorded with it.
        _record_budget_decision(order, summary.get("budget"))
    if to == order.status:
        order.save(update_fields=["saga_summary", "updated_at"])
        return True
    try:
        *between, last = saga_moves_to(order.status, str(to))
        for status in between:
            _move(order, status, by=SAGA, reason=f"(the saga moved the order on to {last})",
                  also_saved=("saga_summary",))
        _move(order, last, by=SAGA, reason=str(reason or ""), also_saved=("saga_summary",))
    except InvalidTransition as exc:
        logger.warning("dropped os.ChangeStatus for %s: %s", order.number, exc.message)
        return False
    return True


def _record_budget_decision(order: ServiceOrder, budget: Any) -> None:
    """Keep the declined lines of a budget summary and mark the order's items accepted or declined.

    Idempotent and order-independent: a declined line is stored once per (order, budget, line)
    whatever the number and order of the summaries naming it; an item is DECLINED when any
    summary declined its line, otherwise ACCEPTED once an approval was seen (a revision's approval
    implies the first version's). A summary never takes a decision back.
    """
    if not isinstance(budget, dict):
        return
    lines = declined_lines_of(budget)
    budget_id, version = str(budget.get("budget_id") or "")[:64], budget.get("version")
    if lines and budget_id and isinstance(version, int) and not isinstance(version, bool) and version > 0:
        now = timezone.now()
        DeclinedWork.objects.bulk_create(
            [DeclinedWork(vehicle_id=order.vehicle_id, service_order=order, budget_id=budget_id, version=version,
                          line_id=line.line_id, kind=line.kind.value, catalog_id=line.catalog_id,
                          description=line.description or f"{line.kind.value} {line.catalog_id}",
                          quantity=line.quantity, unit_price_cents=line.unit_price_cents, job=line.job,
                          optional=line.optional, declined_at=now)
             for line in lines],
            ignore_conflicts=True,  # the unique (order, budget, line): a repeated summary adds nothing
        )
    approved = budget_approved(budget)
    if not lines and not approved:
        return
    with connection.cursor() as cursor:
        cursor.execute(_decide_items_sql(), {"order": order.pk, "approved": approved,
                                             "declined": Decision.DECLINED.value, "accepted": Decision.ACCEPTED.value})


@functools.cache
def _decide_items_sql() -> str:
    """One UPDATE of the order's items: each whose line was ever declined becomes DECLINED; once
    ``approved``, each undecided other one ACCEPTED (the ORM's two UPDATEs, and their compiling,
    were a tenth of a status change's CPU)."""
    quote = connection.ops.quote_name
    items, declined = quote(ServiceOrderItem._meta.db_table), quote(DeclinedWork._meta.db_table)
    is_declined = f"line_id IN (SELECT line_id FROM {declined} WHERE service_order_id = %(order)s)"  # noqa: S608
    return (f"UPDATE {items} SET decision = CASE WHEN {is_declined} THEN %(declined)s ELSE %(accepted)s END "  # noqa: S608
            f"WHERE service_order_id = %(order)s AND ((decision <> %(declined)s AND {is_declined}) "
            f"OR (%(approved)s AND decision = '' AND NOT (line_id IS NOT NULL AND {is_declined})))")


# --- declined work comes back --------------------------------------------------------------

REMINDER_BATCH = 100
REMINDER_MAX_BATCHES = 50
CAME_BACK_BY = "customer:declined-work-link"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def declined_work_remind(*, now: datetime | None = None, batch: int = REMINDER_BATCH,
                         max_batches: int = REMINDER_MAX_BATCHES) -> int:
    """E-mail the customers whose declined work is ``DECLINED_WORK_REMINDER_DAYS`` old, once per order.

    Pages through the orders (``batch`` at a time, by id, at most ``max_batches`` per run: the
    next run goes on); each order is its own transaction, locked with SKIP LOCKED so two beats
    never remind twice. Returns how many e-mails were sent.
    """
    now = now or timezone.now()
    due = now - timedelta(days=settings.DECLINED_WORK_REMINDER_DAYS)
    waiting = (DeclinedWork.objects.filter(reminded_at__isnull=True, came_back_in__isnull=True, declined_at__lte=due)
               .exclude(service_order__status=Status.CANCELLED))
    sent, after = 0, None
    for _ in range(max_batches):
        page = waiting if after is None else waiting.filter(service_order_id__gt=after)
        ids = list(page.order_by("service_order_id").values_list("service_order_id", flat=True)
                   .distinct()[:batch])
        if not ids:
            break
        for service_order_id in ids:
            try:
                sent += _remind_order(service_order_id, now=now, due=due)
            except (smtplib.SMTPException, OSError) as exc:  # this order waits for the next run; the others go on
                logger.warning("declined-work reminder of order %s not sent (next run retries): %s",
                               service_order_id, exc)
        after = ids[-1]
    return sent


@transaction.atomic
def _remind_order(service_order_id: Any, *, now: datetime, due: datetime) -> int:
    order = (ServiceOrder.objects.select_for_update(skip_locked=True).select_related("customer", "vehicle")
             .filter(pk=service_order_id).first())
    if order is None:  # another beat is reminding it right now
        return 0
    rows = order.declined_work.filter(reminded_at__isnull=True, came_back_in__isnull=True, declined_at__lte=due)
    if not rows.exists():
        return 0
    offer = DeclinedWorkOffer.objects.filter(service_order=order).first()
    sent = 0
    if offer is None and order.customer.email:
        token = secrets.token_urlsafe(32)
        offer = DeclinedWorkOffer.objects.create(
            service_order=order, token_hash=token_hash(token), sent_at=now,
            expires_at=now + timedelta(days=settings.DECLINED_WORK_LINK_DAYS))
        pending = list(order.declined_work.filter(came_back_in__isnull=True).order_by("line_id"))
        # Sent inside the transaction: a mail server that refuses rolls the reminder back for the next run.
        sent = int(declined_work_reminder_send(order=order, rows=pending, link=declined_work_url(token)))
    elif offer is None:
        logger.info("declined work of %s not reminded: the customer has no e-mail", order.number)
    # Work declined after the e-mail went out (an additional repair) joins the link already sent.
    rows.update(reminded_at=now)
    return sent


def declined_work_offer_get(token: str, *, now: datetime | None = None, for_update: bool = False) \
        -> DeclinedWorkOffer:
    """The offer a link's token opens; NotFound for an unknown token, LinkExpired once it expired."""
    if not is_tracking_code(token):
        raise NotFound("This link does not exist.")
    offers = DeclinedWorkOffer.objects.select_related("service_order", "service_order__customer",
                                                      "service_order__vehicle", "new_order")
    if for_update:
        offers = offers.select_for_update(of=("self",))
    offer = offers.filter(token_hash=token_hash(token)).first()
    if offer is None:
        raise NotFound("This link does not exist.")
    if offer.new_order_id is None and offer.expires_at <= (now or timezone.now()):
        raise LinkExpired("This link has expired.")
    return offer


@transaction.atomic
def declined_work_come_back(*, token: str, now: datetime | None = None) -> ServiceOrder:
    """The customer wants the declined work done: a new order, RECEIVED, pre-filled with it.

    Today's catalogue prices; what left the catalogue stays out, named in the complaint. The
    offer is locked, so repeating the POST (or two at once) opens one order and shows it again.
    """
    offer = declined_work_offer_get(token, now=now, for_update=True)
    if offer.new_order is not None:
        return offer.new_order
    old = offer.service_order
    rows = list(old.declined_work.filter(came_back_in__isnull=True).order_by("line_id"))
    active = {
        ItemKind.SERVICE: set(Service.objects.filter(active=True, pk__in=[r.catalog_id for r in rows
                                                                           if r.kind == ItemKind.SERVICE])
                              .values_list("pk", flat=True)),
        ItemKind.PART: set(Part.objects.filter(active=True, pk__in=[r.catalog_id for r in rows
                                                                     if r.kind == ItemKind.PART])
                           .values_list("pk", flat=True)),
    }
    kept = [r for r in rows if r.catalog_id in active[ItemKind(r.kind)]]
    left_out = [r.description for r in rows if r not in kept]
    complaint = f"Retorno de serviços recusados na OS {old.number}"
    if left_out:
        complaint += f". Fora do catálogo hoje (combinar com a oficina): {', '.join(left_out)}"
    order = service_order_create(
        customer_id=old.customer_id, vehicle_id=old.vehicle_id, complaint=complaint, priority=old.priority,
        items=[{"kind": r.kind, "catalog_id": r.catalog_id, "quantity": r.quantity, "job": r.job} for r in kept],
        by=CAME_BACK_BY)
    old.declined_work.filter(pk__in=[r.pk for r in rows]).update(came_back_in=order)
    offer.new_order = order
    offer.save(update_fields=["new_order"])
    return order
