"""HTTP API of the Execution service (``/api/v1/``): the sagas and the mechanics' work queue."""
from __future__ import annotations

import re
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from oficina_common.auth import ADMIN, HasRole, IsMechanic, IsStaffOrCustomer
from oficina_common.dynamodb import Page
from oficina_common.errors import NotFound, ValidationFailed
from oficina_common.limits import StoredTextField
from oficina_common.representation import represent, represent_all
from oficina_common.schema import ErrorSerializer, PageTokenField

from . import examples, selectors, services
from .domain import JobStatus, SagaInstance, SagaStatus
from .saga import STEP_NAMES
from .wiring import get_dependencies

_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _checked_id(value: str, what: str) -> str:
    # Ids that cannot exist never reach DynamoDB (which would reject an oversized key with a 500).
    if not _ID.match(value):
        raise NotFound(f"{what} {value[:64]} not found.", code=f"{what.lower()}_not_found")
    return value


ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input."),
    401: OpenApiResponse(ErrorSerializer, description="No or invalid token."),
    403: OpenApiResponse(ErrorSerializer, description="The role may not do this."),
    404: OpenApiResponse(ErrorSerializer, description="Not found (or not yours)."),
}
CONFLICT = {409: OpenApiResponse(ErrorSerializer, description="The job is not in a status that allows this.")}


class PageInputSerializer(serializers.Serializer):
    page_size = serializers.IntegerField(min_value=1, max_value=100, default=20)
    page_token = PageTokenField(allow_blank=True)


def _page(request: Request, page: Page, rows: list[dict[str, Any]]) -> dict[str, Any]:
    next_url = None
    if page.next_token:
        query = request.query_params.copy()
        query["page_token"] = page.next_token
        next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
    return {"results": rows, "next_page_token": page.next_token, "next": next_url}


def _page_serializer(name: str, row: type[serializers.Serializer]) -> type[serializers.Serializer]:
    return type(name, (serializers.Serializer,), {
        "results": row(many=True),
        "next_page_token": serializers.CharField(allow_null=True),
        "next": serializers.URLField(allow_null=True),
    })


# --- executions ------------------------------------------------------------------------------
class StepOutputSerializer(serializers.Serializer):
    step_number = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    started_at = serializers.CharField(allow_null=True)
    finished_at = serializers.CharField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class BudgetOutputSerializer(serializers.Serializer):
    budget_id = serializers.CharField()
    version = serializers.IntegerField()
    status = serializers.CharField()
    total_cents = serializers.IntegerField()
    expires_at = serializers.CharField(allow_null=True)


class PaymentOutputSerializer(serializers.Serializer):
    payment_id = serializers.CharField(allow_null=True)
    purpose = serializers.CharField()
    budget_version = serializers.IntegerField()
    amount_cents = serializers.IntegerField()
    status = serializers.CharField()
    qr_code = serializers.CharField(allow_null=True)
    init_point = serializers.CharField(allow_null=True)
    mercadopago_payment_id = serializers.CharField(allow_null=True)


class PartLineSerializer(serializers.Serializer):
    catalog_id = serializers.CharField()
    quantity = serializers.IntegerField()


class RevisionOutputSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    status = serializers.CharField()
    queue_id = serializers.CharField()
    items = serializers.ListField(child=serializers.DictField())
    notes = serializers.CharField(allow_blank=True)
    budget_version = serializers.IntegerField(allow_null=True)
    additional_total_cents = serializers.IntegerField(allow_null=True)
    parts_status = serializers.CharField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class AwaitingOutputSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="The command whose reply the saga waits for.")
    awaits = serializers.ListField(child=serializers.CharField())
    step_number = serializers.IntegerField()
    attempts = serializers.IntegerField()
    due_at = serializers.CharField()


