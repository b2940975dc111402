from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError

from oficina_common.celery_config import MAX_RETRY_COUNTDOWN
from oficina_common.consumer import DEAD_LETTER_TASK

from . import services


# Not a consumer_task: a dead letter that cannot be recorded must not become a dead letter itself.
@shared_task(name=DEAD_LETTER_TASK, acks_late=True, ignore_result=True,
             autoretry_for=(OperationalError, InterfaceError), max_retries=12,
             retry_backoff=2, retry_backoff_max=MAX_RETRY_COUNTDOWN, retry_jitter=True)
def record_dead_letter(letter: dict[str, Any]) -> int:
    """What another service's worker (or the OS's own) gave up on: kept for the admin."""
    return services.dead_letter_record(letter=letter).pk
