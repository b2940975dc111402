"""One correlation id (the saga id once there is one) through requests, messages and logs."""
from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .tracing import current_trace_id

HEADER = "X-Correlation-ID"
# Not "correlation_id": Celery already uses that name for the task id.
TASK_HEADER = "oficina_correlation_id"
_META_KEY = "HTTP_X_CORRELATION_ID"
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

_correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")


def get_correlation_id() -> str:
    return _correlation_id.get()


def set_correlation_id(value: str) -> contextvars.Token:
    return _correlation_id.set(value)


@contextmanager
def bind_correlation_id(value: str | None) -> Iterator[str]:
    token = _correlation_id.set(value or str(uuid.uuid4()))
    try:
        yield _correlation_id.get()
    finally:
        _correlation_id.reset(token)


def outgoing_headers() -> dict[str, str]:
    """Headers for an outgoing HTTP call (e.g. to Mercado Pago) carrying the correlation id."""
    value = get_correlation_id()
    return {HEADER: value} if value != "-" else {}


class CorrelationIdMiddleware:
    """Takes ``X-Correlation-ID`` from the request (or makes one) and echoes it in the response."""

    def __init__(self, get_response: Callable):
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        incoming = request.META.get(_META_KEY, "")
        value = incoming if _VALID.match(incoming) else str(uuid.uuid4())
        # Not reset on the way out: Django logs 4xx/5xx responses (django.request) after the
        # middleware returns, and those lines need the id too. The next request sets its own.
        set_correlation_id(value)
        request.correlation_id = value
        response = self.get_response(request)
        response[HEADER] = value
        return response


class CorrelationIdFilter(logging.Filter):
    """Puts the correlation id and the trace id (``-`` when tracing is off) on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = get_correlation_id()
        record.trace_id = current_trace_id()
        return True


def logging_config(service: str, level: str = "INFO", json: bool = True) -> dict[str, Any]:
    """A ``LOGGING`` dict: one line per record, JSON in production, with the correlation id."""
    fmt = "%(asctime)s %(levelname)s %(name)s %(correlation_id)s %(message)s"
    formatter: dict[str, Any] = {"format": fmt}
    if json:
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            # The trace id finds the line's trace in the tracing backend (docs/tracing.md).
            "format": f"{fmt} %(trace_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "static_fields": {"service": service},
        }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "correlation": {"()": "oficina_common.correlation.CorrelationIdFilter"},
            # The approval link's token, the tracking code…: never in a log line (docs/security.md).
            "redact_secrets": {"()": "oficina_common.security.RedactSecretsFilter"},
        },
        "formatters": {"default": formatter},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "default",
                        "filters": ["correlation", "redact_secrets"]},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's own handlers (its DEBUG console, runserver's) would print the records a second
            # time, unformatted and unredacted: every record goes through the console handler above.
            "django": {"handlers": [], "level": "INFO", "propagate": True},
            "django.server": {"handlers": [], "level": "WARNING", "propagate": True},
            "botocore": {"level": "WARNING"},
            "urllib3": {"level": "WARNING"},
        },
    }


def logging_as_the_service_says(**_: Any) -> None:
    """Celery's ``setup_logging`` receiver: Django's ``LOGGING``, applied again."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


def install_celery_logging() -> None:
    """Workers and beat log as the service's ``LOGGING`` says (``LOG_LEVEL``, JSON, the correlation
    id, the redaction), like its web processes, whatever their command line's ``--loglevel``.

    Celery configures logging itself, root level included, unless a receiver of its
    ``setup_logging`` signal does it. Without one, an operator's ``LOG_LEVEL=WARNING`` quieted the
    web processes but not the workers, which went on logging every task at INFO.
    """
    from celery import signals

    signals.setup_logging.connect(logging_as_the_service_says, weak=False, dispatch_uid=__name__)


def install_celery_correlation(app: Any) -> None:
    """Carry the correlation id in task headers and bind it while a task runs."""
    from celery import signals

    @signals.before_task_publish.connect(weak=False)
    def _add_header(headers: dict | None = None, **_: Any) -> None:
        if headers is not None and not headers.get(TASK_HEADER):
            value = get_correlation_id()
            if value != "-":
                headers[TASK_HEADER] = value

    @signals.task_prerun.connect(weak=False)
    def _bind(task: Any = None, **_: Any) -> None:
        value = getattr(task.request, TASK_HEADER, None) if task else None
        task.request._correlation_token = set_correlation_id(value or str(uuid.uuid4())) if task else None

    @signals.task_postrun.connect(weak=False)
    def _unbind(task: Any = None, **_: Any) -> None:
        token = getattr(task.request, "_correlation_token", None) if task else None
        if token is not None:
            _correlation_id.reset(token)
