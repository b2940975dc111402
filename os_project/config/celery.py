"""The OS service's Celery app: it consumes only the ``os`` queue."""
from __future__ import annotations

import os

from celery import Celery, signals
from django.conf import settings
from django.db import close_old_connections

from oficina_common.celery_config import celery_settings, every
from oficina_common.correlation import install_celery_correlation, install_celery_logging
from oficina_common.metrics import install_celery_metrics
from oficina_common.tracing import install_celery_tracing
from oficina_common.warmup import install_worker_warm_up

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("os")
app.config_from_object({
    **celery_settings("os", settings.CELERY_BROKER_URL, eager=settings.CELERY_TASK_ALWAYS_EAGER),
    # Celery's Django fix-up closes the worker's database connection before and after every task
    # unless this is set, so every task paid for a new PostgreSQL connection: a backend process
    # forked, authenticated and set up, about as much work as the task itself. A task now treats
    # its connection as Django treats a request's (below): kept for CONN_MAX_AGE, health-checked
    # before reuse (CONN_HEALTH_CHECKS), dropped after an error. The fix-up still closes every
    # thread's connection once in this many tasks.
    "CELERY_DB_REUSE_MAX": 1000,
})
install_celery_correlation(app)
install_celery_logging()  # LOG_LEVEL rules the workers too, not their --loglevel
install_celery_metrics(app, "os", port=settings.METRICS_PORT)
install_celery_tracing(app, "os")  # OpenTelemetry, when configured (docs/tracing.md)
install_worker_warm_up(app)
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # Messages whose after-commit relay never ran (a crash, the broker down for a moment).
    "relay-outbox-leftovers": every(settings.OUTBOX_SWEEP_SECONDS, "os.relay_outbox"),
    # A diagnosis whose message the broker lost after it was handed over: published again.
    "resend-unanswered-diagnoses": every(60.0, "os.resend_unanswered_diagnoses"),
    # Work a customer declined, offered again DECLINED_WORK_REMINDER_DAYS later (once per order).
    "remind-declined-work": every(3600.0, "os.remind_declined_work"),
    "purge-old-messages": every(6 * 3600, "os.purge_messages"),
}


@signals.task_prerun.connect
@signals.task_postrun.connect
def _as_a_request_would(sender=None, **_) -> None:  # noqa: ANN001, ANN003
    """Close the task thread's connection if it is broken or past CONN_MAX_AGE (Django does this at
    every request's start and end); with CONN_MAX_AGE=0 that is after every task, as before. Eager
    tasks run inside the caller's transaction and leave its connection alone, as the fix-up does."""
    if not getattr(sender.request, "is_eager", False):
        close_old_connections()
