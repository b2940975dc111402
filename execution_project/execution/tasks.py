"""Celery entry points: JSON in, one service call; retries, drops and dead letters follow the
consumer policy every service shares (oficina_common.consumer)."""
from __future__ import annotations

import logging
from typing import Any

from oficina_common.consumer import ConsumerPolicy, consumer_task, periodic_task

from . import services
from .wiring import get_dependencies

logger = logging.getLogger(__name__)

# A reply that came before the saga reached the step that waits for it: tried again later.
POLICY = ConsumerPolicy(also_transient=(services.ReplyTooEarly,), dropped_result="dropped")
is_transient = POLICY.is_transient


@consumer_task(name="execution.handle_message", policy=POLICY)
def handle_message(data: Any) -> str:
    """The consumer of the ``execution`` queue: every saga reply and event comes through here."""
    return services.message_handle(data, deps=get_dependencies())


@periodic_task(name="execution.sweep", what="saga sweep")
def sweep() -> dict[str, int]:
    """Celery beat, every ~15 s: sagas past their deadline, and stranded outbox messages."""
    report = services.saga_sweep(deps=get_dependencies())
    if report.timed_out or report.outbox_delivered or report.failed:
        logger.info("sweep: %s", report)
    return {"timed_out": report.timed_out, "failed": report.failed, "outbox_delivered": report.outbox_delivered}
