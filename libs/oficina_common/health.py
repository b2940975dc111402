"""Liveness and readiness, the same in every service.

``/healthz``: the process answers (liveness and startup probes). ``/readyz``: it can work, every
dependency answered (the readiness probe, compose's healthcheck). Every service answers the same
JSON: ``{"status": "ok" | "unavailable", "checks": {name: "ok" | "unavailable: <what failed>"}}``,
200 or 503.

Each check fails fast (one attempt, a couple of seconds): a probe that waited on a slow dependency
would hold one of the web process's few threads for as long, every probe period.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 2


@csrf_exempt  # a POST gets a plain 405, not the CSRF failure page (nothing here changes state)
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers."""
    return JsonResponse({"status": "ok"})


def readiness_view(checks: Mapping[str, Callable[[], Any]]) -> Callable[[HttpRequest], JsonResponse]:
    """A ``/readyz`` view running ``checks`` (name -> a callable that raises when not ready)."""

    @csrf_exempt
    @require_GET
    def readyz(request: HttpRequest) -> JsonResponse:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                check()
                results[name] = "ok"
            except Exception as exc:  # any failure means "not ready", reported, never a 500
                logger.warning("readiness check %s failed: %s", name, exc)
                results[name] = f"unavailable: {type(exc).__name__}"
        ready = all(result == "ok" for result in results.values())
        return JsonResponse({"status": "ok" if ready else "unavailable", "checks": results},
                            status=200 if ready else 503)

    return readyz


def check_database() -> None:
    """The default database answers a query."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def check_broker(url: str) -> None:
    """The Celery broker at ``url`` accepts a connection and answers on it.

    ``socket_timeout`` bounds the answer: a broker that accepts the connection and then says nothing
    would otherwise hold the probe (and its thread) forever, whatever ``ensure_connection`` is told."""
    from kombu import Connection

    with Connection(url, connect_timeout=TIMEOUT_SECONDS,
                    transport_options={"socket_timeout": TIMEOUT_SECONDS}) as connection:
        connection.ensure_connection(max_retries=0, timeout=TIMEOUT_SECONDS)
