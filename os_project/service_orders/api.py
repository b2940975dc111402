from __future__ import annotations

from typing import Any

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import actor_name
from core.openapi import error_responses
from core.permissions import IsFrontDesk, IsStaff, IsStaffOrCustomer, IsWorkshop
from customers.domain import first_name, mask_plate
from oficina_common.representation import represent, represent_all

from . import examples, selectors, services
from .domain import (
    JOB_DEFAULT,
    JOB_MAX,
    JOB_MIN,
    LABELS,
    PRIORITY_DEFAULT,
    PRIORITY_MAX,
    PRIORITY_MIN,
    STATUS_CHOICES,
    ItemKind,
    NextActionCode,
    Status,
    next_action,
)
from .links import tracking_url
from .models import DeclinedWork, ServiceOrder
from .serializers import (
    DeclinedWorkOutputSerializer,
    ItemOutputSerializer,
    PublicStatusHistoryOutputSerializer,
    StatusHistoryOutputSerializer,
    SummarySectionField,
    TotalsField,
    decision_totals,
)

TAG = "service-orders"


class ItemInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[k.value for k in ItemKind])
    catalog_id = serializers.IntegerField(min_value=1)
    quantity = serializers.IntegerField(min_value=1, max_value=1000)
    job = serializers.IntegerField(min_value=JOB_MIN, max_value=JOB_MAX, default=JOB_DEFAULT,
                                   help_text="Groups the lines of one job (a service and its parts); default 1.")


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
    approved_total_cents = serializers.SerializerMethodField(
        help_text="The items the customer approved (null until the budget is decided).")
    declined_total_cents = serializers.SerializerMethodField(
        help_text="Every line the customer declined, additional repairs included.")
    declined_work = DeclinedWorkOutputSerializer(many=True)

    class Meta(ServiceOrderOutputSerializer.Meta):
        fields = (*ServiceOrderOutputSerializer.Meta.fields, "diagnosis_notes", "items", "saga_id", "budget",
                  "payment", "execution", "approved_total_cents", "declined_total_cents", "declined_work",
                  "status_history", "tracking_url")

    def get_tracking_url(self, order: ServiceOrder) -> str:
        return tracking_url(order.tracking_code)

    def get_approved_total_cents(self, order: ServiceOrder) -> int | None:
        return decision_totals(order)["approved_total_cents"]

    def get_declined_total_cents(self, order: ServiceOrder) -> int:
        return decision_totals(order)["declined_total_cents"]


def _detail(order: ServiceOrder, *, code: int = status.HTTP_200_OK) -> Response:
    """The answer to a staff action: the order as the action left it (the caller may act on it, so
    may see it)."""
    return Response(represent(ServiceOrderDetailOutputSerializer, selectors.service_order_detail_of(order)),
                    status=code)


class ServiceOrderListCreateApi(GenericAPIView):
    """Active orders, most urgent status first (what changed since ``?updated_after=``: oldest change
    first); create an order (admins and attendants)."""

    serializer_class = ServiceOrderOutputSerializer
    filterset_class = selectors.ServiceOrderFilter
    # No ?ordering=: the order of the list is the contract's (status urgency, then age), and a feed
    # of changes follows them as they were made.
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

    @extend_schema(tags=[TAG], responses={200: ServiceOrderOutputSerializer(many=True), **error_responses(401, 403)},
                   examples=examples.LIST)
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(represent_all(ServiceOrderOutputSerializer, page))

    @extend_schema(tags=[TAG], request=InputSerializer,
                   responses={201: ServiceOrderDetailOutputSerializer, **error_responses(400, 401, 403)},
                   examples=examples.CREATE)
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = services.service_order_create(**serializer.validated_data, by=actor_name(request.user))
        return _detail(order, code=status.HTTP_201_CREATED)


class ServiceOrderDetailApi(APIView):
    """One order: items, totals, history and what the saga last told about its budget, payment and execution."""

    permission_classes = [IsStaffOrCustomer]

    @extend_schema(tags=[TAG], responses={200: ServiceOrderDetailOutputSerializer, **error_responses(401, 403, 404)},
                   examples=examples.DETAIL)
    def get(self, request: Request, service_order_id: str) -> Response:
        order = selectors.service_order_get(request.user, service_order_id)
        return Response(represent(ServiceOrderDetailOutputSerializer, order))


class ServiceOrderStartDiagnosisApi(APIView):
    """RECEIVED -> IN_DIAGNOSIS: a mechanic starts looking at the vehicle."""

    permission_classes = [IsWorkshop]

    @extend_schema(tags=[TAG], request=None,
                   responses={200: ServiceOrderDetailOutputSerializer, **error_responses(401, 403, 404, 409)},
                   examples=examples.START_DIAGNOSIS)
    def post(self, request: Request, service_order_id: str) -> Response:
        order = services.service_order_start_diagnosis(service_order_id=service_order_id,
                                                       by=actor_name(request.user))
        return _detail(order)


