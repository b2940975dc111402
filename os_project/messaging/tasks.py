from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError

from oficina_common.celery_config import backoff
from oficina_common.errors import ApplicationError
from service_orders.services import service_orders_resend_unanswered_diagnoses

from . import outbox, services

logger = logging.getLogger(__name__)

# Worth another try later: the database or the broker is briefly unreachable.
TRANSIENT = (OperationalError, InterfaceError, BrokerError)


@shared_task(name="os.handle_message", bind=True, acks_late=True, max_retries=10)
def handle_message(self, data: Any) -> str:
    try:
        return services.message_handle(data)
    except TRANSIENT as exc:
        raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
    except (ApplicationError, DatabaseError) as exc:
        # A message that can never succeed must not be retried forever.
        logger.error("dropped message %s: %s", data.get("message_id") if isinstance(data, dict) else "?", exc)
        return "rejected"


@shared_task(name="os.relay_outbox", acks_late=True, ignore_result=True)
def relay_outbox() -> int:
    """Beat's sweep: what the after-commit fast path could not publish (a crash, the broker down)."""
    return outbox.relay(min_age=timedelta(seconds=settings.OUTBOX_SWEEP_MIN_AGE_SECONDS))


@shared_task(name="os.resend_unanswered_diagnoses", acks_late=True, ignore_result=True)
def resend_unanswered_diagnoses() -> int:
    return service_orders_resend_unanswered_diagnoses()


@shared_task(name="os.purge_messages", acks_late=True, ignore_result=True)
def purge_messages() -> list[int]:
    return list(outbox.purge())
