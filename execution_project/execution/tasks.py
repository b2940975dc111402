"""Celery entry points: JSON in, one service call, nothing else."""
from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from celery import shared_task
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from oficina_common.celery_config import backoff
from oficina_common.errors import ApplicationError, ConcurrencyConflict, UpstreamUnavailable

from . import services
from .wiring import get_dependencies

logger = logging.getLogger(__name__)

_TRANSIENT_CODES = {
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable", "InternalFailure", "TransactionConflictException",
    "ResourceNotFoundException",  # tables still being created
}


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, services.ReplyTooEarly | ConcurrencyConflict | UpstreamUnavailable | BotoCoreError
                  | OperationalError | RedisConnectionError | RedisTimeoutError | ConnectionError | TimeoutError):
        return True
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in _TRANSIENT_CODES


@shared_task(name="execution.handle_message", bind=True, acks_late=True, max_retries=12)
def handle_message(self: Any, data: Any) -> str:
    """The consumer of the ``execution`` queue: every saga reply and event comes through here."""
    try:
        return services.message_handle(data, deps=get_dependencies())
    except Exception as exc:
        if is_transient(exc):
            countdown = backoff(self.request.retries)
            logger.warning("transient failure (%s); retrying in %ss", exc, countdown)
            raise self.retry(exc=exc, countdown=countdown) from exc
        if isinstance(exc, ApplicationError):
            logger.warning("dropped message: %s", exc.message)
            return "dropped"
        raise


@shared_task(name="execution.sweep", acks_late=True)
def sweep() -> dict[str, int]:
    """Celery beat, every ~15 s: sagas past their deadline, and stranded outbox messages."""
    report = services.saga_sweep(deps=get_dependencies())
    if report.timed_out or report.outbox_delivered or report.failed:
        logger.info("sweep: %s", report)
    return {"timed_out": report.timed_out, "failed": report.failed, "outbox_delivered": report.outbox_delivered}
