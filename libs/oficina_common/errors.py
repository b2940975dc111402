"""One family of application errors, rendered by one DRF exception handler.

Every error a user can trigger becomes ``{"message", "code", "extra"}`` with a 4xx status;
anything else is logged and answered with a generic 500 body (no traceback leaks).
"""
from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    status_code = status.HTTP_400_BAD_REQUEST
    code = "application_error"

    def __init__(self, message: str, *, code: str | None = None, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extra = extra or {}


class ValidationFailed(ApplicationError):
    status_code = status.HTTP_400_BAD_REQUEST
    code = "invalid"


class AuthenticationRequired(ApplicationError):
    status_code = status.HTTP_401_UNAUTHORIZED
    code = "not_authenticated"


class PermissionDenied(ApplicationError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "permission_denied"


class NotFound(ApplicationError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"


class InvalidTransition(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    code = "invalid_transition"


class ConcurrencyConflict(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    code = "concurrency_conflict"


class AlreadyExists(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    code = "already_exists"


class TooManyRequests(ApplicationError):
    """Refused for now (a login locked out after repeated failures): ``Retry-After`` says when to try again."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int | None = None, code: str | None = None,
                 extra: dict[str, Any] | None = None):
        if retry_after is not None:
            extra = {**(extra or {}), "retry_after_seconds": retry_after}
        super().__init__(message, code=code, extra=extra)
        self.retry_after = retry_after


class UpstreamUnavailable(ApplicationError):
    """An outside system (Mercado Pago, the broker) failed; the caller may retry."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "upstream_unavailable"


try:
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )
except ImportError:  # a service without boto3 (the OS) never meets these
    ClientError = None  # type: ignore[assignment,misc]
    _DYNAMODB_UNREACHABLE: tuple[type[BaseException], ...] = ()
else:
    _DYNAMODB_UNREACHABLE = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)

_OVERLOADED = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
                         "InternalServerError", "ServiceUnavailable"})


def _is_dynamodb_overloaded(exc: Exception) -> bool:
    return ClientError is not None and isinstance(exc, ClientError) and \
        exc.response.get("Error", {}).get("Code") in _OVERLOADED


def _first_message(detail: Any) -> str:
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        inner = _first_message(value)
        return inner if key == "non_field_errors" else f"{key}: {inner}"
    return str(detail)


def _body(message: str, code: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"message": message, "code": code, "extra": extra or {}}


@csrf_exempt  # no state changes here: a POST to nowhere is a 404, not the CSRF page
def api_not_found(request: Any, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any ``/api/…/`` path no route takes (``/api/v1/customers/0.5/``): the API's 404 body, JSON even
    with DEBUG on, where Django would answer its HTML page. Routed last, for paths ending in ``/``
    (so that APPEND_SLASH still redirects ``/api/v1/customers`` to its route)."""
    return JsonResponse(_body("Not found.", "not_found"), status=status.HTTP_404_NOT_FOUND)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF ``EXCEPTION_HANDLER``: every error the same shape, the right status."""
    if isinstance(exc, ApplicationError):
        retry_after = getattr(exc, "retry_after", None)
        return Response(_body(exc.message, exc.code, exc.extra), status=exc.status_code,
                        headers={"Retry-After": str(retry_after)} if retry_after is not None else None)
    if isinstance(exc, Http404):
        return Response(_body("Not found.", "not_found"), status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, DjangoPermissionDenied):
        return Response(_body("You do not have permission to perform this action.", "permission_denied"),
                        status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return Response(_body(_first_message(detail), "invalid", {"fields": detail}),
                        status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, drf_exceptions.ValidationError):
        return Response(_body(_first_message(exc.detail), "invalid", {"fields": exc.detail}),
                        status=exc.status_code)
    if isinstance(exc, drf_exceptions.APIException):
        detail, codes = exc.detail, exc.get_codes()
        if isinstance(detail, dict) and "detail" in detail:
            # simplejwt's InvalidToken/AuthenticationFailed: {"detail": ..., "code": ..., "messages": [...]}
            codes = codes.get("code") or codes.get("detail") if isinstance(codes, dict) else codes
            detail = detail["detail"]
        code = codes if isinstance(codes, str) else "error"
        headers, extra = {}, {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None) is not None:
            # DRF's Throttled: whole seconds, rounded up (DRF does), in the header and the body.
            headers["Retry-After"] = str(exc.wait)
            extra["retry_after_seconds"] = exc.wait
        return Response(_body(_first_message(detail), code, extra), status=exc.status_code, headers=headers)
    if isinstance(exc, _DYNAMODB_UNREACHABLE) or _is_dynamodb_overloaded(exc):
        # DynamoDB did not answer (a restart, a network blip, throttling): a read changed nothing,
        # and a conditional write either landed whole or not at all; the client tries again.
        logger.warning("DynamoDB unavailable: %s", exc, extra={"view": str(context.get("view"))})
        return Response(_body("The service is briefly unavailable; try again in a moment.", "database_unavailable"),
                        status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "1"})
    if isinstance(exc, DatabaseOperationalError | DatabaseInterfaceError):
        # The database went away under the request (a failover, a killed connection): nothing
        # was written (the request's transaction rolled back), and the next try gets a new one.
        logger.warning("database unavailable: %s", exc, extra={"view": str(context.get("view"))})
        return Response(_body("The service is briefly unavailable; try again in a moment.", "database_unavailable"),
                        status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "1"})
    logger.exception("unhandled error", extra={"view": str(context.get("view"))})
    return Response(_body("Internal error; it has been logged.", "internal_error"),
                    status=status.HTTP_500_INTERNAL_SERVER_ERROR)
