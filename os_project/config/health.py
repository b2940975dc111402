"""``/healthz`` and ``/readyz`` (oficina_common.health): the OS service needs PostgreSQL and the broker."""
from __future__ import annotations

from django.conf import settings

from oficina_common.health import check_broker, check_database, healthz, readiness_view

__all__ = ["healthz", "readyz"]

readyz = readiness_view({"database": check_database, "broker": lambda: check_broker(settings.CELERY_BROKER_URL)})
