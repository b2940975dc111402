"""OpenAPI pieces every service shares: the JWT scheme (drf-spectacular knows only simplejwt's own),
the error body and the error answers every operation may give (:class:`AutoSchema`), and the
builders of request, response and error examples.

Importing this module registers the extension: each service imports it once (urls or AppConfig.ready).
"""
from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from oficina_common.errors import ValidationFailed


class OficinaJWTScheme(SimpleJWTScheme):
    target_class = "oficina_common.authentication.JWTAuthentication"
    name = "jwtAuth"

    def get_security_requirement(self, auto_schema: Any) -> None:
        return None  # SPECTACULAR_SETTINGS["SECURITY"] already names jwtAuth for every operation


class PageTokenField(serializers.RegexField):
    """``?page_token=``: the ``next_page_token`` of the page before, as the server made it (base64url)."""

    MAX_LENGTH = 1024  # a start key of ours, with room; and a URL that fits the server's request line

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "The `next_page_token` of the page before.")
        super().__init__(r"^[A-Za-z0-9_-]*$", max_length=self.MAX_LENGTH, **kwargs)

    def run_validation(self, data: Any = serializers.empty) -> Any:
        try:
            return super().run_validation(data)
        except serializers.ValidationError:
            # What a token the server cannot read is answered everywhere (oficina_common.dynamodb).
            raise ValidationFailed("Invalid page token.", code="invalid_page_token") from None


def request_example(name: str, value: dict[str, Any], description: str = "") -> OpenApiExample:
    return OpenApiExample(name, value=value, request_only=True, description=description)


def response_example(name: str, value: Any, status: int = 200, description: str = "") -> OpenApiExample:
    return OpenApiExample(name, value=value, response_only=True, status_codes=[str(status)],
                          description=description)


def error_example(status: int, code: str, message: str, extra: dict[str, Any] | None = None,
                  name: str | None = None) -> OpenApiExample:
    """An answer of the shared exception handler (``{"message", "code", "extra"}``)."""
    return response_example(name or f"{status} {code}", {"message": message, "code": code, "extra": extra or {}},
                            status)


def field_error_example(field: str, message: str) -> OpenApiExample:
    """A 400 as a serializer refuses one field."""
    return error_example(400, "invalid", f"{field}: {message}", extra={"fields": {field: [message]}})


def throttled_example(wait: int = 42, message: str = "Request was throttled. Expected available in {wait} seconds."
                      ) -> OpenApiExample:
    """The 429 of a throttled request (DRF's Throttled through the shared handler; ``Retry-After`` says the same).
    ``message`` as DRF words it in the service's language."""
    return error_example(429, "throttled", message.format(wait=wait), extra={"retry_after_seconds": wait})


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    """Every error of the API: what the shared exception handler (``oficina_common.errors``) answers."""

    message = serializers.CharField(help_text="For people: what went wrong and, where it helps, what to do.")
    code = serializers.CharField(help_text="For programs: e.g. invalid, not_found, invalid_transition.")
    extra = serializers.DictField(help_text="Details: the fields at fault, both statuses of a refused move…")


# The answers of the shared exception handler that do not depend on what an operation does, only on
# how it is reached: documented on every operation they can come from (see AutoSchema.error_statuses).
COMMON_ERRORS = {
    400: "Invalid input: `extra.fields` (or `extra.field`) names what is wrong.",
    401: "No token, or an invalid or expired one.",
    403: "Your role (or, for a customer, the order) does not allow this.",
    404: "Not found (or not yours; or, with `page`, no such page).",
    415: "The body is not in a media type the operation reads (send JSON).",
    429: "Throttled: `Retry-After` says in how many seconds to try again.",
    503: "A store or the broker did not answer; try again (`Retry-After`).",
}


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema, plus the error answers every operation may give.

    An operation's own ``@extend_schema(responses=…)`` says what its work can answer (a 409 of a
    refused move); what the way it is reached can answer (a bad token, a missing permission, a path
    id that does not exist, a throttle, a store down) is added here, each with the Error body, unless
    the operation documents that status itself.
    """

    def error_statuses(self, operation: dict[str, Any]) -> list[int]:
        view = self.view
        parameters = operation.get("parameters", [])
        statuses = [503]
        if operation.get("requestBody") or any(p.get("in") != "path" for p in parameters):
            statuses.append(400)
        if operation.get("requestBody"):
            statuses.append(415)
        if any(p.get("in") == "path" for p in parameters) or any(
                p.get("in") == "query" and p.get("name") == "page" for p in parameters):
            statuses.append(404)  # an id that does not exist, or a page past the last
        if view.authentication_classes:
            statuses.append(401)  # a token is checked whenever one is sent, even where none is needed
        if any(not issubclass(permission, AllowAny) for permission in view.permission_classes):
            statuses.append(403)
        if getattr(view, "throttle_scope", None):
            statuses.append(429)
        return sorted(statuses)

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        responses = operation.setdefault("responses", {})
        for status in self.error_statuses(operation):
            responses.setdefault(str(status), {"content": {"application/json": {"schema": error}},
                                               "description": COMMON_ERRORS[status]})
        operation["responses"] = dict(sorted(responses.items()))
        return operation
