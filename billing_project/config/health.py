"""Liveness (the process answers) and readiness (DynamoDB and the broker answer too)."""
from __future__ import annotations

import logging

from django.http import HttpRequest, JsonResponse

logger = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _dynamodb() -> None:
    from billing.tables import BUDGETS, dynamo_settings, table

    table(BUDGETS, dynamo_settings()).meta.client.describe_table(
        TableName=BUDGETS.physical_name(dynamo_settings().table_prefix))


def _broker() -> None:
    from config.celery import app

    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=2)


def readyz(request: HttpRequest) -> JsonResponse:
    checks = {}
    for name, check in (("dynamodb", _dynamodb), ("broker", _broker)):
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:
            logger.warning("readiness check %s failed: %s", name, exc)
            checks[name] = "unavailable"
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503)
