"""Liveness and readiness: ``/healthz`` says the process answers; ``/readyz`` that it can work."""
from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from kombu import Connection

logger = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_dynamodb() -> str:
    import boto3
    from botocore.config import Config

    from execution.tables import TABLES
    from execution.wiring import dynamo_settings

    dynamo = dynamo_settings()
    # A client that fails fast (no retries): readiness must answer quickly either way.
    credentials = {"aws_access_key_id": "local", "aws_secret_access_key": "local"} if dynamo.endpoint_url else {}
    client = boto3.session.Session().client(
        "dynamodb", endpoint_url=dynamo.endpoint_url, region_name=dynamo.region,
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=3), **credentials)
    for spec in TABLES:
        client.describe_table(TableName=spec.physical_name(dynamo.table_prefix))
    return "ok"


def _check_broker() -> str:
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as connection:
        connection.ensure_connection(max_retries=1, timeout=2)
    return "ok"


def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    ready = True
    for name, check in (("dynamodb", _check_dynamodb), ("broker", _check_broker)):
        try:
            checks[name] = check()
        except Exception as exc:  # any failure means "not ready", reported, never a 500
            logger.warning("readiness check %s failed: %s", name, exc)
            checks[name] = f"unavailable: {type(exc).__name__}"
            ready = False
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)
