"""The transactional outbox on PostgreSQL.

``publish`` only writes a row, inside the caller's transaction. Once the transaction commits, the
same process hands the message to the broker and stamps the row (no extra Celery hop); beat's
relay sweeps up what a crash or a broker outage left. Delivery is at-least-once; consumers
de-duplicate by message id.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from oficina_common.messages import Envelope, InvalidMessage
from oficina_common.messaging import Publisher

from .models import OutboxMessage, ProcessedMessage
from .publishers import get_publisher

logger = logging.getLogger(__name__)


def publish(envelope: Envelope, *, caused_by: str = "") -> OutboxMessage:
    """Record ``envelope`` for publishing when (and only if) the current transaction commits.

    ``caused_by``: the id of the command it answers, so that a repeat of that command is
    answered again (:func:`republish`).
    """
    data = envelope.to_dict()  # validates against the envelope schema now, not at relay time
    message = OutboxMessage.objects.create(
        message_id=envelope.message_id,
        type=envelope.type,
        queue=envelope.queue,
        saga_id=envelope.saga_id,
        service_order_id=envelope.service_order_id,
        caused_by=caused_by,
        envelope=data,
    )
    transaction.on_commit(partial(_publish_committed, envelope, message.pk), robust=True)
    return message


def _publish_committed(envelope: Envelope, pk: int) -> None:
    """The fast path, right after the commit: a failure here only leaves the row to the sweep."""
    _try_publish(get_publisher(), envelope, pk)


def _try_publish(publisher: Publisher, envelope: Envelope, pk: int) -> bool:
    """Hand row ``pk``'s message to the broker and record the try; False when the broker refused."""
    try:
        publisher.publish(envelope)
    except Exception as exc:  # the broker is down: the row waits for the next sweep
        logger.warning("outbox could not publish %s (the sweep retries): %s", envelope.type, exc)
        _record_attempt(pk, f"{type(exc).__name__}: {exc}")
        return False
    _record_attempt(pk, "", published=True)
    return True


def _record_attempt(pk: int, error: str, *, published: bool = False) -> None:
    changes = {"attempts": F("attempts") + 1, "last_error": error[:2000]}
    if published:
        changes["published_at"] = timezone.now()
    OutboxMessage.objects.filter(pk=pk, published_at__isnull=True).update(**changes)


def republish(caused_by: str, *, publisher: Publisher | None = None) -> int:
    """Publish again the replies a command caused (the same envelopes, the same message ids).

    A repeat of a command was handled once already: its effects stay as they are, but the saga
    re-sends a command when the reply did not reach it, so the reply goes out again and the
    saga's inbox takes it once. A command that was rejected caused nothing to repeat.
    """
    publisher = publisher or get_publisher()
    sent = 0
    for message in OutboxMessage.objects.filter(caused_by=caused_by).order_by("created_at"):
        publisher.publish(Envelope.from_dict(message.envelope))  # a broker outage: the task retries
        _record_attempt(message.pk, "", published=True)
        sent += 1
    return sent


def relay(*, publisher: Publisher | None = None, limit: int | None = None,
          min_age: timedelta = timedelta(0)) -> int:
    """Publish unpublished messages at least ``min_age`` old, oldest first; returns how many went out.

    Rows are locked with SKIP LOCKED, so relays running at once never publish the same row;
    a row is stamped only after the broker took it. Beat's sweep passes a few seconds of
    ``min_age``, so that it leaves a message just committed to its own process's fast path.
    """
    publisher = publisher or get_publisher()
    limit = limit or settings.OUTBOX_BATCH_SIZE
    sent = 0
    with transaction.atomic():
        batch = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(published_at__isnull=True, created_at__lte=timezone.now() - min_age)
            .order_by("created_at")[:limit]
        )
        for message in batch:
            try:
                envelope = Envelope.from_dict(message.envelope)
            except InvalidMessage as exc:  # cannot happen for rows written by publish(); never block the rest
                _record_attempt(message.pk, f"invalid envelope: {exc}")
                logger.error("outbox message %s is not a valid envelope: %s", message.message_id, exc)
                continue
            if not _try_publish(publisher, envelope, message.pk):
                break
            sent += 1
    return sent


def resend_unanswered(*, message_type: str, service_order_ids: list[str], older_than: timedelta,
                      max_attempts: int, publisher: Publisher | None = None) -> int:
    """Publish again, with its own id, a message already handed to the broker whose effect was
    never seen: a broker that loses everything (a Redis restart, a failover) loses it after we
    marked it published. The receiver takes a repeat once. Each row is tried again at most
    ``max_attempts`` times, ``older_than`` apart; returns how many went out."""
    publisher = publisher or get_publisher()
    cutoff = timezone.now() - older_than
    sent = 0
    with transaction.atomic():
        rows = list(OutboxMessage.objects.select_for_update(skip_locked=True).filter(
            type=message_type, service_order_id__in=service_order_ids, published_at__lt=cutoff,
            attempts__lte=max_attempts))
        for row in rows:
            if _try_publish_again(publisher, row):
                sent += 1
    return sent


def _try_publish_again(publisher: Publisher, row: OutboxMessage) -> bool:
    try:
        publisher.publish(Envelope.from_dict(row.envelope))
    except Exception as exc:  # the broker is down: the next run tries again
        logger.warning("could not publish %s again: %s", row.type, exc)
        return False
    OutboxMessage.objects.filter(pk=row.pk).update(published_at=timezone.now(), attempts=F("attempts") + 1)
    logger.warning("%s %s published again: its effect was never seen", row.type, row.message_id,
                   extra={"message_id": str(row.message_id), "message_type": row.type})
    return True


def purge(*, older_than: timedelta | None = None) -> tuple[int, int]:
    """Delete published outbox rows and inbox ids older than the retention (redeliveries come soon)."""
    cutoff = timezone.now() - (older_than or timedelta(days=settings.MESSAGE_RETENTION_DAYS))
    outbox, _ = OutboxMessage.objects.filter(published_at__lt=cutoff).delete()
    inbox, _ = ProcessedMessage.objects.filter(processed_at__lt=cutoff).delete()
    return outbox, inbox
