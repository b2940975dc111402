from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from core.openapi import error_example, error_responses
from oficina_common.auth import STAFF_ROLES, add_staff_claims, role_of
from oficina_common.errors import PermissionDenied
from oficina_common.schema import throttled_example

from . import services
from .lockout import LoginLockedOut, cooloff_seconds, is_locked_out, lockout_message


class StaffTokenObtainPairSerializer(TokenObtainPairSerializer):
    """Username/password -> access + refresh, carrying the role and username claims."""

    @classmethod
    def get_token(cls, user: Any):
        token = super().get_token(user)
        add_staff_claims(token, user)
        return token

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        request = self.context["request"]
        try:
            data = super().validate(attrs)
        except AuthenticationFailed:
            # django-axes counted the failure (or refused a locked username+address before even
            # checking the password) and marked the request: say so rather than "wrong password".
            if is_locked_out(request):
                raise LoginLockedOut() from None
            raise
        if role_of(self.user) not in STAFF_ROLES:
            raise PermissionDenied("This account has no staff role; ask an admin to set one.")
        # A token is a login: axes forgets this address's earlier typos and logs the access.
        user_logged_in.send(sender=self.user.__class__, request=request, user=self.user)
        return data


class StaffTokenRefreshSerializer(TokenRefreshSerializer):
    """A refresh token -> a new access token for the user as they are now, not as the old token says.

    A deleted or deactivated user, or one whose staff role was taken away, is refused (401); a
    demoted one gets the new role at once."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        refresh = self.token_class(attrs["refresh"])  # signature, expiry, iss, aud: 401 when wrong
        user = services.staff_user_for_refresh(refresh.payload.get("user_id"))
        access = refresh.access_token
        add_staff_claims(access, user)
        return {"access": str(access)}


@extend_schema_serializer(component_name="StaffTokenOutput")
class StaffTokenOutputSerializer(serializers.Serializer):
    refresh = serializers.CharField(help_text="Trade it at auth/token/refresh/ for a new access token.")
    access = serializers.CharField(help_text="Send as `Authorization: Bearer <access>`; carries role and username.")


@extend_schema_serializer(component_name="AccessTokenOutput")
class AccessTokenOutputSerializer(serializers.Serializer):
    access = serializers.CharField()


# Shortened: real tokens are three longer base64url parts.
ACCESS = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwicm9sZSI6ImF0dGVuZGFudCJ9.MWW7XRF4lz"
REFRESH = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9.dOkh7rW_po4IQXVWfvv"
CUSTOMER_ACCESS = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoiY3VzdG9tZXIiLCJjdXN0b21lcl9pZCI6IjEifQ.uwVNiCNw"


@extend_schema(tags=["auth"], auth=[],
               responses={200: StaffTokenOutputSerializer, **error_responses(400, 401, 403, 429)},
               description="Throttled per client address (`staff_login`), and a username that fails "
                           "`AXES_FAILURE_LIMIT` times in a row from one address is locked out there for "
                           "`AXES_COOLOFF_MINUTES` (429 `login_locked_out`, `Retry-After`).",
               examples=[
                   OpenApiExample("Staff login", request_only=True,
                                  value={"username": "ana.souza", "password": "a-strong-password"}),
                   OpenApiExample("Tokens", response_only=True, status_codes=["200"],
                                  description="The access token carries role and username.",
                                  value={"refresh": REFRESH, "access": ACCESS}),
                   error_example(401, "no_active_account", "No active account found with the given credentials"),
                   error_example(403, "permission_denied",
                                 "This account has no staff role; ask an admin to set one."),
                   throttled_example(),
                   error_example(429, "login_locked_out", lockout_message(),
                                 extra={"retry_after_seconds": cooloff_seconds()}),
               ])
class StaffTokenObtainApi(TokenObtainPairView):
    """Staff username/password -> a short-lived access token and a refresh token."""

    serializer_class = StaffTokenObtainPairSerializer
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_scope = "staff_login"


@extend_schema(tags=["auth"], auth=[],
               responses={200: AccessTokenOutputSerializer, **error_responses(400, 401, 429)},
               description="Reads the user again: a deleted or deactivated user, or one left without a "
                           "staff role, is refused (401); the new access token carries the role the user "
                           "has now. Throttled per client address (`token_refresh`).",
               examples=[
                   OpenApiExample("Refresh", request_only=True, value={"refresh": REFRESH}),
                   OpenApiExample("A new access token", response_only=True, status_codes=["200"],
                                  value={"access": ACCESS}),
                   error_example(401, "token_not_valid", "Token is invalid"),
                   error_example(401, "no_active_account", "No active staff account found for this token."),
                   throttled_example(),
               ])
class StaffTokenRefreshApi(TokenRefreshView):
    """A new access token from a refresh token, for the user as they are now."""

    serializer_class = StaffTokenRefreshSerializer

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_scope = "token_refresh"


class CustomerTokenObtainApi(APIView):
    """A customer's token (role customer) from their CPF/CNPJ and an order's tracking code."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_scope = "customer_token"

    @extend_schema_serializer(component_name="CustomerTokenInput")
    class InputSerializer(serializers.Serializer):
        document = serializers.CharField(max_length=30)
        tracking_code = serializers.CharField(max_length=64)

    @extend_schema_serializer(component_name="CustomerTokenOutput")
    class OutputSerializer(serializers.Serializer):
        access = serializers.CharField()

    @extend_schema(tags=["auth"], auth=[], request=InputSerializer,
                   responses={200: OutputSerializer, **error_responses(400, 401, 429)},
                   description="Throttled per client address (`customer_token`).", examples=[
                       OpenApiExample("Customer login", request_only=True,
                                      value={"document": "529.982.247-25",
                                             "tracking_code": "TbUiKuzBpG75TiE-9ae-tyQM"}),
                       OpenApiExample("A customer token", response_only=True, status_codes=["200"],
                                      value={"access": CUSTOMER_ACCESS}),
                       error_example(401, "invalid_credentials",
                                     "No service order matches this document and tracking code."),
                       throttled_example(),
                   ])
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        access = services.customer_token_issue(**serializer.validated_data)
        return Response(self.OutputSerializer({"access": access}).data)
