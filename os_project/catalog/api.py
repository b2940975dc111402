from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core.actors import actor_name
from core.api import ServiceCrudViewSet, crud_schema
from core.openapi import error_responses, invalid
from core.permissions import StaffReadsFrontDeskWrites

from . import selectors, services
from .models import Part, Service, StockEntry

MONEY = {"max_digits": 10, "decimal_places": 2, "min_value": Decimal("0")}
STOCK_ENTRY = {"id": 7, "part_id": 1, "quantity": 10, "note": "NF 1234", "created_by": "ana",
               "created_at": "2025-03-10T12:00:00Z"}


class ServiceInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    price = serializers.DecimalField(**MONEY, help_text="BRL, e.g. \"149.90\".")
    estimated_minutes = serializers.IntegerField(min_value=1, max_value=100_000, required=False)
    active = serializers.BooleanField(required=False)


class ServiceOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Service
        fields = ("id", "name", "description", "price", "estimated_minutes", "active", "created_at", "updated_at")


@crud_schema(ServiceInputSerializer, ServiceOutputSerializer, tag="catalog",
             request_example={"name": "Troca de óleo", "description": "Óleo 5W30 sintético e filtro.",
                              "price": "149.90", "estimated_minutes": 40, "active": True},
             response_example={"id": 1, "name": "Troca de óleo", "description": "Óleo 5W30 sintético e filtro.",
                               "price": "149.90", "estimated_minutes": 40, "active": True,
                               "created_at": "2025-03-10T12:00:00Z", "updated_at": "2025-03-10T12:00:00Z"})
class ServiceViewSet(ServiceCrudViewSet):
    """The services the workshop offers (staff read; admins and attendants write)."""

    permission_classes = [StaffReadsFrontDeskWrites]
    InputSerializer = ServiceInputSerializer
    OutputSerializer = ServiceOutputSerializer
    filterset_class = selectors.ServiceFilter
    ordering_fields = ("name", "price", "estimated_minutes", "id")
    ordering = ("name", "id")

    def get_queryset(self):
        return selectors.service_list()

    def perform_create(self, data: dict[str, Any]) -> Service:
        return services.service_create(**data)

    def perform_update(self, instance: Service, data: dict[str, Any]) -> Service:
        return services.service_update(instance, **data)

    def perform_destroy(self, instance: Service) -> None:
        services.service_delete(instance)


class PartInputSerializer(serializers.Serializer):
    sku = serializers.RegexField(r"^[A-Za-z0-9._\-]+$", max_length=40)
    name = serializers.CharField(max_length=120)
    unit_price = serializers.DecimalField(**MONEY)
    minimum_stock = serializers.IntegerField(min_value=0, max_value=1_000_000, required=False)
    active = serializers.BooleanField(required=False)
    may_decline_alone = serializers.BooleanField(
        required=False, help_text="The customer may decline this part alone and keep its job (default false).")
    quantity_in_stock = serializers.IntegerField(
        min_value=0, max_value=1_000_000, required=False,
        help_text="Only when creating: the initial stock (recorded as a stock entry). "
                  "Afterwards stock changes through stock-entries/.",
    )


class PartOutputSerializer(serializers.ModelSerializer):
    quantity_available = serializers.IntegerField(read_only=True)

    class Meta:
        model = Part
        fields = ("id", "sku", "name", "unit_price", "quantity_in_stock", "quantity_reserved", "quantity_available",
                  "minimum_stock", "active", "may_decline_alone", "created_at", "updated_at")


class StockEntryInputSerializer(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)
    note = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class StockEntryOutputSerializer(serializers.ModelSerializer):
    part_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = StockEntry
        fields = ("id", "part_id", "quantity", "note", "created_by", "created_at")


@crud_schema(PartInputSerializer, PartOutputSerializer, tag="catalog",
             request_example={"sku": "PASTILHA-DIANT", "name": "Pastilha de freio dianteira", "unit_price": "89.90",
                              "minimum_stock": 2, "quantity_in_stock": 10},
             response_example={"id": 1, "sku": "PASTILHA-DIANT", "name": "Pastilha de freio dianteira",
                               "unit_price": "89.90", "quantity_in_stock": 10, "quantity_reserved": 1,
                               "quantity_available": 9, "minimum_stock": 2, "active": True,
                               "may_decline_alone": False,
                               "created_at": "2025-03-10T12:00:00Z",
                               "updated_at": "2025-03-10T12:00:00Z"})
class PartViewSet(ServiceCrudViewSet):
    """Parts and their stock (staff read; admins and attendants write)."""

    permission_classes = [StaffReadsFrontDeskWrites]
    InputSerializer = PartInputSerializer
    OutputSerializer = PartOutputSerializer
    filterset_class = selectors.PartFilter
    ordering_fields = ("name", "sku", "unit_price", "quantity_in_stock", "id")
    ordering = ("name", "id")

    def get_queryset(self):
        return selectors.part_list()

    def get_serializer_class(self):
        if getattr(self, "action", None) == "stock_entries":
            is_write = self.request is not None and self.request.method == "POST"
            return StockEntryInputSerializer if is_write else StockEntryOutputSerializer
        return super().get_serializer_class()

    def perform_create(self, data: dict[str, Any]) -> Part:
        return services.part_create(**data, by=actor_name(self.request.user))

    def perform_update(self, instance: Part, data: dict[str, Any]) -> Part:
        return services.part_update(instance, **data)

    def perform_destroy(self, instance: Part) -> None:
        services.part_delete(instance)

    @extend_schema(tags=["catalog"], methods=["GET"], responses=StockEntryOutputSerializer(many=True),
                   examples=[OpenApiExample("Stock received", response_only=True, value=STOCK_ENTRY)])
    @extend_schema(tags=["catalog"], methods=["POST"], request=StockEntryInputSerializer,
                   responses={201: StockEntryOutputSerializer, **error_responses(400, 401, 403, 404)}, examples=[
                       OpenApiExample("Ten units arrived", request_only=True,
                                      value={"quantity": 10, "note": "NF 1234"}),
                       OpenApiExample("Recorded", response_only=True, status_codes=["201"], value=STOCK_ENTRY),
                       invalid("quantity", "Ensure this value is greater than or equal to 1."),
                   ])
    @action(detail=True, methods=["get", "post"], url_path="stock-entries", filterset_class=None,
            ordering_fields=("created_at", "id"))
    def stock_entries(self, request: Request, pk: str | None = None) -> Response:
        """Stock received for this part; POST adds stock."""
        part = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(selectors.stock_entries_of(part))
            return self.get_paginated_response(StockEntryOutputSerializer(page, many=True).data)
        serializer = StockEntryInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        entry = services.stock_entry_add(part_id=part.pk, by=actor_name(request.user), **serializer.validated_data)
        return Response(StockEntryOutputSerializer(entry).data, status=status.HTTP_201_CREATED)
