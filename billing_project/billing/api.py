"""Billing's HTTP API: budgets, their decisions and revisions, payments, Mercado Pago's webhook."""
from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from oficina_common.auth import (
    ADMIN,
    ATTENDANT,
    CUSTOMER,
    STAFF_ROLES,
    HasRole,
    IsStaffOrCustomer,
    customer_id_of,
    role_of,
)
from oficina_common.errors import (
    AuthenticationRequired,
    NotFound,
    PermissionDenied,
    UpstreamUnavailable,
    ValidationFailed,
)
from oficina_common.limits import StoredTextField
from oficina_common.representation import represent
from oficina_common.schema import ErrorSerializer, PageTokenField

from . import examples, selectors, services
from .dependencies import dependencies
from .domain import (
    MAX_JOB,
    MAX_LINE_DESCRIPTION,
    MAX_LINE_DESCRIPTION_BYTES,
    MAX_LINES,
    MAX_REASON_BYTES,
    Actor,
    BudgetStatus,
    Decision,
    ItemKind,
    LineStatus,
    PaymentMethod,
    PaymentStatus,
)
from .webhooks import verify_signature

logger = logging.getLogger(__name__)

MERCADOPAGO_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# How long a creation notice waits for the marker of the worker that created the payment (Mercado
# Pago notifies as it answers that worker); a payment the checkout created waits this long, once.
CREATED_MARKER_WAIT_SECONDS = 0.25
ERROR = ErrorSerializer


def actor_of(request: Request) -> Actor:
    """Staff or a customer, from the verified JWT (anonymous never gets this far)."""
    role = role_of(request.user)
    if role in STAFF_ROLES:
        token = getattr(request.user, "token", None)
        name = token.get("username", "") if token is not None else ""
        return Actor.staff(str(name or getattr(request.user, "id", "") or role), role)
    if role == CUSTOMER and customer_id_of(request.user):
        return Actor.customer(str(customer_id_of(request.user)))
    raise PermissionDenied("Your role may not do this.")


# --- serializers --------------------------------------------------------------------------------

class ItemLineSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[k.value for k in ItemKind])
    catalog_id = serializers.CharField(max_length=64)
    description = StoredTextField(max_length=MAX_LINE_DESCRIPTION, max_bytes=MAX_LINE_DESCRIPTION_BYTES)
    quantity = serializers.IntegerField(min_value=1, max_value=10_000)
    unit_price_cents = serializers.IntegerField(min_value=0, max_value=100_000_000)
    job = serializers.IntegerField(min_value=1, max_value=MAX_JOB, default=1,
                                   help_text="Groups a service with the parts that go with it: the customer "
                                             "approves or declines a job whole.")
    optional = serializers.BooleanField(default=False,
                                        help_text="A part the customer may decline alone, keeping its job "
                                                  "(ignored on a service).")


class BudgetItemOutputSerializer(ItemLineSerializer):
    line_id = serializers.IntegerField(help_text="The line's position in its version (1-based); stable across "
                                                 "versions, since a revision appends its lines.")
    total_cents = serializers.IntegerField()
    status = serializers.ChoiceField(choices=[s.value for s in LineStatus],
                                     help_text="PENDING until the version (or, for an earlier version's line, "
                                               "that version) is decided.")


