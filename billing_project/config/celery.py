"""The Billing Celery app: consumes only the ``billing`` queue; beat runs the sweepers."""
import os

from celery import Celery

from oficina_common.celery_config import celery_settings, every
from oficina_common.correlation import install_celery_correlation, install_celery_logging
from oficina_common.metrics import install_celery_metrics
from oficina_common.tracing import install_celery_tracing
from oficina_common.warmup import install_worker_warm_up

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.conf import settings  # noqa: E402

app = Celery("billing")
app.config_from_object(celery_settings("billing", settings.CELERY_BROKER_URL))
install_celery_correlation(app)
install_celery_logging()  # LOG_LEVEL rules the workers too, not their --loglevel
install_celery_metrics(app, "billing", port=settings.METRICS_PORT)
install_celery_tracing(app, "billing")  # OpenTelemetry, when configured (docs/tracing.md)
install_worker_warm_up(app)
app.autodiscover_tasks(["billing"])
app.conf.beat_schedule = {
    "sweep-outbox": every(settings.BEAT_OUTBOX_SWEEP_SECONDS, "billing.sweep_outbox"),
    "reconcile-pending-payments": every(settings.BEAT_RECONCILE_SECONDS, "billing.reconcile_pending_payments"),
    "expire-budgets": every(settings.BEAT_EXPIRE_BUDGETS_SECONDS, "billing.expire_budgets"),
}
