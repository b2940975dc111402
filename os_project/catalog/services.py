"""Use cases for the catalogue and the stock: the only code that writes them."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import F

from core.errors import unique_or_conflict, unless_in_use
from oficina_common.errors import AlreadyExists, NotFound, ValidationFailed

from .domain import PartLine, Shortage, StockOutcome
from .models import Part, PartReservation, Service, StockEntry

# Well inside PostgreSQL's integer column.
MAX_STOCK = 1_000_000_000


def service_create(**fields: Any) -> Service:
    return Service.objects.create(**fields)


def service_update(service: Service, **changes: Any) -> Service:
    for field, value in changes.items():
        setattr(service, field, value)
    service.save()
    return service


def service_delete(service: Service) -> None:
    service.delete()


def _ensure_sku_free(sku: str, *, exclude_id: int | None = None) -> None:
    if Part.objects.filter(sku=sku).exclude(pk=exclude_id).exists():
        raise AlreadyExists(f"A part with SKU {sku} already exists.", extra={"field": "sku"})


@transaction.atomic
def part_create(*, sku: str, name: str, unit_price: Any, minimum_stock: int = 0, active: bool = True,
                may_decline_alone: bool = False, quantity_in_stock: int = 0, by: str = "") -> Part:
    sku = sku.strip().upper()
    _ensure_sku_free(sku)
    with unique_or_conflict(f"A part with SKU {sku} already exists.", field="sku"):
        part = Part.objects.create(sku=sku, name=name.strip(), unit_price=unit_price,
                                   minimum_stock=minimum_stock, active=active,
                                   may_decline_alone=may_decline_alone)
    if quantity_in_stock:
        stock_entry_add(part_id=part.pk, quantity=quantity_in_stock, note="Initial stock", by=by)
        part.refresh_from_db()
    return part


def part_update(part: Part, **changes: Any) -> Part:
    if "sku" in changes:
        changes["sku"] = changes["sku"].strip().upper()
        _ensure_sku_free(changes["sku"], exclude_id=part.pk)
    if "quantity_in_stock" in changes:
        # Stock moves only through stock entries and reservations, never by editing the numbers.
        raise ValidationFailed("quantity_in_stock changes only through parts/{id}/stock-entries/.",
                               extra={"field": "quantity_in_stock"})
    for field, value in changes.items():
        setattr(part, field, value)
    with unique_or_conflict("A part with this SKU already exists.", field="sku"):
        part.save(update_fields=[*changes, "updated_at"])
    return part


def part_delete(part: Part) -> None:
    with unless_in_use(f"Part {part.sku} has stock history or reservations; deactivate it instead."):
        part.delete()


@transaction.atomic
def stock_entry_add(*, part_id: int, quantity: int, note: str = "", by: str = "") -> StockEntry:
    part = Part.objects.select_for_update().filter(pk=part_id).first()
    if part is None:
        raise NotFound(f"There is no part {part_id}.")
    if part.quantity_in_stock + quantity > MAX_STOCK:
        raise ValidationFailed(f"Part {part.sku} cannot hold more than {MAX_STOCK} units.",
                               extra={"field": "quantity"})
    Part.objects.filter(pk=part.pk).update(quantity_in_stock=F("quantity_in_stock") + quantity)
    return StockEntry.objects.create(part=part, quantity=quantity, note=note, created_by=by)


def _order_status(service_order_id: str) -> str | None:
    from service_orders.models import ServiceOrder

    try:
        # get(), not first(): by its key, with no ORDER BY (as the locked read in service_orders).
        return ServiceOrder.objects.filter(pk=service_order_id).values_list("status", flat=True).get()
    except (ValueError, DjangoValidationError, ServiceOrder.DoesNotExist):
        return None


def _lock_parts(part_ids: Sequence[int]) -> dict[int, Part]:
    # Locks in ascending id order, always: two orders never wait on each other in a cycle.
    return {part.pk: part for part in Part.objects.select_for_update().filter(pk__in=part_ids).order_by("pk")}


# The saga's commands call the three below inside the consumer's transaction, where any error
# undoes everything (the inbox row too: the command comes again whole). A savepoint of their own
# would be two round trips to PostgreSQL for a partial rollback nobody asks for.
@transaction.atomic(savepoint=False)
def parts_reserve(*, service_order_id: str, lines: Sequence[PartLine]) -> StockOutcome:
    """All or nothing: every line is reserved for the order, or none is and the shortages are told.
    ``lines``: one per part, as ``domain.part_lines`` makes them (each is checked and held whole)."""
    status = _order_status(service_order_id)
    if status is None:
        return StockOutcome(reason=f"There is no service order {service_order_id}.")
    if status == "CANCELLED":
        return StockOutcome(reason="The service order is cancelled.")
    if not lines:
        return StockOutcome(parts=[])
    lines = sorted(lines, key=lambda line: line.part_id)
    parts = _lock_parts([line.part_id for line in lines])
    missing = []
    for line in lines:
        part = parts.get(line.part_id)
        available = part.quantity_available if part is not None and part.active else 0
        if available < line.quantity:
            missing.append(Shortage(part_id=line.part_id, requested=line.quantity, available=max(available, 0)))
    if missing:
        return StockOutcome(missing=missing, reason="Not enough stock for every part.")
    for line in lines:
        Part.objects.filter(pk=line.part_id).update(quantity_reserved=F("quantity_reserved") + line.quantity)
    # Every writer of a reservation holds its part's lock (taken above), so what this read finds
    # stays true until the commit: the new rows go in one INSERT, the held ones are added to.
    held = dict(PartReservation.objects.filter(service_order_id=service_order_id,
                                               part_id__in=[line.part_id for line in lines])
                .values_list("part_id", "pk"))
    PartReservation.objects.bulk_create([PartReservation(service_order_id=service_order_id, part_id=line.part_id,
                                                         reserved=line.quantity)
                                         for line in lines if line.part_id not in held])
    for line in lines:
        if line.part_id in held:
            PartReservation.objects.filter(pk=held[line.part_id]).update(reserved=F("reserved") + line.quantity)
    return StockOutcome(parts=list(lines))


def _held_reservations(service_order_id: str, lines: Sequence[PartLine]) -> tuple[dict[int, int], list[Any]]:
    """Lock the order's reservations (parts first, in id order) and say how much of each to move."""
    try:
        candidates = PartReservation.objects.filter(service_order_id=service_order_id)
        if lines:
            candidates = candidates.filter(part_id__in=[line.part_id for line in lines])
        part_ids = sorted(candidates.values_list("part_id", flat=True))
    except (ValueError, DjangoValidationError):
        return {}, []
    _lock_parts(part_ids)
    reservations = list(PartReservation.objects.select_for_update()
                        .filter(service_order_id=service_order_id, part_id__in=part_ids).order_by("part_id"))
    requested = {line.part_id: line.quantity for line in lines}
    amounts = {}
    for reservation in reservations:
        wanted = requested.get(reservation.part_id, reservation.held) if lines else reservation.held
        amount = min(wanted, reservation.held)
        if amount > 0:
            amounts[reservation.part_id] = amount
    return amounts, reservations


