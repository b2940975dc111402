"""The Billing Celery app: consumes only the ``billing`` queue; beat runs the sweepers."""
import os

from celery import Celery

from oficina_common.celery_config import celery_settings
from oficina_common.correlation import install_celery_correlation
from oficina_common.metrics import install_celery_metrics

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.conf import settings  # noqa: E402

app = Celery("billing")
app.config_from_object(celery_settings("billing", settings.CELERY_BROKER_URL))
install_celery_correlation(app)
install_celery_metrics(app, "billing", port=settings.METRICS_PORT)
app.autodiscover_tasks(["billing"])
app.conf.beat_schedule = {
    "sweep-outbox": {"task": "billing.sweep_outbox", "schedule": settings.BEAT_OUTBOX_SWEEP_SECONDS},
    "reconcile-pending-payments": {"task": "billing.reconcile_pending_payments",
                                   "schedule": settings.BEAT_RECONCILE_SECONDS},
    "expire-budgets": {"task": "billing.expire_budgets", "schedule": settings.BEAT_EXPIRE_BUDGETS_SECONDS},
}
