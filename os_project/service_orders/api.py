from __future__ import annotations

from typing import Any

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import actor_name
from core.permissions import IsFrontDesk, IsStaff, IsStaffOrCustomer, IsWorkshop
from customers.domain import first_name

from . import selectors, services
from .domain import LABELS, PRIORITY_DEFAULT, PRIORITY_MAX, PRIORITY_MIN, STATUS_CHOICES, ItemKind, Status
from .links import tracking_url
from .models import ServiceOrder
from .serializers import (
    ItemOutputSerializer,
    PublicStatusHistoryOutputSerializer,
    StatusHistoryOutputSerializer,
    SummarySectionField,
    TotalsField,
)

TAG = "service-orders"


class ItemInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[k.value for k in ItemKind])
    catalog_id = serializers.IntegerField(min_value=1)
    quantity = serializers.IntegerField(min_value=1, max_value=1000)


class CustomerRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class VehicleRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    plate = serializers.CharField()
    brand = serializers.CharField()
    model = serializers.CharField()
    year = serializers.IntegerField()


class ServiceOrderOutputSerializer(serializers.ModelSerializer):
    status_label = serializers.SerializerMethodField()
    customer = CustomerRefSerializer()
    vehicle = VehicleRefSerializer()
    totals = TotalsField()

    class Meta:
        model = ServiceOrder
        fields = ("id", "number", "status", "status_label", "priority", "customer", "vehicle", "complaint",
                  "tracking_code", "totals", "created_at", "updated_at")

    def get_status_label(self, order: ServiceOrder) -> str:
        return LABELS[Status(order.status)]


class ServiceOrderDetailOutputSerializer(ServiceOrderOutputSerializer):
    items = ItemOutputSerializer(many=True)
    status_history = StatusHistoryOutputSerializer(many=True)
    tracking_url = serializers.SerializerMethodField()
    budget = SummarySectionField("budget")
    payment = SummarySectionField("payment")
    execution = SummarySectionField("execution")

    class Meta(ServiceOrderOutputSerializer.Meta):
        fields = (*ServiceOrderOutputSerializer.Meta.fields, "diagnosis_notes", "items", "saga_id", "budget",
                  "payment", "execution", "status_history", "tracking_url")

    def get_tracking_url(self, order: ServiceOrder) -> str:
        return tracking_url(order.tracking_code)


def _detail(request: Request, order: ServiceOrder, *, code: int = status.HTTP_200_OK) -> Response:
    fresh = selectors.service_order_get(request.user, order.pk)
    return Response(ServiceOrderDetailOutputSerializer(fresh).data, status=code)


