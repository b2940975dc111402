import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from messaging import outbox
from messaging.models import OutboxMessage, ProcessedMessage
from messaging.publishers import celery_publisher, get_publisher
from messaging.tasks import purge_messages, relay_outbox
from oficina_common.messages import Envelope
from oficina_common.messaging import RecordingPublisher


def _event(n=0):
    return Envelope(type="os.OrderCancelled", saga_id="saga-1", service_order_id=f"order-{n}",
                    payload={"reason": f"r{n}", "cancelled_by": "ana"})


@pytest.mark.django_db
def test_a_message_is_published_only_after_the_commit(published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        outbox.publish(_event())
    assert published.published == []
    assert len(callbacks) == 1
    callbacks[0]()  # the commit happened: the same process publishes and stamps the row
    assert published.types() == ["os.OrderCancelled"]
    row = OutboxMessage.objects.get()
    assert row.published_at is not None and row.attempts == 1
    assert outbox.relay() == 0


@pytest.mark.django_db
def test_a_broker_down_at_commit_leaves_the_message_to_the_sweep(settings, django_capture_on_commit_callbacks):
    settings.OS_MESSAGE_PUBLISHER = "messaging.tests.integration.test_outbox.BrokerDown"
    with django_capture_on_commit_callbacks(execute=True):
        outbox.publish(_event())
    row = OutboxMessage.objects.get()
    assert row.published_at is None and row.attempts == 1 and "redis is down" in row.last_error


@pytest.mark.django_db
def test_nothing_leaves_when_the_transaction_rolls_back(published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                outbox.publish(_event())
                raise RuntimeError("the state change failed")
        except RuntimeError:
            pass
    assert published.published == [] and not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_the_sweep_publishes_leftovers_oldest_first_and_only_once(published, settings):
    for n in range(3):
        outbox.publish(_event(n))
    # Younger than the sweep's minimum age: the writer's own fast path is about to publish them.
    assert relay_outbox.apply().get() == 0
    # All made old enough, each as much (equal times would leave "oldest first" to the table's order).
    OutboxMessage.objects.update(created_at=F("created_at") - timedelta(seconds=settings.OUTBOX_SWEEP_MIN_AGE_SECONDS))
    assert relay_outbox.apply().get() == 3
    assert [e.service_order_id for e in published.published] == ["order-0", "order-1", "order-2"]
    assert relay_outbox.apply().get() == 0
    assert all(row.attempts == 1 for row in OutboxMessage.objects.all())


class BrokerDown(RecordingPublisher):
    def publish(self, envelope):
        raise ConnectionError("redis is down")


@pytest.mark.django_db
def test_a_broker_outage_keeps_the_message_for_the_next_sweep(published):
    outbox.publish(_event(0))
    outbox.publish(_event(1))
    assert outbox.relay(publisher=BrokerDown()) == 0
    row = OutboxMessage.objects.get(service_order_id="order-0")
    assert row.published_at is None and row.attempts == 1 and "redis is down" in row.last_error
    assert outbox.relay() == 2
    assert OutboxMessage.objects.filter(published_at__isnull=True).count() == 0


@pytest.mark.django_db
def test_a_broken_row_does_not_block_the_others(published):
    outbox.publish(_event(0))
    OutboxMessage.objects.filter(service_order_id="order-0").update(envelope={"type": "nonsense"})
    outbox.publish(_event(1))
    assert outbox.relay() == 1
    assert "invalid envelope" in OutboxMessage.objects.get(service_order_id="order-0").last_error


@pytest.mark.django_db(transaction=True)
def test_relays_running_at_once_skip_each_others_rows(published):
    for n in range(2):
        outbox.publish(_event(n))
    # Autocommit already relayed them; make them look stranded again.
    OutboxMessage.objects.update(published_at=None)
    published.published.clear()
    locked, release = threading.Event(), threading.Event()

    def hold_first_row():
        try:
            with transaction.atomic():
                list(OutboxMessage.objects.select_for_update().filter(service_order_id="order-0"))
                locked.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_first_row)
    holder.start()
    assert locked.wait(timeout=10)
    try:
        assert outbox.relay() == 1  # the locked row is someone else's; no waiting, no double publish
        assert [e.service_order_id for e in published.published] == ["order-1"]
    finally:
        release.set()
        holder.join(timeout=10)
    assert outbox.relay() == 1
    assert sorted(e.service_order_id for e in published.published) == ["order-0", "order-1"]


@pytest.mark.django_db
def test_old_published_messages_and_inbox_ids_are_purged(published):
    outbox.publish(_event(0))
    outbox.relay()
    outbox.publish(_event(1))  # not yet published: never purged
    ProcessedMessage.objects.create(message_id="old", type="os.ReserveParts")
    ProcessedMessage.objects.create(message_id="new", type="os.ReserveParts")
    long_ago = timezone.now() - timedelta(days=30)
    OutboxMessage.objects.filter(service_order_id="order-0").update(published_at=long_ago)
    ProcessedMessage.objects.filter(message_id="old").update(processed_at=long_ago)
    assert purge_messages.apply().get() == [1, 1]
    assert list(OutboxMessage.objects.values_list("service_order_id", flat=True)) == ["order-1"]
    assert list(ProcessedMessage.objects.values_list("message_id", flat=True)) == ["new"]


def test_the_default_publisher_sends_through_celery(settings):
    settings.OS_MESSAGE_PUBLISHER = "messaging.publishers.celery_publisher"
    publisher = get_publisher()
    assert type(publisher) is type(celery_publisher())
    assert publisher.app.main == "os"
