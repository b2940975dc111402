"""OpenAPI pieces shared by the OS endpoints: the error body and its examples."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from oficina_common.schema import ErrorSerializer, error_example

# Every error of the API (the shared exception handler's shape), as every service documents it.
ErrorOutputSerializer = ErrorSerializer


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
