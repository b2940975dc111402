"""The Celery app of the Execution service: consumes only the ``execution`` queue."""
from __future__ import annotations

import os

from celery import Celery

from oficina_common.celery_config import celery_settings
from oficina_common.correlation import install_celery_correlation
from oficina_common.messages import QUEUE_EXECUTION
from oficina_common.metrics import install_celery_metrics

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.conf import settings  # noqa: E402

app = Celery("execution")
app.conf.update(celery_settings(QUEUE_EXECUTION, settings.CELERY_BROKER_URL,
                                eager=settings.CELERY_TASK_ALWAYS_EAGER))
app.conf.beat_schedule = {
    "execution-sweep": {
        "task": "execution.sweep",
        "schedule": settings.SAGA_SWEEP_INTERVAL_SECONDS,
        "options": {"queue": QUEUE_EXECUTION, "expires": settings.SAGA_SWEEP_INTERVAL_SECONDS * 2},
    },
}
install_celery_correlation(app)
install_celery_metrics(app, "execution", port=settings.METRICS_PORT)
app.autodiscover_tasks(["execution"])