class ServiceOrderDiagnosisApi(APIView):
    """Submit the diagnosis: items get today's prices and the budget saga starts."""

    permission_classes = [IsWorkshop]

    @extend_schema_serializer(component_name="ServiceOrderDiagnosisInput")
    class InputSerializer(serializers.Serializer):
        items = ItemInputSerializer(many=True, required=False, max_length=100,
                                    help_text="Replaces the order's items; omit to keep what the customer asked.")
        notes = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")

    @extend_schema(tags=[TAG], request=InputSerializer,
                   responses={200: ServiceOrderDetailOutputSerializer, **error_responses(400, 401, 403, 404, 409)},
                   examples=examples.DIAGNOSIS)
    def post(self, request: Request, service_order_id: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = services.service_order_submit_diagnosis(
            service_order_id=service_order_id, items=serializer.validated_data.get("items", []),
            notes=serializer.validated_data["notes"], by=actor_name(request.user),
        )
        return _detail(order)


class ServiceOrderDeliverApi(APIView):
    """FINISHED -> DELIVERED: the vehicle is handed back to the customer (admins and attendants)."""

    permission_classes = [IsFrontDesk]

    @extend_schema(tags=[TAG], request=None,
                   responses={200: ServiceOrderDetailOutputSerializer, **error_responses(401, 403, 404, 409)},
                   examples=examples.DELIVER)
    def post(self, request: Request, service_order_id: str) -> Response:
        order = services.service_order_deliver(service_order_id=service_order_id, by=actor_name(request.user))
        return _detail(order)


class ServiceOrderCancelApi(APIView):
    """Cancel an order before it is FINISHED (admins and attendants), with the reason.

    When the budget saga has started, os.OrderCancelled tells it to compensate what it did: cancel the
    budget, release the reserved parts, cancel or refund the payment. The customer is e-mailed.
    """

    permission_classes = [IsFrontDesk]

    @extend_schema_serializer(component_name="ServiceOrderCancelInput")
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=1000)

    @extend_schema(tags=[TAG], request=InputSerializer,
                   responses={200: ServiceOrderDetailOutputSerializer, **error_responses(400, 401, 403, 404, 409)},
                   examples=examples.CANCEL)
    def post(self, request: Request, service_order_id: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = services.service_order_cancel(service_order_id=service_order_id,
                                              reason=serializer.validated_data["reason"],
                                              by=actor_name(request.user))
        return _detail(order)


@extend_schema_serializer(component_name="TrackingDeclinedWork")
class PublicDeclinedWorkSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[k.value for k in ItemKind])
    description = serializers.CharField()
    quantity = serializers.IntegerField()
    total_cents = serializers.IntegerField()


class VehicleDeclinedWorkApi(GenericAPIView):
    """The work declined on a vehicle, newest first, across its orders (staff): what to offer it again."""

    permission_classes = [IsStaff]
    serializer_class = DeclinedWorkOutputSerializer
    queryset = DeclinedWork.objects.none()  # for the schema; the rows come from the selector

    @extend_schema(tags=["vehicles"], responses={200: DeclinedWorkOutputSerializer(many=True),
                                                 **error_responses(401, 403, 404)},
                   examples=examples.VEHICLE_DECLINED_WORK)
    def get(self, request: Request, vehicle_id: int) -> Response:
        page = self.paginate_queryset(selectors.declined_work_of_vehicle(vehicle_id))
        return self.get_paginated_response(DeclinedWorkOutputSerializer(page, many=True).data)


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
            plate = serializers.SerializerMethodField(help_text="Partly masked, e.g. ABC••23.")

            def get_plate(self, vehicle: Any) -> str:
                return mask_plate(vehicle.plate)

        @extend_schema_serializer(component_name="TrackingNextAction")
        class NextActionSerializer(serializers.Serializer):
            code = serializers.ChoiceField(choices=[c.value for c in NextActionCode])
            text = serializers.CharField(help_text="In Portuguese, for the customer.")

        number = serializers.CharField()
        status = serializers.ChoiceField(choices=STATUS_CHOICES)
        status_label = serializers.SerializerMethodField()
        customer_first_name = serializers.SerializerMethodField()
        vehicle = VehicleSerializer()
        status_history = PublicStatusHistoryOutputSerializer(many=True)
        budget = SummarySectionField("budget")
        payment = SummarySectionField("payment", help_text=(
            "What the saga last said of the payment: status, amount_cents and payment_url (Billing's page to "
            "pay on, which shows the Pix as soon as it exists); once Billing has it, payment_id, qr_code (Pix "
            "copia e cola) and init_point."))
        execution = SummarySectionField("execution")
        next_action = serializers.SerializerMethodField()
        declined_work = serializers.SerializerMethodField(
            help_text="What the customer declined of this order (to book whenever they like).")
        created_at = serializers.DateTimeField()
        updated_at = serializers.DateTimeField(help_text="Changes whenever anything on the page does.")

        def get_status_label(self, order: ServiceOrder) -> str:
            return LABELS[Status(order.status)]

        @extend_schema_field(NextActionSerializer)
        def get_next_action(self, order: ServiceOrder) -> dict[str, str]:
            action = next_action(order.status, order.saga_summary)
            return {"code": action.code.value, "text": action.text}

        def get_customer_first_name(self, order: ServiceOrder) -> str:
            return first_name(order.customer.name)

        @extend_schema_field(PublicDeclinedWorkSerializer(many=True))
        def get_declined_work(self, order: ServiceOrder) -> list[dict[str, Any]]:
            return PublicDeclinedWorkSerializer(order.declined_work.all(), many=True).data

    @extend_schema(tags=["tracking"], auth=[], responses={200: OutputSerializer, **error_responses(404)},
                   examples=examples.TRACKING)
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

    @extend_schema(tags=["reports"], responses={200: OutputSerializer, **error_responses(401, 403)}, examples=[
        OpenApiExample("Averages", response_only=True, value={
            "per_status": [{"status": "RECEIVED", "average_seconds": 1800.0, "samples": 12},
                           {"status": "IN_EXECUTION", "average_seconds": 5400.0, "samples": 9}],
            "per_service": [{"catalog_id": 1, "name": "Troca de óleo", "average_execution_seconds": 2700.0,
                             "orders": 7}]}),
        examples.NOT_AUTHENTICATED, examples.WRONG_ROLE])
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(selectors.execution_time_report()).data)

