"""Putting envelopes on the broker and taking them off.

Publishing is ``send_task`` by name onto the destination service's own queue, so no service
imports another's code. Delivery is at least once, so every consumer makes a repeated message
change nothing twice, in one of two ways:

- through an :class:`Inbox` (the OS: a row per handled message id, written in the handler's
  transaction): ``dispatch(data, inbox)`` runs the handler only for an id it has not seen;
- by itself (``dispatch(data, None)``): Billing's commands are idempotent by what they do, and the
  saga's item records the ids it has applied in the same conditional write as the change; a
  handler may return :data:`DUPLICATE` for a message it had already applied.

Either way a repeated command is answered again (the receiver publishes the reply it gave the
first time, with the same message id): the saga sends a command again when its reply was lost.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol
from urllib.parse import urlsplit

from celery import Celery

from .correlation import TASK_HEADER, bind_correlation_id
from .messages import Envelope, InvalidMessage, handler_task_name

logger = logging.getLogger(__name__)


class Publisher(Protocol):
    def publish(self, envelope: Envelope) -> None: ...


# Brokers whose queue is made by the first message put on it: a Redis list, which LPUSH creates.
_QUEUE_MADE_BY_PUBLISHING = frozenset({"redis", "rediss"})


def needs_declaring(broker_url: str) -> bool:
    """Whether a publish to ``broker_url`` must declare its queue first. Celery's default, for every
    publish, is to bind a copy of the queue and its exchange to the channel only to find them in
    kombu's cache of what it declared: about a sixth of a publish's CPU. On Redis a message to
    the default exchange is pushed onto the list named by the queue, which the push creates, so
    nothing is declared there; other brokers (SQS, AMQP) keep Celery's declaration."""
    return urlsplit(broker_url or "").scheme.lower() not in _QUEUE_MADE_BY_PUBLISHING


class CeleryPublisher:
    def __init__(self, app: Celery):
        self.app = app
        self._declares = needs_declaring(app.conf.broker_url)

    def publish(self, envelope: Envelope) -> None:
        data = envelope.to_dict()
        self.app.send_task(
            handler_task_name(envelope.queue),
            args=[data],
            queue=envelope.queue,
            # A new list each time: kombu appends the producer's exchange to the list it is given
            # when that exchange has a name (Celery's producers use the nameless one).
            declare=None if self._declares else [],
            headers={TASK_HEADER: envelope.saga_id},
            # What monitoring (celery inspect, Flower) shows of the task: the message, not its
            # payload (customers' names and e-mails), and Celery skips its saferepr of the
            # arguments (~20% of a publish).
            argsrepr=f"({envelope.type} {envelope.message_id})",
            kwargsrepr="{}",
        )
        logger.info("published %s", envelope.type,
                    extra={"message_id": envelope.message_id, "message_type": envelope.type})


class RecordingPublisher:
    """A fake publisher for unit tests: keeps what was published."""

    def __init__(self) -> None:
        self.published: list[Envelope] = []

    def publish(self, envelope: Envelope) -> None:
        self.published.append(envelope)

    def types(self) -> list[str]:
        return [e.type for e in self.published]


class Inbox(Protocol):
    def seen(self, message_id: str) -> bool: ...

    def mark(self, message_id: str, message_type: str) -> bool:
        """Record the message; False when it was already recorded (someone else won)."""
        ...


class ClaimingInbox(Protocol):
    """An inbox in the handler's own transaction: the message is recorded before its handler runs,
    and the record goes (rolls back) with the handler's effects."""

    def claim(self, message_id: str, message_type: str) -> bool:
        """Record the message; False when it was recorded already (a duplicate)."""
        ...


class MemoryInbox:
    def __init__(self) -> None:
        self.ids: set[str] = set()

    def seen(self, message_id: str) -> bool:
        return message_id in self.ids

    def mark(self, message_id: str, message_type: str) -> bool:
        if message_id in self.ids:
            return False
        self.ids.add(message_id)
        return True


Handler = Callable[[Envelope], Any]

# What a handler that de-duplicates by itself returns for a message it had already applied.
DUPLICATE = "duplicate"


class Dispatcher:
    """Maps message types to handlers; unknown or malformed envelopes are logged and dropped.

    The payload is checked against its type's contract here, once: the handler reads the typed
    payload (``envelope.body``) or, for a payload that does not follow it, the error, and refuses
    the message the way its service refuses a command (some answer with a failure reply)."""

    def __init__(self, handlers: dict[str, Handler]):
        self.handlers = handlers

    @property
    def types(self) -> Iterable[str]:
        return self.handlers.keys()

    def dispatch(self, data: Any, inbox: Inbox | ClaimingInbox | None) -> str:
        """Run the message's handler once; ``inbox=None``: the handler de-duplicates by itself."""
        try:
            envelope = Envelope.from_dict(data)
        except (InvalidMessage, TypeError) as exc:
            logger.error("dropped malformed message: %s", exc)
            return "malformed"
        with bind_correlation_id(envelope.saga_id):
            handler = self.handlers.get(envelope.type)
            if handler is None:
                logger.warning("no handler for %s; dropped", envelope.type)
                return "unhandled"
            error = envelope.payload_error()  # checked once, here; the handler reads the result
            if error is not None:
                logger.info("%s %s does not follow its contract: %s", envelope.type, envelope.message_id, error)
            if inbox is None:
                if handler(envelope) == DUPLICATE:
                    logger.info("duplicate %s %s ignored", envelope.type, envelope.message_id)
                    return DUPLICATE
                return "handled"
            claim = getattr(inbox, "claim", None)
            if claim is not None:
                # An inbox in the handler's own transaction records the message first, in one
                # statement: a second delivery waits for the first's commit and finds it there.
                if not claim(envelope.message_id, envelope.type):
                    logger.info("duplicate %s %s ignored", envelope.type, envelope.message_id)
                    return "duplicate"
                handler(envelope)
                return "handled"
            if inbox.seen(envelope.message_id):
                logger.info("duplicate %s %s ignored", envelope.type, envelope.message_id)
                return "duplicate"
            handler(envelope)
            if not inbox.mark(envelope.message_id, envelope.type):
                logger.warning("%s %s was handled twice at once", envelope.type, envelope.message_id)
            return "handled"
