from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError

from oficina_common.consumer import ConsumerPolicy, consumer_task, periodic_task
from oficina_common.errors import ApplicationError
from service_orders.services import service_orders_resend_unanswered_diagnoses

from . import outbox, services

# A database error other than an outage (a constraint, bad data) can never succeed either.
POLICY = ConsumerPolicy(dropped=(ApplicationError, DatabaseError), dropped_result="rejected")


@consumer_task(name="os.handle_message", policy=POLICY)
def handle_message(data: Any) -> str:
    return services.message_handle(data)


@periodic_task(name="os.relay_outbox", what="outbox relay")
def relay_outbox() -> int:
    """Beat's sweep: what the after-commit fast path could not publish (a crash, the broker down)."""
    return outbox.relay(min_age=timedelta(seconds=settings.OUTBOX_SWEEP_MIN_AGE_SECONDS))


@periodic_task(name="os.resend_unanswered_diagnoses", what="resending unanswered diagnoses")
def resend_unanswered_diagnoses() -> int:
    return service_orders_resend_unanswered_diagnoses()


@periodic_task(name="os.purge_messages", what="purge of old messages")
def purge_messages() -> list[int]:
    return list(outbox.purge())
