"""A message published by one service's app is consumed by another's worker, over real Redis."""
import json
import logging
import threading
import time

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from kombu import Producer
from kombu.exceptions import OperationalError

from oficina_common.celery_config import MAX_RETRY_COUNTDOWN, SOCKET_TIMEOUT, backoff, celery_settings
from oficina_common.correlation import (
    bind_correlation_id,
    get_correlation_id,
    logging_config,
)
from oficina_common.messages import Envelope, handler_task_name
from oficina_common.messaging import CeleryPublisher, Dispatcher, MemoryInbox, needs_declaring


def test_settings_are_at_least_once():
    config = celery_settings("billing", "redis://x")
    assert config["task_acks_late"] and config["task_reject_on_worker_lost"]
    assert config["worker_prefetch_multiplier"] == 1
    assert config["accept_content"] == ["json"]
    assert backoff(0) == 2 and backoff(50) == MAX_RETRY_COUNTDOWN


def test_a_publish_to_a_stalled_broker_fails_instead_of_hanging(silent_endpoint):
    """A broker that accepts the connection and never answers: the publish raises, and the outbox
    keeps the message (the default timeout is SOCKET_TIMEOUT; shortened here)."""
    config = celery_settings("os", silent_endpoint.replace("http", "redis") + "/0")
    assert config["broker_transport_options"]["socket_timeout"] == SOCKET_TIMEOUT
    config["broker_transport_options"]["socket_timeout"] = 0.3
    app = Celery("os")
    app.config_from_object(config)
    event = Envelope(type="os.DiagnosisCompleted", saga_id="s-1", service_order_id="o-1", payload={})
    started = time.monotonic()
    with pytest.raises(OperationalError):
        CeleryPublisher(app).publish(event)
    assert time.monotonic() - started < 5  # four tries of 0.3 s and Celery's short pauses


def test_published_envelope_reaches_the_destination_worker_once(apps):
    publisher_app, consumer_app = apps
    received, done = [], threading.Event()
    inbox = MemoryInbox()

    def on_diagnosis(envelope: Envelope) -> None:
        received.append((envelope.type, get_correlation_id()))
        done.set()

    dispatcher = Dispatcher({"os.DiagnosisCompleted": on_diagnosis})

    @consumer_app.task(name=handler_task_name("execution"), acks_late=True)
    def handle_message(data):
        return dispatcher.dispatch(data, inbox)

    envelope = Envelope(type="os.DiagnosisCompleted", saga_id="saga-42", service_order_id="o-1", payload={})
    with start_worker(consumer_app, pool="solo", perform_ping_check=False, queues=["execution"],
                      shutdown_timeout=10):
        publisher = CeleryPublisher(publisher_app)
        publisher.publish(envelope)
        publisher.publish(envelope)  # redelivery: the inbox stops the second one
        assert done.wait(15)
        with consumer_app.connection_for_write() as conn:
            for _ in range(100):
                if conn.default_channel.client.llen("execution") == 0:
                    break
                threading.Event().wait(0.05)
        threading.Event().wait(0.5)
    assert received == [("os.DiagnosisCompleted", "saga-42")]


def _take_one(app, queue_name):
    """The next message on ``queue_name``, taken off the broker as a consumer would (acknowledged)."""
    with app.connection_for_write() as conn:
        queue = conn.SimpleQueue(queue_name)
        try:
            message = queue.get(block=True, timeout=5)
            message.ack()
            return message
        finally:
            queue.close()


@pytest.mark.parametrize(("url", "declares"), [
    ("redis://127.0.0.1:6379/0", False), ("rediss://:t@cache.example.com:6379/0?ssl_cert_reqs=required", False),
    ("REDIS://127.0.0.1:6379/0", False), ("sqs://", True), ("amqp://guest@localhost//", True), ("", True)])
def test_only_a_broker_whose_queues_are_made_by_the_push_skips_declaring(url, declares):
    assert needs_declaring(url) is declares


def test_a_publish_on_redis_declares_nothing_and_still_reaches_a_queue_no_worker_has_made(apps, monkeypatch):
    """The queue's list is gone and nobody consumes it: the message waits there all the same, for
    the consumer that comes later. Publishing never asked kombu to declare the queue."""
    publisher_app, consumer_app = apps
    declared = []
    original = Producer.maybe_declare
    monkeypatch.setattr(Producer, "maybe_declare",
                        lambda self, entity, *a, **kw: declared.append(entity) or original(self, entity, *a, **kw))
    with consumer_app.connection_for_write() as conn:
        conn.default_channel.client.delete("execution")
    envelope = Envelope(type="os.DiagnosisCompleted", saga_id="saga-d", service_order_id="o-d", payload={})
    CeleryPublisher(publisher_app).publish(envelope)
    assert declared == []
    message = _take_one(consumer_app, "execution")
    assert message.payload[0] == [envelope.to_dict()]
    assert message.headers["task"] == handler_task_name("execution")


def test_a_published_task_shows_its_message_not_its_payload(apps):
    # celery inspect and Flower show argsrepr: the customer's name must not appear there.
    publisher_app, _ = apps
    envelope = Envelope(type="os.DiagnosisCompleted", saga_id="saga-9", service_order_id="o-9",
                        payload={"customer": {"name": "Maria da Silva", "email": "maria@example.com"}})
    CeleryPublisher(publisher_app).publish(envelope)
    message = _take_one(publisher_app, "execution")
    assert message.headers["argsrepr"] == f"(os.DiagnosisCompleted {envelope.message_id})"
    assert "Maria" not in message.headers["argsrepr"] + message.headers["kwargsrepr"]
    assert message.payload[0] == [envelope.to_dict()]


def test_log_lines_carry_the_correlation_id(capsys):
    logging.config.dictConfig(logging_config("billing", json=True))
    with bind_correlation_id("saga-7"):
        logging.getLogger("billing.test").warning("payment approved")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["correlation_id"] == "saga-7"
    assert record["service"] == "billing"
    assert record["message"] == "payment approved"
    logging.config.dictConfig(logging_config("billing", json=False))


def test_a_worker_logs_at_the_services_level_not_at_its_command_lines(settings, monkeypatch):
    """``celery worker --loglevel INFO`` (as the images run it) with LOG_LEVEL=WARNING: the worker
    keeps to WARNING, as the web processes do."""
    from celery import Celery, signals
    from celery.app.log import Logging

    monkeypatch.setattr(Logging, "_setup", False)  # set up once a process: an earlier test's worker did

    from oficina_common.correlation import install_celery_logging, logging_as_the_service_says

    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    settings.LOGGING = logging_config("libs", level="WARNING", json=False)
    install_celery_logging()
    try:
        Celery("worker-of-a-service").log.setup_logging_subsystem(loglevel="INFO")  # what the worker command does
        assert root.level == logging.WARNING
        assert not logging.getLogger("celery.app.trace").isEnabledFor(logging.INFO)
    finally:
        signals.setup_logging.disconnect(logging_as_the_service_says, dispatch_uid="oficina_common.correlation")
        root.setLevel(level)
        root.handlers[:] = handlers

