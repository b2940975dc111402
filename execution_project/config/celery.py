"""The Celery app of the Execution service: consumes only the ``execution`` queue."""
from __future__ import annotations

import os

from celery import Celery

from oficina_common.celery_config import celery_settings, every
from oficina_common.correlation import install_celery_correlation, install_celery_logging
from oficina_common.messages import QUEUE_EXECUTION
from oficina_common.metrics import install_celery_metrics
from oficina_common.tracing import install_celery_tracing
from oficina_common.warmup import install_worker_warm_up

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.conf import settings  # noqa: E402

app = Celery("execution")
app.config_from_object(celery_settings(QUEUE_EXECUTION, settings.CELERY_BROKER_URL,
                                       eager=settings.CELERY_TASK_ALWAYS_EAGER))
app.conf.beat_schedule = {
    "execution-sweep": every(settings.SAGA_SWEEP_INTERVAL_SECONDS, "execution.sweep", queue=QUEUE_EXECUTION),
}
install_celery_correlation(app)
install_celery_logging()  # LOG_LEVEL rules the workers too, not their --loglevel
install_celery_metrics(app, "execution", port=settings.METRICS_PORT)
install_celery_tracing(app, "execution")  # OpenTelemetry, when configured (docs/tracing.md)
install_worker_warm_up(app)
app.autodiscover_tasks(["execution"])
