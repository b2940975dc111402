"""A real Celery worker on Redis (db 10): the outbox relay and the consumer, end to end."""
import time

import pytest
from celery.contrib.testing.worker import start_worker
from celery.fixups.django import DjangoWorkerFixup
from django.db import connection, connections
from kombu import Connection

from catalog.models import Part
from config.celery import _as_a_request_would
from config.celery import app as celery_app
from conftest import TEST_BROKER_URL
from oficina_common.messages import Envelope
from oficina_common.messaging import CeleryPublisher
from service_orders.services import service_order_start_diagnosis

pytestmark = pytest.mark.django_db(transaction=True)


def _drain(queue_name):
    with Connection(TEST_BROKER_URL) as conn:
        queue = conn.SimpleQueue(queue_name)
        while True:
            try:
                queue.get(block=False).ack()
            except queue.Empty:
                break
        queue.close()


def _next_message(queue_name, timeout=20.0):
    with Connection(TEST_BROKER_URL) as conn:
        queue = conn.SimpleQueue(queue_name)
        try:
            message = queue.get(block=True, timeout=timeout)
            message.ack()
            return message.headers["task"], message.payload[0][0]
        finally:
            queue.close()


@pytest.fixture
def real_worker(settings):
    settings.OS_MESSAGE_PUBLISHER = "messaging.publishers.celery_publisher"
    for name in ("os", "execution"):
        _drain(name)
    celery_app.conf.task_always_eager = False
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, queues=["os"], shutdown_timeout=30):
            yield
    finally:
        celery_app.conf.task_always_eager = True
        for name in ("os", "execution"):
            _drain(name)


def test_the_relay_publishes_the_diagnosis_and_the_consumer_reserves_parts(
        real_worker, attendant_api, order, oil_change, oil_filter):
    service_order_start_diagnosis(service_order_id=order.pk, by="mario")
    response = attendant_api.post(f"/api/v1/service-orders/{order.pk}/diagnosis/", {
        "items": [{"kind": "service", "catalog_id": oil_change.pk, "quantity": 1},
                  {"kind": "part", "catalog_id": oil_filter.pk, "quantity": 1}]}, format="json")
    assert response.status_code == 200

    # The after-commit relay task ran on the worker and put the event on Execution's queue.
    task, envelope = _next_message("execution")
    assert task == "execution.handle_message"
    assert envelope["type"] == "os.DiagnosisCompleted"
    assert envelope["saga_id"] == response.json()["saga_id"]
    assert envelope["payload"]["items"][1] == {"kind": "part", "catalog_id": str(oil_filter.pk),
                                               "description": "Filtro de óleo", "quantity": 1,
                                               "unit_price_cents": 3850, "job": 1, "optional": False}

    # Execution's command arrives on the os queue; the worker's os.handle_message reserves the part.
    command = Envelope(type="os.ReserveParts", saga_id=envelope["saga_id"], service_order_id=str(order.pk),
                       payload={"parts": [{"catalog_id": str(oil_filter.pk), "quantity": 1}]})
    CeleryPublisher(celery_app).publish(command)
    deadline = time.monotonic() + 20
    while Part.objects.get(pk=oil_filter.pk).quantity_reserved != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert Part.objects.get(pk=oil_filter.pk).quantity_reserved == 1

    task, reply = _next_message("execution")
    assert task == "execution.handle_message"
    assert reply["type"] == "os.PartsReserved" and reply["saga_id"] == envelope["saga_id"]
    assert reply["payload"] == {"parts": [{"catalog_id": str(oil_filter.pk), "quantity": 1}]}


def _backend_pid():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _task_as_the_worker_runs_it(task):
    """What a worker does around a task for the database: Celery's Django fix-up and our own hook."""
    fixup = DjangoWorkerFixup(celery_app)
    fixup.on_task_prerun(sender=task)
    _as_a_request_would(sender=task)
    pid = _backend_pid()
    fixup.on_task_postrun(sender=task)
    _as_a_request_would(sender=task)
    return pid


@pytest.fixture
def conn_max_age():
    """Sets the connection's CONN_MAX_AGE for the test (it is read when the connection opens)."""
    before = connection.settings_dict["CONN_MAX_AGE"]
    connection.close()

    def set_to(seconds):
        connection.settings_dict["CONN_MAX_AGE"] = seconds

    yield set_to
    connection.settings_dict["CONN_MAX_AGE"] = before
    connection.close()


@pytest.mark.parametrize(("max_age", "kept"), [(60, True), (0, False)])
def test_a_task_keeps_its_database_connection_for_conn_max_age_as_a_request_does(conn_max_age, max_age, kept):
    # Celery's fix-up alone closes the connection around every task: each task paid for a new
    # PostgreSQL backend. With CONN_MAX_AGE the connection now outlives the task, as a request's does.
    task = celery_app.tasks["os.handle_message"]
    conn_max_age(max_age)
    first = _task_as_the_worker_runs_it(task)
    assert (connection.connection is not None) is kept
    assert (_task_as_the_worker_runs_it(task) == first) is kept


def test_a_connection_dropped_between_tasks_is_replaced_by_the_next_one(conn_max_age):
    # PostgreSQL restarted or a proxy cut the idle session: CONN_HEALTH_CHECKS finds it before use.
    task = celery_app.tasks["os.handle_message"]
    conn_max_age(60)
    first = _task_as_the_worker_runs_it(task)
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [first])
    finally:
        other.close()
    assert _task_as_the_worker_runs_it(task) != first
