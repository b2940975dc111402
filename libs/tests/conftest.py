import socket
import threading
import uuid

import pytest
from celery import Celery
from django.conf import settings

from oficina_common.celery_config import celery_settings
from oficina_common.correlation import install_celery_correlation
from oficina_common.dynamodb import DynamoSettings, reset_resources
from oficina_common.testing import dynalite_server, moto_server


@pytest.fixture(scope="session")
def moto_endpoint():
    with moto_server() as url:
        yield url


@pytest.fixture(scope="session")
def dynalite_endpoint():
    with dynalite_server() as url:
        yield url


@pytest.fixture(params=["moto", "dynalite"])
def dynamo_settings(request) -> DynamoSettings:
    """A real DynamoDB endpoint over HTTP: both emulators, so the code stays portable."""
    endpoint = request.getfixturevalue(f"{request.param}_endpoint")
    reset_resources()
    return DynamoSettings(endpoint_url=endpoint, region="us-east-1", table_prefix=f"t{uuid.uuid4().hex[:8]}_")


@pytest.fixture
def apps():
    """The OS's Celery app publishing, the Execution's consuming (with its correlation id), over the
    test broker; the ``execution`` queue emptied first."""
    publisher_app = Celery("os")
    publisher_app.config_from_object(celery_settings("os", settings.CELERY_BROKER_URL))
    consumer_app = Celery("execution")
    consumer_app.config_from_object(celery_settings("execution", settings.CELERY_BROKER_URL))
    install_celery_correlation(consumer_app)
    with consumer_app.connection_for_write() as conn:
        conn.default_channel.queue_purge("execution")
    return publisher_app, consumer_app


@pytest.fixture
def silent_endpoint():
    """A port that accepts connections and never answers: a DynamoDB endpoint or a broker that hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    server.close()


@pytest.fixture(autouse=True)
def _own_cache(settings):
    """Throttle counters of this test only (oficina_common.testing.isolated_caches)."""
    from oficina_common.testing import isolated_caches

    settings.CACHES = isolated_caches(settings.CACHES)