class ExecutionOutputSerializer(serializers.Serializer):
    execution_id = serializers.CharField()
    service_order_id = serializers.CharField()
    order_number = serializers.CharField(source="order.order_number")
    status = serializers.ChoiceField(choices=[s.value for s in SagaStatus])
    current_step = serializers.SerializerMethodField()
    current_step_number = serializers.IntegerField(source="current_step")
    os_status = serializers.CharField()
    error = serializers.CharField(source="cause", allow_null=True)
    deadline = serializers.CharField()
    started_at = serializers.CharField()
    created_at = serializers.CharField()
    updated_at = serializers.CharField()
    finished_at = serializers.CharField(allow_null=True)

    @extend_schema_field(OpenApiTypes.STR)
    def get_current_step(self, saga: SagaInstance) -> str:
        return STEP_NAMES[saga.current_step]


class ExecutionDetailOutputSerializer(ExecutionOutputSerializer):
    steps = StepOutputSerializer(many=True)
    budget = BudgetOutputSerializer(allow_null=True)
    payments = PaymentOutputSerializer(many=True)
    reserved_parts = PartLineSerializer(many=True)
    revisions = RevisionOutputSerializer(many=True)
    queue_id = serializers.CharField(allow_null=True)
    awaiting = AwaitingOutputSerializer(many=True, source="pending")
    unconfirmed = AwaitingOutputSerializer(
        many=True, source="stuck",
        help_text="FAILED only: the commands nobody confirmed, sent again by POST executions/{id}/retry/.")


ExecutionPageSerializer = _page_serializer("ExecutionPage", ExecutionOutputSerializer)


class ExecutionListApi(APIView):
    permission_classes = [IsStaffOrCustomer]

    class FilterSerializer(PageInputSerializer):
        service_order_id = serializers.CharField(required=False, max_length=128)
        status = serializers.ChoiceField(choices=[s.value for s in SagaStatus], required=False)

    @extend_schema(
        operation_id="executions_list", parameters=[FilterSerializer],
        responses={200: ExecutionPageSerializer, **ERRORS}, examples=examples.EXECUTION_LIST,
        summary="The saga of a service order (staff; a customer only their own order's)",
    )
    def get(self, request: Request) -> Response:
        # A plain dict: an empty ``?status=`` is a value to refuse, not a filter left out.
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        page = selectors.execution_list(user=request.user, service_order_id=data.get("service_order_id"),
                                        status=data.get("status"), limit=data["page_size"],
                                        page_token=data.get("page_token") or None, deps=get_dependencies())
        rows = represent_all(ExecutionOutputSerializer, page.items)
        return Response(_page(request, page, rows))


class ExecutionDetailApi(APIView):
    permission_classes = [IsStaffOrCustomer]

    @extend_schema(operation_id="executions_retrieve", responses={200: ExecutionDetailOutputSerializer, **ERRORS},
                   summary="A saga instance with its steps", examples=examples.EXECUTION_DETAIL_EXAMPLES)
    def get(self, request: Request, execution_id: str) -> Response:
        saga = selectors.execution_get(execution_id=_checked_id(execution_id, "Execution"), user=request.user,
                                       deps=get_dependencies())
        return Response(represent(ExecutionDetailOutputSerializer, saga))


class ExecutionRetryApi(APIView):
    permission_classes = [HasRole.of(ADMIN)]

    @extend_schema(operation_id="executions_retry", request=None,
                   responses={200: ExecutionDetailOutputSerializer, **ERRORS,
                              409: OpenApiResponse(ErrorSerializer, description="The saga is not FAILED.")},
                   summary="Retry a FAILED saga (admins): its unconfirmed commands go out again and it resumes")
    def post(self, request: Request, execution_id: str) -> Response:
        saga = services.saga_retry(execution_id=_checked_id(execution_id, "Execution"),
                                   by=selectors.mechanic_of(request.user).name or "admin", deps=get_dependencies())
        return Response(represent(ExecutionDetailOutputSerializer, saga))


# --- the work queue --------------------------------------------------------------------------
class ItemSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["service", "part"])
    catalog_id = serializers.CharField(max_length=64)
    description = serializers.CharField(max_length=500, allow_blank=True, default="")
    quantity = serializers.IntegerField(min_value=1, max_value=10_000)
    unit_price_cents = serializers.IntegerField(min_value=0, max_value=1_000_000_000)
    job = serializers.IntegerField(min_value=1, max_value=50, default=1,
                                   help_text="Groups a service with its parts: the customer decides each job.")


