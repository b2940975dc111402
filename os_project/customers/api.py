from __future__ import annotations

from datetime import date
from typing import Any

from rest_framework import serializers

from core.api import ServiceCrudViewSet, crud_schema
from core.permissions import IsFrontDesk, StaffReadsFrontDeskWrites

from . import selectors, services
from .domain import document_type
from .models import Customer, Vehicle


class CustomerInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    document = serializers.CharField(max_length=30, help_text="CPF or CNPJ, with or without punctuation.")
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    phone = serializers.RegexField(r"^[0-9+()\-\s]*$", required=False, allow_blank=True, max_length=30)


class CustomerOutputSerializer(serializers.ModelSerializer):
    document_type = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = ("id", "name", "document", "document_type", "email", "phone", "created_at", "updated_at")

    def get_document_type(self, customer: Customer) -> str:
        return document_type(customer.document).value


@crud_schema(CustomerInputSerializer, CustomerOutputSerializer, tag="customers")
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


@crud_schema(VehicleInputSerializer, VehicleOutputSerializer, tag="vehicles")
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
