import socket
import threading
import uuid

import pytest

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