class ReportedItemSerializer(serializers.Serializer):
    """What a mechanic reports: the catalog item and how many. Its name and price come from the OS
    catalogue (the saga asks the OS), never from the request."""

    kind = serializers.ChoiceField(choices=["service", "part"])
    catalog_id = serializers.RegexField(r"^[1-9][0-9]{0,9}$", help_text="The OS catalog's service or part id.")
    quantity = serializers.IntegerField(min_value=1, max_value=10_000)
    job = serializers.IntegerField(min_value=1, max_value=50, default=1,
                                   help_text="Groups a service with its parts: the customer decides each job.")

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            priced = sorted({"unit_price_cents", "description"} & set(data))
            if priced:
                raise serializers.ValidationError({priced[0]: "Names and prices come from the OS catalog: report "
                                                               "the catalog item, its quantity and job."})
        return super().to_internal_value(data)


class JobOutputSerializer(serializers.Serializer):
    queue_id = serializers.CharField()
    execution_id = serializers.CharField()
    service_order_id = serializers.CharField()
    order_number = serializers.CharField()
    vehicle = serializers.DictField()
    priority = serializers.IntegerField()
    status = serializers.ChoiceField(choices=[s.value for s in JobStatus])
    items = ItemSerializer(many=True)
    notes = serializers.CharField(allow_blank=True)
    assigned_to = serializers.CharField(allow_null=True)
    assigned_to_name = serializers.CharField(allow_null=True)
    assigned_at = serializers.CharField(allow_null=True)
    started_at = serializers.CharField(allow_null=True)
    finished_at = serializers.CharField(allow_null=True)
    result_notes = serializers.CharField(allow_null=True)
    failure_reason = serializers.CharField(allow_null=True)
    additional_repairs = serializers.ListField(child=serializers.DictField())
    created_at = serializers.CharField()
    updated_at = serializers.CharField()


JobPageSerializer = _page_serializer("JobPage", JobOutputSerializer)


