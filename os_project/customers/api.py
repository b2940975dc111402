from __future__ import annotations

from datetime import date
from typing import Any

from rest_framework import serializers

from core.api import ServiceCrudViewSet, crud_schema
from core.openapi import error_example, invalid
from core.permissions import IsFrontDesk, StaffReadsFrontDeskWrites

from . import selectors, services
from .domain import document_type, format_document
from .models import Customer, Vehicle


class CustomerInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    document = serializers.CharField(max_length=30, help_text="CPF or CNPJ (numeric, or alphanumeric as issued "
                                     "from July 2026), with or without punctuation, in any case.")
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    phone = serializers.RegexField(r"^[0-9+()\-\s]*$", required=False, allow_blank=True, max_length=30)


class CustomerOutputSerializer(serializers.ModelSerializer):
    document_type = serializers.SerializerMethodField()
    document_formatted = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = ("id", "name", "document", "document_type", "document_formatted", "email", "phone",
                  "created_at", "updated_at")

    def get_document_type(self, customer: Customer) -> str:
        return document_type(customer.document).value

    def get_document_formatted(self, customer: Customer) -> str:
        return format_document(customer.document)


CUSTOMER_REQUEST = {"name": "Maria da Silva", "document": "529.982.247-25", "email": "maria@example.com",
                    "phone": "(11) 99999-0000"}
CUSTOMER_RESPONSE = {"id": 1, "name": "Maria da Silva", "document": "52998224725", "document_type": "cpf",
                     "document_formatted": "529.982.247-25", "email": "maria@example.com", "phone": "(11) 99999-0000",
                     "created_at": "2025-03-10T12:00:00Z", "updated_at": "2025-03-10T12:00:00Z"}


@crud_schema(CustomerInputSerializer, CustomerOutputSerializer, tag="customers",
             request_example=CUSTOMER_REQUEST, response_example=CUSTOMER_RESPONSE, write_errors=[
                 invalid("document", "This CPF is not valid (check digits do not match).", code="invalid_document"),
                 invalid("email", "Enter a valid email address."),
                 error_example(409, "already_exists", "A customer with document 529.982.247-25 already exists.",
                               extra={"field": "document"}),
             ])
class CustomerViewSet(ServiceCrudViewSet):
    """Customers (admins and attendants)."""

    permission_classes = [IsFrontDesk]
    InputSerializer = CustomerInputSerializer
    OutputSerializer = CustomerOutputSerializer
    filterset_class = selectors.CustomerFilter
    ordering_fields = ("name", "created_at", "id")
    ordering = ("name", "id")

    def get_queryset(self):
        return selectors.customer_list()

    def perform_create(self, data: dict[str, Any]) -> Customer:
        return services.customer_create(**data)

    def perform_update(self, instance: Customer, data: dict[str, Any]) -> Customer:
        return services.customer_update(instance, **data)

    def perform_destroy(self, instance: Customer) -> None:
        services.customer_delete(instance)


class VehicleInputSerializer(serializers.Serializer):
    customer_id = serializers.IntegerField(min_value=1)
    plate = serializers.CharField(max_length=10, help_text="ABC1234 or Mercosul ABC1D23 (hyphen or space allowed).")
    brand = serializers.CharField(max_length=60)
    model = serializers.CharField(max_length=80)
    year = serializers.IntegerField(min_value=1900, max_value=date.today().year + 1)


class VehicleOutputSerializer(serializers.ModelSerializer):
    customer_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Vehicle
        fields = ("id", "customer_id", "plate", "brand", "model", "year", "created_at", "updated_at")


VEHICLE_REQUEST = {"customer_id": 1, "plate": "ABC-1D23", "brand": "Chevrolet", "model": "Onix", "year": 2020}
VEHICLE_RESPONSE = {"id": 1, "customer_id": 1, "plate": "ABC1D23", "brand": "Chevrolet", "model": "Onix",
                    "year": 2020, "created_at": "2025-03-10T12:05:00Z", "updated_at": "2025-03-10T12:05:00Z"}


@crud_schema(VehicleInputSerializer, VehicleOutputSerializer, tag="vehicles",
             request_example=VEHICLE_REQUEST, response_example=VEHICLE_RESPONSE, write_errors=[
                 invalid("plate", "The plate must look like ABC1234 or, Mercosul, ABC1D23.", code="invalid_plate"),
                 error_example(409, "already_exists", "A vehicle with plate ABC1D23 already exists.",
                               extra={"field": "plate"}),
             ])
class VehicleViewSet(ServiceCrudViewSet):
    """Vehicles (every staff member reads; admins and attendants write)."""

    permission_classes = [StaffReadsFrontDeskWrites]
    InputSerializer = VehicleInputSerializer
    OutputSerializer = VehicleOutputSerializer
    filterset_class = selectors.VehicleFilter
    ordering_fields = ("plate", "year", "created_at", "id")
    ordering = ("plate",)

    def get_queryset(self):
        return selectors.vehicle_list()

    def perform_create(self, data: dict[str, Any]) -> Vehicle:
        return services.vehicle_create(**data)

    def perform_update(self, instance: Vehicle, data: dict[str, Any]) -> Vehicle:
        return services.vehicle_update(instance, **data)

    def perform_destroy(self, instance: Vehicle) -> None:
        services.vehicle_delete(instance)
