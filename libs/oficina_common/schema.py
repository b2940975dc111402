"""OpenAPI pieces every service shares: the JWT scheme (drf-spectacular knows only simplejwt's own)
and the builders of request, response and error examples.

Importing this module registers the extension: each service imports it once (urls or AppConfig.ready).
"""
from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.utils import OpenApiExample


class OficinaJWTScheme(SimpleJWTScheme):
    target_class = "oficina_common.authentication.JWTAuthentication"
    name = "jwtAuth"

    def get_security_requirement(self, auto_schema: Any) -> None:
        return None  # SPECTACULAR_SETTINGS["SECURITY"] already names jwtAuth for every operation


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