@transaction.atomic(savepoint=False)
def parts_release(*, service_order_id: str, lines: Sequence[PartLine]) -> StockOutcome:
    """Give back what this order still holds of these parts (all it holds when ``lines`` is empty).

    What was already released or consumed is not released again, whatever message asks.
    """
    amounts, reservations = _held_reservations(service_order_id, lines)
    for reservation in reservations:
        amount = amounts.get(reservation.part_id, 0)
        if amount:
            Part.objects.filter(pk=reservation.part_id).update(quantity_reserved=F("quantity_reserved") - amount)
            PartReservation.objects.filter(pk=reservation.pk).update(released=F("released") + amount)
    return StockOutcome(parts=[PartLine(part_id, amount) for part_id, amount in sorted(amounts.items())])


@transaction.atomic(savepoint=False)
def parts_consume(*, service_order_id: str, lines: Sequence[PartLine]) -> StockOutcome:
    """The work used the reserved parts: they leave the stock (reserved and in-stock both go down)."""
    amounts, reservations = _held_reservations(service_order_id, lines)
    for reservation in reservations:
        amount = amounts.get(reservation.part_id, 0)
        if amount:
            Part.objects.filter(pk=reservation.part_id).update(
                quantity_reserved=F("quantity_reserved") - amount,
                quantity_in_stock=F("quantity_in_stock") - amount,
            )
            PartReservation.objects.filter(pk=reservation.pk).update(consumed=F("consumed") + amount)
    return StockOutcome(parts=[PartLine(part_id, amount) for part_id, amount in sorted(amounts.items())])