class ServiceOrderListCreateApi(GenericAPIView):
    """Active orders, most urgent status first; create an order (admins and attendants)."""

    serializer_class = ServiceOrderOutputSerializer
    filterset_class = selectors.ServiceOrderFilter
    # No ?ordering=: the order of the list is the contract's (status urgency, then age).
    filter_backends = [DjangoFilterBackend]

    @extend_schema_serializer(component_name="ServiceOrderCreateInput")
    class InputSerializer(serializers.Serializer):
        customer_id = serializers.IntegerField(min_value=1)
        vehicle_id = serializers.IntegerField(min_value=1)
        complaint = serializers.CharField(max_length=5000)
        priority = serializers.IntegerField(min_value=PRIORITY_MIN, max_value=PRIORITY_MAX,
                                            default=PRIORITY_DEFAULT, help_text="1 low … 5 urgent.")
        items = ItemInputSerializer(many=True, required=False, max_length=100)

    def get_permissions(self) -> list[Any]:
        return [IsFrontDesk()] if self.request.method == "POST" else [IsStaffOrCustomer()]

    def get_queryset(self):
        return selectors.service_order_list(self.request.user)

    def get_serializer_class(self):
        return self.InputSerializer if self.request and self.request.method == "POST" else ServiceOrderOutputSerializer

    @extend_schema(tags=[TAG], responses=ServiceOrderOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(ServiceOrderOutputSerializer(page, many=True).data)

    @extend_schema(tags=[TAG], request=InputSerializer, responses={201: ServiceOrderDetailOutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = services.service_order_create(**serializer.validated_data, by=actor_name(request.user))
        return _detail(request, order, code=status.HTTP_201_CREATED)


class ServiceOrderDetailApi(APIView):
    permission_classes = [IsStaffOrCustomer]

    @extend_schema(tags=[TAG], responses=ServiceOrderDetailOutputSerializer)
    def get(self, request: Request, service_order_id: str) -> Response:
        order = selectors.service_order_get(request.user, service_order_id)
        return Response(ServiceOrderDetailOutputSerializer(order).data)


class ServiceOrderStartDiagnosisApi(APIView):
    permission_classes = [IsWorkshop]

    @extend_schema(tags=[TAG], request=None, responses=ServiceOrderDetailOutputSerializer)
    def post(self, request: Request, service_order_id: str) -> Response:
        order = services.service_order_start_diagnosis(service_order_id=service_order_id,
                                                       by=actor_name(request.user))
        return _detail(request, order)


class ServiceOrderDiagnosisApi(APIView):
    """Submit the diagnosis: items get today's prices and the budget saga starts."""

    permission_classes = [IsWorkshop]

    @extend_schema_serializer(component_name="ServiceOrderDiagnosisInput")
    class InputSerializer(serializers.Serializer):
        items = ItemInputSerializer(many=True, required=False, max_length=100,
                                    help_text="Replaces the order's items; omit to keep what the customer asked.")
        notes = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")

    @extend_schema(tags=[TAG], request=InputSerializer, responses=ServiceOrderDetailOutputSerializer)
    def post(self, request: Request, service_order_id: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = services.service_order_submit_diagnosis(
            service_order_id=service_order_id, items=serializer.validated_data.get("items", []),
            notes=serializer.validated_data["notes"], by=actor_name(request.user),
        )
        return _detail(request, order)


class ServiceOrderDeliverApi(APIView):
    permission_classes = [IsFrontDesk]

    @extend_schema(tags=[TAG], request=None, responses=ServiceOrderDetailOutputSerializer)
    def post(self, request: Request, service_order_id: str) -> Response:
        order = services.service_order_deliver(service_order_id=service_order_id, by=actor_name(request.user))
        return _detail(request, order)


class ServiceOrderCancelApi(APIView):
    permission_classes = [IsFrontDesk]

    @extend_schema_serializer(component_name="ServiceOrderCancelInput")
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=1000)

    @extend_schema(tags=[TAG], request=InputSerializer, responses=ServiceOrderDetailOutputSerializer)
    def post(self, request: Request, service_order_id: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = services.service_order_cancel(service_order_id=service_order_id,
                                              reason=serializer.validated_data["reason"],
                                              by=actor_name(request.user))
        return _detail(request, order)


class TrackingDetailApi(APIView):
    """Public: where an order is, for whoever holds its tracking code. No personal data."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="TrackingOutput")
    class OutputSerializer(serializers.Serializer):
        @extend_schema_serializer(component_name="TrackingVehicle")
        class VehicleSerializer(serializers.Serializer):
            brand = serializers.CharField()
            model = serializers.CharField()
            year = serializers.IntegerField()
            plate = serializers.CharField()

        number = serializers.CharField()
        status = serializers.ChoiceField(choices=STATUS_CHOICES)
        status_label = serializers.SerializerMethodField()
        customer_first_name = serializers.SerializerMethodField()
        vehicle = VehicleSerializer()
        status_history = PublicStatusHistoryOutputSerializer(many=True)
        budget = SummarySectionField("budget")
        payment = SummarySectionField("payment")
        execution = SummarySectionField("execution")
        created_at = serializers.DateTimeField()

        def get_status_label(self, order: ServiceOrder) -> str:
            return LABELS[Status(order.status)]

        def get_customer_first_name(self, order: ServiceOrder) -> str:
            return first_name(order.customer.name)

    @extend_schema(tags=["tracking"], auth=[], responses=OutputSerializer)
    def get(self, request: Request, tracking_code: str) -> Response:
        order = selectors.service_order_by_tracking_code(tracking_code)
        return Response(self.OutputSerializer(order).data)


class ExecutionTimeReportApi(APIView):
    """Average seconds spent in each status, and in execution per catalogue service (staff)."""

    permission_classes = [IsStaff]

    @extend_schema_serializer(component_name="ExecutionTimeReport")
    class OutputSerializer(serializers.Serializer):
        @extend_schema_serializer(component_name="ExecutionTimePerStatus")
        class PerStatusSerializer(serializers.Serializer):
            status = serializers.ChoiceField(choices=STATUS_CHOICES)
            average_seconds = serializers.FloatField()
            samples = serializers.IntegerField(help_text="How many completed stays in this status were measured.")

        @extend_schema_serializer(component_name="ExecutionTimePerService")
        class PerServiceSerializer(serializers.Serializer):
            catalog_id = serializers.IntegerField()
            name = serializers.CharField()
            average_execution_seconds = serializers.FloatField()
            orders = serializers.IntegerField()

        per_status = PerStatusSerializer(many=True)
        per_service = PerServiceSerializer(many=True)

    @extend_schema(tags=["reports"], responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(selectors.execution_time_report()).data)

