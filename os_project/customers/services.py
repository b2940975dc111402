"""Use cases for customers and vehicles: the only code that writes them."""
from __future__ import annotations

from typing import Any

from core.errors import unique_or_conflict, unless_in_use
from oficina_common.errors import AlreadyExists, ValidationFailed

from .domain import format_document, normalize_document, normalize_plate
from .models import Customer, Vehicle


def _ensure_document_free(document: str, *, exclude_id: int | None = None) -> None:
    clash = Customer.objects.filter(document=document).exclude(pk=exclude_id)
    if clash.exists():
        raise AlreadyExists(f"A customer with document {format_document(document)} already exists.",
                            extra={"field": "document"})


def _ensure_plate_free(plate: str, *, exclude_id: int | None = None) -> None:
    if Vehicle.objects.filter(plate=plate).exclude(pk=exclude_id).exists():
        raise AlreadyExists(f"A vehicle with plate {plate} already exists.", extra={"field": "plate"})


def customer_create(*, name: str, document: str, email: str = "", phone: str = "") -> Customer:
    document = normalize_document(document)
    _ensure_document_free(document)
    customer = Customer(name=name.strip(), document=document, email=email.strip().lower(), phone=phone.strip())
    # Someone may register the same document a moment ago.
    with unique_or_conflict(f"A customer with document {format_document(document)} already exists.",
                            field="document"):
        customer.save()
    return customer


def customer_update(customer: Customer, **changes: Any) -> Customer:
    if "document" in changes:
        changes["document"] = normalize_document(changes["document"])
        _ensure_document_free(changes["document"], exclude_id=customer.pk)
    if "name" in changes:
        changes["name"] = changes["name"].strip()
    if "email" in changes:
        changes["email"] = changes["email"].strip().lower()
    for field, value in changes.items():
        setattr(customer, field, value)
    with unique_or_conflict("A customer with this document already exists.", field="document"):
        customer.save()
    return customer


def customer_delete(customer: Customer) -> None:
    with unless_in_use("This customer has vehicles or service orders and cannot be deleted."):
        customer.delete()


def _customer(customer_id: int) -> Customer:
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise ValidationFailed(f"There is no customer with id {customer_id}.", extra={"field": "customer_id"})
    return customer


def vehicle_create(*, customer_id: int, plate: str, brand: str, model: str, year: int) -> Vehicle:
    customer = _customer(customer_id)
    plate = normalize_plate(plate)
    _ensure_plate_free(plate)
    vehicle = Vehicle(customer=customer, plate=plate, brand=brand.strip(), model=model.strip(), year=year)
    with unique_or_conflict(f"A vehicle with plate {plate} already exists.", field="plate"):
        vehicle.save()
    return vehicle


def vehicle_update(vehicle: Vehicle, **changes: Any) -> Vehicle:
    if "customer_id" in changes:
        vehicle.customer = _customer(changes.pop("customer_id"))
    if "plate" in changes:
        changes["plate"] = normalize_plate(changes["plate"])
        _ensure_plate_free(changes["plate"], exclude_id=vehicle.pk)
    for field, value in changes.items():
        setattr(vehicle, field, value.strip() if isinstance(value, str) else value)
    with unique_or_conflict("A vehicle with this plate already exists.", field="plate"):
        vehicle.save()
    return vehicle


def vehicle_delete(vehicle: Vehicle) -> None:
    with unless_in_use("This vehicle has service orders and cannot be deleted."):
        vehicle.delete()
