"""A real Celery worker on the real broker (Redis db 12): a diagnosis in, a budget request out."""
from __future__ import annotations

import pytest
from celery.contrib.testing.worker import start_worker
from kombu import Connection

from config.celery import app
from execution import wiring
from oficina_common.dynamodb import reset_resources
from oficina_common.messages import QUEUE_BILLING, QUEUE_EXECUTION, Envelope
from oficina_common.messaging import CeleryPublisher

from ..factories import diagnosis_completed


@pytest.fixture
def broker(moto_dynamo, settings):
    """The worker builds its own dependencies from settings, with the real Celery publisher."""
    settings.DYNAMODB_ENDPOINT_URL = moto_dynamo.endpoint_url
    settings.DYNAMODB_TABLE_PREFIX = moto_dynamo.table_prefix
    reset_resources()
    wiring.reset()
    url = app.conf.broker_url
    assert url.endswith("/12"), "the suite must use its own Redis database"
    with Connection(url) as connection:
        for queue in (QUEUE_EXECUTION, QUEUE_BILLING):
            connection.SimpleQueue(queue).clear()
    yield url
    with Connection(url) as connection:
        connection.SimpleQueue(QUEUE_BILLING).clear()
    wiring.reset()


def test_a_diagnosis_on_the_execution_queue_becomes_a_budget_request_on_the_billing_queue(broker):
    event = diagnosis_completed()
    with start_worker(app, pool="solo", perform_ping_check=False, queues=[QUEUE_EXECUTION], shutdown_timeout=20):
        CeleryPublisher(app).publish(event)
        with Connection(broker) as connection:
            queue = connection.SimpleQueue(QUEUE_BILLING)
            received = queue.get(block=True, timeout=30)
            received.ack()
            queue.close()

    assert received.headers["task"] == "billing.handle_message"
    assert received.headers["oficina_correlation_id"] == event.saga_id
    args, _kwargs, _embed = received.decode()
    command = Envelope.from_dict(args[0])
    assert command.type == "billing.CreateBudget"
    assert command.saga_id == event.saga_id
    assert command.payload["customer_email"] == "maria@example.com"
    saga = wiring.get_dependencies().executions.get(event.saga_id).saga
    assert (saga.status, saga.step(1).status) == ("PENDING", "RUNNING")
