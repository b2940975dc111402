"""OpenAPI pieces shared by the OS endpoints: the error body and its examples."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema_serializer
from rest_framework import serializers

from oficina_common.schema import error_example


@extend_schema_serializer(component_name="Error")
class ErrorOutputSerializer(serializers.Serializer):
    """Every error of the API (the shared exception handler's shape)."""

    message = serializers.CharField(help_text="For people: what went wrong and, where it helps, what to do.")
    code = serializers.CharField(help_text="For programs: e.g. invalid, not_found, invalid_transition.")
    extra = serializers.DictField(help_text="Details: the field at fault, both statuses of a refused move…")


NOT_AUTHENTICATED = error_example(401, "not_authenticated", "Authentication credentials were not provided.")
WRONG_ROLE = error_example(403, "permission_denied", "Your role may not do this.")


def invalid(field: str, message: str, *, code: str = "invalid") -> OpenApiExample:
    """A 400 as a serializer refuses a field (``code="invalid"``) or a service does (its own code)."""
    extra = {"fields": {field: [message]}} if code == "invalid" else {"field": field}
    text = f"{field}: {message}" if code == "invalid" else message
    return error_example(400, code, text, extra=extra, name=f"400 {code} ({field})")


def error_responses(*statuses: int, description: str = "") -> dict[int, OpenApiResponse]:
    """``responses={…, **error_responses(400, 401, 403, 409)}``: each answered with the Error body."""
    return {status: OpenApiResponse(ErrorOutputSerializer, description=description) for status in statuses}
