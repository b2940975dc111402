from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from oficina_common.errors import ApplicationError
from oficina_common.messaging import DUPLICATE

from . import outbox
from .handlers import dispatcher
from .inbox import DatabaseInbox
from .models import ProcessedMessage

logger = logging.getLogger(__name__)


def message_handle(data: Any) -> str:
    """Run one consumed message: its effects, its replies and its inbox row commit together.

    Returns what happened: handled, duplicate (its effects were made once already; the replies
    it caused are published again), rejected (a domain error: logged, never retried),
    malformed or unhandled.
    """
    try:
        with transaction.atomic():
            outcome = dispatcher.dispatch(data, DatabaseInbox())
    except ApplicationError as exc:
        logger.warning("dropped %s %s: %s", data.get("type"), data.get("message_id"), exc.message)
        # Remember it, so a redelivery is not tried again.
        ProcessedMessage.objects.get_or_create(message_id=str(data.get("message_id")),
                                               defaults={"type": str(data.get("type"))})
        return "rejected"
    if outcome == DUPLICATE:
        # The saga sends a command again when its reply was lost: answer it again, change nothing.
        answered = outbox.republish(str(data.get("message_id")))
        logger.info("repeated %s %s answered again (%d message(s))", data.get("type"), data.get("message_id"),
                    answered)
    return outcome
