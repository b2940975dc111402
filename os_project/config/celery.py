"""The OS service's Celery app: it consumes only the ``os`` queue."""
from __future__ import annotations

import os

from celery import Celery
from django.conf import settings

from oficina_common.celery_config import celery_settings
from oficina_common.correlation import install_celery_correlation
from oficina_common.metrics import install_celery_metrics

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("os")
app.config_from_object(celery_settings("os", settings.CELERY_BROKER_URL, eager=settings.CELERY_TASK_ALWAYS_EAGER))
install_celery_correlation(app)
install_celery_metrics(app, "os", port=settings.METRICS_PORT)
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # Messages whose after-commit relay never ran (a crash, the broker down for a moment).
    "relay-outbox-leftovers": {
        "task": "os.relay_outbox",
        "schedule": settings.OUTBOX_SWEEP_SECONDS,
    },
    "purge-old-messages": {
        "task": "os.purge_messages",
        "schedule": 6 * 3600,
    },
}
