from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from oficina_common.auth import STAFF_ROLES, add_staff_claims, role_of
from oficina_common.errors import PermissionDenied

from . import services


class StaffTokenObtainPairSerializer(TokenObtainPairSerializer):
    """Username/password -> access + refresh, carrying the role and username claims."""

    @classmethod
    def get_token(cls, user: Any):
        token = super().get_token(user)
        add_staff_claims(token, user)
        return token

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        data = super().validate(attrs)
        if role_of(self.user) not in STAFF_ROLES:
            raise PermissionDenied("This account has no staff role; ask an admin to set one.")
        return data


@extend_schema(tags=["auth"])
class StaffTokenObtainApi(TokenObtainPairView):
    serializer_class = StaffTokenObtainPairSerializer
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]


@extend_schema(tags=["auth"])
class StaffTokenRefreshApi(TokenRefreshView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]


class CustomerTokenObtainApi(APIView):
    """A customer's token (role customer) from their CPF/CNPJ and an order's tracking code."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="CustomerTokenInput")
    class InputSerializer(serializers.Serializer):
        document = serializers.CharField(max_length=30)
        tracking_code = serializers.CharField(max_length=64)

    @extend_schema_serializer(component_name="CustomerTokenOutput")
    class OutputSerializer(serializers.Serializer):
        access = serializers.CharField()

    @extend_schema(tags=["auth"], auth=[], request=InputSerializer, responses=OutputSerializer)
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        access = services.customer_token_issue(**serializer.validated_data)
        return Response(self.OutputSerializer({"access": access}).data)
