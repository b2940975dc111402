"""``/healthz`` and ``/readyz`` (oficina_common.health): Billing needs its DynamoDB tables and the broker."""
from __future__ import annotations

from django.conf import settings

from oficina_common.dynamodb import check_tables
from oficina_common.health import check_broker, healthz, readiness_view

__all__ = ["healthz", "readyz"]


def _dynamodb() -> None:
    from billing.tables import ALL_TABLES, dynamo_settings

    check_tables(dynamo_settings(), ALL_TABLES)


readyz = readiness_view({"dynamodb": _dynamodb, "broker": lambda: check_broker(settings.CELERY_BROKER_URL)})
