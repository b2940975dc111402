"""Use cases of the service order: the only code that changes an order's status or items."""
from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection, transaction
from django.utils import timezone

from catalog.models import Part, Service
from core.money import to_cents
from customers.models import Customer, Vehicle
from messaging import outbox
from notifications.services import status_change_notify_later
from oficina_common.errors import InvalidTransition, NotFound, ValidationFailed
from oficina_common.messages import Envelope

from .domain import (
    PRIORITY_DEFAULT,
    ItemKind,
    ItemLine,
    Status,
    ensure_transition,
    format_number,
    merge_summary,
)
from .links import tracking_url
from .models import ServiceOrder, ServiceOrderItem, StatusHistory

logger = logging.getLogger(__name__)

SAGA = "saga"
NUMBER_SEQUENCE = "service_order_number_seq"


def _next_number() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(%s)", [NUMBER_SEQUENCE])
        return format_number(cursor.fetchone()[0])


def _locked_order(service_order_id: Any) -> ServiceOrder:
    try:
        order = ServiceOrder.objects.select_for_update().filter(pk=service_order_id).first()
    except (ValueError, TypeError, DjangoValidationError):
        order = None
    if order is None:
        raise NotFound(f"There is no service order {service_order_id}.")
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
        lines.append(ItemLine(kind=kind, catalog_id=entry.pk, description=entry.name,
                              quantity=int(line["quantity"]), unit_price_cents=to_cents(price)))
    return lines


def _replace_items(order: ServiceOrder, lines: Sequence[ItemLine]) -> None:
    order.items.all().delete()
    ServiceOrderItem.objects.bulk_create(
        ServiceOrderItem(service_order=order, kind=line.kind.value, catalog_id=line.catalog_id,
                         description=line.description, quantity=line.quantity,
                         unit_price_cents=line.unit_price_cents)
        for line in lines
    )


def _record_status(order: ServiceOrder, previous: str, *, by: str, reason: str) -> StatusHistory:
    entry = StatusHistory.objects.create(service_order=order, from_status=previous, to_status=order.status,
                                         at=timezone.now(), by=by, reason=reason)
    status_change_notify_later(order.pk, order.status)
    return entry


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
    )
    _replace_items(order, lines)
    _record_status(order, "", by=by, reason="Order opened")
    return order


@transaction.atomic
def service_order_start_diagnosis(*, service_order_id: Any, by: str) -> ServiceOrder:
    order = _locked_order(service_order_id)
    _move(order, Status.IN_DIAGNOSIS, by=by, reason="Diagnosis started")
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
    if items:
        lines = snapshot_items(items)
        _replace_items(order, lines)
    else:
        lines = [ItemLine(kind=ItemKind(i.kind), catalog_id=i.catalog_id, description=i.description,
                          quantity=i.quantity, unit_price_cents=i.unit_price_cents) for i in order.items.all()]
    if not lines:
        raise ValidationFailed("A diagnosis needs at least one service or part to put in the budget.",
                               code="empty_diagnosis", extra={"field": "items"})
    order.saga_id = uuid.uuid4()
    order.diagnosis_notes = notes.strip()
    order.save(update_fields=["saga_id", "diagnosis_notes", "updated_at"])
    customer, vehicle = order.customer, order.vehicle
    outbox.publish(Envelope(
        type="os.DiagnosisCompleted",
        saga_id=str(order.saga_id),
        service_order_id=str(order.pk),
        payload={
            "order_number": order.number,
            "customer_id": str(customer.pk),
            "customer_name": customer.name,
            "customer_email": customer.email,
            "vehicle": {"plate": vehicle.plate, "model": f"{vehicle.brand} {vehicle.model}".strip()},
            "priority": order.priority,
            "items": [line.to_message() for line in lines],
            "notes": order.diagnosis_notes,
            "tracking_url": tracking_url(order.tracking_code),
        },
    ))
    return order


def service_orders_resend_unanswered_diagnoses() -> int:
    """Orders whose diagnosis the saga never answered (still IN_DIAGNOSIS once the saga should
    have asked for the budget): their ``os.DiagnosisCompleted`` is published again. A broker that
    loses everything loses it after the outbox marked it published; the saga starts once."""
    waiting = ServiceOrder.objects.filter(status=Status.IN_DIAGNOSIS, saga_id__isnull=False)
    ids = [str(pk) for pk in waiting.order_by("updated_at").values_list("pk", flat=True)[:500]]
    if not ids:
        return 0
    return outbox.resend_unanswered(
        message_type="os.DiagnosisCompleted", service_order_ids=ids,
        older_than=timedelta(seconds=settings.DIAGNOSIS_RESEND_AFTER_SECONDS),
        max_attempts=settings.DIAGNOSIS_RESEND_MAX_ATTEMPTS)


@transaction.atomic
def service_order_deliver(*, service_order_id: Any, by: str) -> ServiceOrder:
    order = _locked_order(service_order_id)
    _move(order, Status.DELIVERED, by=by, reason="Vehicle handed to the customer")
    return order


@transaction.atomic
def service_order_cancel(*, service_order_id: Any, reason: str, by: str) -> ServiceOrder:
    """Staff cancel an order; a running saga is told so it compensates what it did."""
    order = _locked_order(service_order_id)
    _move(order, Status.CANCELLED, by=by, reason=reason)
    if order.saga_id is not None:
        outbox.publish(Envelope(
            type="os.OrderCancelled",
            saga_id=str(order.saga_id),
            service_order_id=str(order.pk),
            payload={"reason": reason, "cancelled_by": by},
        ))
    return order


def service_order_apply_saga_status(*, service_order_id: Any, to: Any, reason: str = "",
                                    summary: Any = None) -> bool:
    """``os.ChangeStatus`` from the saga; runs inside the consumer's transaction.

    The same status only refreshes the summary; an illegal move is logged and dropped (returns False).
    """
    order = _locked_order(service_order_id)
    order.saga_summary = merge_summary(order.saga_summary or {}, summary)
    if to == order.status:
        order.save(update_fields=["saga_summary", "updated_at"])
        return True
    try:
        _move(order, str(to), by=SAGA, reason=str(reason or ""), also_saved=("saga_summary",))
    except InvalidTransition as exc:
        logger.warning("dropped os.ChangeStatus for %s: %s", order.number, exc.message)
        return False
    return True