class WorkQueueListApi(APIView):
    permission_classes = [IsMechanic]

    class FilterSerializer(PageInputSerializer):
        status = serializers.ChoiceField(choices=[s.value for s in JobStatus], default=JobStatus.QUEUED.value)
        service_order_id = serializers.CharField(required=False, max_length=128)

    @extend_schema(
        operation_id="work_queue_list", parameters=[FilterSerializer], responses={200: JobPageSerializer, **ERRORS},
        examples=examples.WORK_QUEUE_LIST,
        summary="Jobs by status, most urgent then oldest first (mechanics see the queue and their own jobs)",
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        page = selectors.work_queue_list(mechanic=selectors.mechanic_of(request.user), status=data["status"],
                                         service_order_id=data.get("service_order_id"), limit=data["page_size"],
                                         page_token=data.get("page_token") or None, deps=get_dependencies())
        return Response(_page(request, page, represent_all(JobOutputSerializer, page.items)))


class WorkQueueDetailApi(APIView):
    permission_classes = [IsMechanic]

    @extend_schema(operation_id="work_queue_retrieve", responses={200: JobOutputSerializer, **ERRORS},
                   summary="A job", examples=examples.WORK_QUEUE_DETAIL)
    def get(self, request: Request, queue_id: str) -> Response:
        job = selectors.job_get(queue_id=_checked_id(queue_id, "Job"), mechanic=selectors.mechanic_of(request.user),
                                deps=get_dependencies())
        return Response(represent(JobOutputSerializer, job))


class WorkQueueClaimApi(APIView):
    permission_classes = [IsMechanic]

    @extend_schema(
        operation_id="work_queue_claim", request=None,
        responses={200: JobOutputSerializer, 204: OpenApiResponse(description="No job is waiting."), **ERRORS},
        examples=examples.WORK_QUEUE_CLAIM,
        summary="Take the next job (atomically: two mechanics never get the same one)",
    )
    def post(self, request: Request) -> Response:
        job = services.work_queue_claim(mechanic=selectors.mechanic_of(request.user), deps=get_dependencies())
        if job is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(represent(JobOutputSerializer, job))


class WorkQueueStartApi(APIView):
    permission_classes = [IsMechanic]

    @extend_schema(operation_id="work_queue_start", request=None,
                   responses={200: JobOutputSerializer, **ERRORS, **CONFLICT}, examples=examples.WORK_QUEUE_START,
                   summary="Start working on a claimed job (ASSIGNED -> IN_PROGRESS)")
    def post(self, request: Request, queue_id: str) -> Response:
        job = services.job_start(queue_id=_checked_id(queue_id, "Job"), mechanic=selectors.mechanic_of(request.user),
                                 deps=get_dependencies())
        return Response(represent(JobOutputSerializer, job))


class WorkQueueCompleteApi(APIView):
    permission_classes = [IsMechanic]

    @extend_schema_serializer(component_name="JobCompleteInput")
    class InputSerializer(serializers.Serializer):
        notes = StoredTextField(max_length=2000, max_bytes=services.MAX_NOTES_BYTES, allow_blank=True, default="")

    @extend_schema(operation_id="work_queue_complete", request=InputSerializer,
                   responses={200: JobOutputSerializer, **ERRORS, **CONFLICT}, examples=examples.WORK_QUEUE_COMPLETE,
                   summary="The job is done (by the mechanic who holds it, or an admin)")
    def post(self, request: Request, queue_id: str) -> Response:
        data = _valid(self.InputSerializer, request)
        job = services.job_complete(queue_id=_checked_id(queue_id, "Job"),
                                    mechanic=selectors.mechanic_of(request.user), notes=data["notes"],
                                    deps=get_dependencies())
        return Response(represent(JobOutputSerializer, job))


class WorkQueueFailApi(APIView):
    permission_classes = [IsMechanic]

    @extend_schema_serializer(component_name="JobFailInput")
    class InputSerializer(serializers.Serializer):
        reason = StoredTextField(max_length=2000, max_bytes=services.MAX_NOTES_BYTES)

    @extend_schema(operation_id="work_queue_fail", request=InputSerializer,
                   responses={200: JobOutputSerializer, **ERRORS, **CONFLICT}, examples=examples.WORK_QUEUE_FAIL,
                   summary="The job cannot be done: the saga refunds and cancels the order")
    def post(self, request: Request, queue_id: str) -> Response:
        data = _valid(self.InputSerializer, request)
        job = services.job_fail(queue_id=_checked_id(queue_id, "Job"), mechanic=selectors.mechanic_of(request.user),
                                reason=data["reason"], deps=get_dependencies())
        return Response(represent(JobOutputSerializer, job))


class WorkQueueAdditionalRepairsApi(APIView):
    permission_classes = [IsMechanic]

    @extend_schema_serializer(component_name="AdditionalRepairsInput")
    class InputSerializer(serializers.Serializer):
        items = ReportedItemSerializer(many=True, allow_empty=False, max_length=50)
        notes = StoredTextField(max_length=2000, max_bytes=services.MAX_NOTES_BYTES, allow_blank=True, default="")

    @extend_schema(operation_id="work_queue_additional_repairs", request=InputSerializer,
                   responses={202: JobOutputSerializer, **ERRORS, **CONFLICT},
                   examples=examples.WORK_QUEUE_ADDITIONAL_REPAIRS,
                   summary="Report repairs found during the work: Billing issues a revised budget")
    def post(self, request: Request, queue_id: str) -> Response:
        data = _valid(self.InputSerializer, request)
        items = [dict(item) for item in data["items"]]
        job = services.job_report_additional_repairs(queue_id=_checked_id(queue_id, "Job"),
                                                     mechanic=selectors.mechanic_of(request.user), items=items,
                                                     notes=data["notes"], deps=get_dependencies())
        return Response(represent(JobOutputSerializer, job), status=status.HTTP_202_ACCEPTED)


def _valid(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ValidationFailed("The body must be a JSON object.", code="invalid_body")
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