class StrictLineIdField(serializers.IntegerField):
    """A line id as JSON gives it: a number, never a string or a boolean."""

    default_error_messages = {"invalid": "A line id is a whole number."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class BudgetOutputSerializer(serializers.Serializer):
    budget_id = serializers.CharField()
    version = serializers.IntegerField()
    service_order_id = serializers.CharField()
    order_number = serializers.CharField()
    customer_id = serializers.CharField()
    status = serializers.ChoiceField(choices=[s.value for s in BudgetStatus])
    items = BudgetItemOutputSerializer(many=True)
    total_cents = serializers.IntegerField(help_text="What was quoted: every line, declined or not.")
    approved_total_cents = serializers.IntegerField(help_text="The approved lines' total (what is charged).")
    declined_total_cents = serializers.IntegerField(help_text="The declined lines' total.")
    additional_total_cents = serializers.IntegerField()
    currency = serializers.CharField()
    expires_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    decided_by = serializers.CharField()
    decided_at = serializers.DateTimeField(allow_null=True)
    decision_reason = serializers.CharField()
    revision_reason = serializers.CharField()


class BudgetPageSerializer(serializers.Serializer):
    results = BudgetOutputSerializer(many=True)
    next_page_token = serializers.CharField(allow_null=True)


class PaymentOutputSerializer(serializers.Serializer):
    payment_id = serializers.CharField()
    budget_id = serializers.CharField()
    budget_version = serializers.IntegerField()
    service_order_id = serializers.CharField()
    amount_cents = serializers.IntegerField()
    currency = serializers.CharField()
    method = serializers.ChoiceField(choices=[m.value for m in PaymentMethod])
    status = serializers.ChoiceField(choices=[s.value for s in PaymentStatus])
    mercadopago_payment_id = serializers.CharField(allow_null=True)
    qr_code = serializers.CharField(help_text="Pix copy-and-paste code (empty for checkout).")
    qr_code_base64 = serializers.CharField(help_text="Pix QR code as a base64 PNG (empty for checkout).")
    ticket_url = serializers.CharField()
    init_point = serializers.CharField(help_text="Mercado Pago checkout link (empty for Pix).")
    failure_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class PaymentPageSerializer(serializers.Serializer):
    results = PaymentOutputSerializer(many=True)
    next_page_token = serializers.CharField(allow_null=True)


def _budget_data(budget: Any) -> dict[str, Any]:
    return represent(BudgetOutputSerializer, selectors.budget_as_dict(budget))


def _payment_data(payment: Any) -> dict[str, Any]:
    return represent(PaymentOutputSerializer, selectors.payment_as_dict(payment))


def _valid(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


BUDGET_ID = OpenApiParameter("budget_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


def _known_id(value: str, what: str) -> str:
    """Budget and payment ids are UUIDs: anything else cannot exist, and never reaches DynamoDB
    (which refuses a key over 2 KB with an error that would be a 500)."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise NotFound(f"{what} {value[:64]} does not exist.") from None
PAYMENT_ID = OpenApiParameter("payment_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


# --- budgets ------------------------------------------------------------------------------------

class BudgetListApi(APIView):
    permission_classes = [IsStaffOrCustomer]

    @extend_schema_serializer(component_name="BudgetListFilter")
    class FilterSerializer(serializers.Serializer):
        service_order_id = serializers.CharField(required=False, max_length=64)
        status = serializers.ChoiceField(choices=[s.value for s in BudgetStatus], required=False)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=50)
        page_token = PageTokenField()

    @extend_schema(
        operation_id="budgets_list", parameters=[FilterSerializer],
        responses={200: BudgetPageSerializer, 400: ERROR, 401: ERROR, 403: ERROR}, examples=examples.BUDGET_LIST,
        description="The latest version of each budget of a service order (customers: only their own). "
                    "Staff may list by `status` instead, paginated with `page_token`.",
    )
    def get(self, request: Request) -> Response:
        filters = _valid(self.FilterSerializer, request.query_params)
        page = selectors.budget_list(
            actor=actor_of(request), service_order_id=filters.get("service_order_id"),
            status=BudgetStatus(filters["status"]) if filters.get("status") else None,
            limit=filters["limit"], page_token=filters.get("page_token"))
        return Response({"results": [_budget_data(b) for b in page.items], "next_page_token": page.next_token})


class BudgetDetailApi(APIView):
    permission_classes = [IsStaffOrCustomer]

    @extend_schema(operation_id="budgets_retrieve", parameters=[BUDGET_ID],
                   responses={200: BudgetOutputSerializer, 401: ERROR, 404: ERROR},
                   examples=examples.BUDGET_DETAIL, description="The budget's latest version.")
    def get(self, request: Request, budget_id: str) -> Response:
        budget_id = _known_id(budget_id, "Budget")
        return Response(_budget_data(selectors.budget_latest(budget_id=budget_id, actor=actor_of(request))))


class BudgetVersionListApi(APIView):
    permission_classes = [IsStaffOrCustomer]

    @extend_schema(operation_id="budgets_versions_list", parameters=[BUDGET_ID],
                   responses={200: BudgetOutputSerializer(many=True), 401: ERROR, 404: ERROR},
                   examples=examples.BUDGET_VERSIONS, description="Every version of the budget, oldest first.")
    def get(self, request: Request, budget_id: str) -> Response:
        budget_id = _known_id(budget_id, "Budget")
        versions = selectors.budget_versions(budget_id=budget_id, actor=actor_of(request))
        return Response([_budget_data(b) for b in versions])


class _BudgetDecisionApi(APIView):
    """Approve or reject: the order's customer (JWT or the approval link's token), or an attendant
    or an admin for them, with a reason (billing.domain.Actor decides who may)."""

    permission_classes = [AllowAny]
    throttle_scope = "budget_decision"
    decision = Decision.APPROVE

    def _actor(self, request: Request, token: str) -> Actor:
        if token:
            return Actor.approval_link(token)
        if role_of(request.user):
            return actor_of(request)
        raise AuthenticationRequired("Log in, or use the approval link sent by e-mail.")

    def _decide(self, request: Request, budget_id: str, data: dict[str, Any]) -> Response:
        token = data.get("token") or str(request.query_params.get("token", ""))[:200]
        outcome = services.budget_decide(budget_id=str(budget_id), version=data["version"], decision=self.decision,
                                         actor=self._actor(request, token), reason=data.get("reason", ""),
                                         lines=data.get("lines"))
        return Response(_budget_data(outcome.budget), status=status.HTTP_200_OK)


class BudgetApproveApi(_BudgetDecisionApi):
    decision = Decision.APPROVE

    @extend_schema_serializer(component_name="BudgetApproveInput")
    class InputSerializer(serializers.Serializer):
        version = serializers.IntegerField(min_value=1, max_value=1_000_000)
        reason = StoredTextField(required=False, allow_blank=True, max_length=500, max_bytes=MAX_REASON_BYTES,
                                 default="",
                                 help_text="Required when staff (attendant, admin) approve for the customer.")
        token = serializers.CharField(required=False, max_length=200, help_text="The approval link's token.")
        lines = serializers.ListField(
            child=StrictLineIdField(), required=False, max_length=MAX_LINES,
            help_text="The line ids approved; the version's other lines are DECLINED. Without it, every line is "
                      "approved. A job is approved whole (only its optional parts may be left out); at least one "
                      "line must be approved (to decline everything, reject). For a revision, the lines an earlier "
                      "version decided keep their decision.")

    @extend_schema(
        operation_id="budgets_approve", parameters=[BUDGET_ID], request=InputSerializer,
        responses={200: BudgetOutputSerializer, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR,
                   429: ERROR},
        examples=examples.BUDGET_APPROVE,
        description="Approve a version, whole or line by line (`lines`): the order's customer (their token, or "
                    "the e-mailed link's), or an attendant or admin for them with a `reason` (kept as "
                    "`decision_reason`, who in `decided_by`); a mechanic may not. The same decision again (the "
                    "same lines) is a 200 no-op; a stale version, a budget already rejected or already approved "
                    "with other lines is a 409. The token may also come as `?token=`. Throttled "
                    "(`budget_decision`).",
    )
    def post(self, request: Request, budget_id: str) -> Response:
        budget_id = _known_id(budget_id, "Budget")
        return self._decide(request, budget_id, _valid(self.InputSerializer, request.data))


class BudgetRejectApi(_BudgetDecisionApi):
    decision = Decision.REJECT

    @extend_schema_serializer(component_name="BudgetRejectInput")
    class InputSerializer(serializers.Serializer):
        version = serializers.IntegerField(min_value=1, max_value=1_000_000)
        reason = StoredTextField(required=False, allow_blank=True, max_length=500, max_bytes=MAX_REASON_BYTES,
                                 default="")
        token = serializers.CharField(required=False, max_length=200, help_text="The approval link's token.")

    @extend_schema(
        operation_id="budgets_reject", parameters=[BUDGET_ID], request=InputSerializer,
        responses={200: BudgetOutputSerializer, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR,
                   429: ERROR},
        examples=examples.BUDGET_REJECT,
        description="Reject a version, with a reason (required when an attendant or admin rejects for the "
                    "customer; a mechanic may not). The same decision again is a 200 no-op; a stale version or a "
                    "budget already approved is a 409. Throttled (`budget_decision`).",
    )
    def post(self, request: Request, budget_id: str) -> Response:
        budget_id = _known_id(budget_id, "Budget")
        return self._decide(request, budget_id, _valid(self.InputSerializer, request.data))


class BudgetRevisionCreateApi(APIView):
    permission_classes = [HasRole.of(ADMIN, ATTENDANT)]  # a mechanic reports additional repairs instead

    @extend_schema_serializer(component_name="BudgetRevisionCreateInput")
    class InputSerializer(serializers.Serializer):
        items = ItemLineSerializer(many=True, allow_empty=False, max_length=200)
        reason = StoredTextField(required=False, allow_blank=True, max_length=500, max_bytes=MAX_REASON_BYTES,
                                 default="")

    @extend_schema(
        operation_id="budgets_revisions_create", parameters=[BUDGET_ID], request=InputSerializer,
        responses={201: BudgetOutputSerializer, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR},
        examples=examples.BUDGET_REVISION,
        description="A new version with the latest version's items plus these; the previous version "
                    "becomes SUPERSEDED and the customer gets a new approval link.",
    )
    def post(self, request: Request, budget_id: str) -> Response:
        budget_id = _known_id(budget_id, "Budget")
        data = _valid(self.InputSerializer, request.data)
        selectors.budget_latest(budget_id=budget_id, actor=actor_of(request))
        revised = services.budget_revise(budget_id=str(budget_id), items=[dict(i) for i in data["items"]],
                                         reason=data["reason"])
        return Response(_budget_data(revised), status=status.HTTP_201_CREATED)


# --- payments -----------------------------------------------------------------------------------

class PaymentListApi(APIView):
    permission_classes = [IsStaffOrCustomer]

    @extend_schema_serializer(component_name="PaymentListFilter")
    class FilterSerializer(serializers.Serializer):
        service_order_id = serializers.CharField(max_length=64)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=50)
        page_token = PageTokenField()

    @extend_schema(operation_id="payments_list", parameters=[FilterSerializer],
                   responses={200: PaymentPageSerializer, 400: ERROR, 401: ERROR, 403: ERROR},
                   examples=examples.PAYMENT_LIST,
                   description="Payments of a service order (customers: only their own), paginated with `page_token`.")
    def get(self, request: Request) -> Response:
        filters = _valid(self.FilterSerializer, request.query_params)
        page = selectors.payment_list(actor=actor_of(request), service_order_id=filters["service_order_id"],
                                      limit=filters["limit"], page_token=filters.get("page_token"))
        return Response({"results": [_payment_data(p) for p in page.items], "next_page_token": page.next_token})


class PaymentDetailApi(APIView):
    permission_classes = [IsStaffOrCustomer]

    @extend_schema(operation_id="payments_retrieve", parameters=[PAYMENT_ID],
                   responses={200: PaymentOutputSerializer, 401: ERROR, 404: ERROR},
                   examples=examples.PAYMENT_DETAIL)
    def get(self, request: Request, payment_id: str) -> Response:
        payment_id = _known_id(payment_id, "Payment")
        return Response(_payment_data(selectors.payment_get(payment_id=payment_id, actor=actor_of(request))))


# --- Mercado Pago webhook -----------------------------------------------------------------------

class MercadoPagoWebhookApi(APIView):
    """Mercado Pago's notification: check the signature, queue the work, answer at once.

    Nothing in the body is trusted for state: the Celery task reads the payment from Mercado Pago's
    API. The body's ``action`` only spares that task for ``payment.created`` of a payment Billing
    created itself and whose answer it holds (``CreatedPayments``): every later change of it comes
    as ``payment.updated``, and a payment the checkout created is not one Billing marks.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_scope = "mercadopago_webhook"

    @extend_schema(
        operation_id="webhooks_mercadopago", auth=[],
        parameters=[
            OpenApiParameter("data.id", str, OpenApiParameter.QUERY, required=False,
                             description="The Mercado Pago payment id (signed)."),
            OpenApiParameter("type", str, OpenApiParameter.QUERY, required=False,
                             description="The topic; only `payment` is processed."),
            OpenApiParameter("x-signature", str, OpenApiParameter.HEADER, required=True,
                             description="`ts=…,v1=…`: HMAC-SHA256 with the webhook secret."),
            OpenApiParameter("x-request-id", str, OpenApiParameter.HEADER, required=False),
        ],
        request=OpenApiTypes.OBJECT, examples=examples.WEBHOOK,
        responses={
            200: inline_serializer("WebhookAccepted", {"status": serializers.CharField()}),
            400: ERROR, 401: ERROR,
            429: OpenApiResponse(ERROR, description="Throttled (`mercadopago_webhook`); Mercado Pago retries."),
            503: OpenApiResponse(ERROR, description="The work could not be queued; Mercado Pago retries."),
        },
    )
    def post(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            raise ValidationFailed("The body must be a JSON object (Mercado Pago's notification).", code="invalid_body")
        body = request.data
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        topic = str(request.query_params.get("type") or request.query_params.get("topic") or body.get("type") or "")
        if topic != "payment":
            return Response({"status": "ignored"})
        data_id = str(request.query_params.get("data.id") or data.get("id") or "")
        request_id = str(request.headers.get("x-request-id", ""))[:128]
        if not verify_signature(secret=settings.MERCADOPAGO_WEBHOOK_SECRET, header=request.headers.get("x-signature"),
                                data_id=data_id, request_id=request_id,
                                tolerance_seconds=settings.MERCADOPAGO_WEBHOOK_TOLERANCE_SECONDS):
            logger.warning("Mercado Pago notification refused: bad or missing signature (data.id %r, request %s)",
                           data_id[:64], request_id or "-")
            raise AuthenticationRequired("Invalid Mercado Pago signature.", code="invalid_signature")
        if not MERCADOPAGO_ID.match(data_id):
            raise ValidationFailed("data.id: a Mercado Pago payment id is required.")
        if body.get("action") == "payment.created" and dependencies().created_payments.knows(
                data_id, wait=CREATED_MARKER_WAIT_SECONDS):
            # Billing created this payment and recorded Mercado Pago's answer: nothing new to read.
            logger.info("Mercado Pago notification of payment %s created by Billing: nothing to do (request %s)",
                        data_id, request_id or "-")
            return Response({"status": "accepted"})
        try:
            dependencies().enqueue_notification(data_id, request_id)
        except Exception as exc:
            logger.error("could not queue Mercado Pago notification %s: %s", data_id, exc)
            raise UpstreamUnavailable("The notification could not be queued; try again.") from exc
        logger.info("Mercado Pago notification for payment %s queued (request %s)", data_id, request_id or "-")
        return Response({"status": "accepted"})
