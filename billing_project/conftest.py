"""Fixtures: fakes for unit tests; real DynamoDB endpoints (moto over HTTP, dynalite), the Mercado Pago
sandbox over HTTP, Billing served over HTTP and a real Celery worker on Redis db 11 for integration."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings

from billing import dependencies, services
from billing.tables import ALL_TABLES
from billing.tests.fakes import Clock, FakeBilling, FakeMercadoPago, fake_billing
from billing.tests.support import NOBODY, WEBHOOK_SECRET, BrokerSpy, LiveBilling, SandboxClient
from config.celery import app as celery_app
from oficina_common.dynamodb import DynamoSettings, ensure_tables
from oficina_common.errors import ConcurrencyConflict
from oficina_common.messaging import RecordingPublisher
from oficina_common.testing import (
    dynalite_available,
    dynalite_server,
    free_port,
    isolated_caches,
    moto_server,
    wait_for_port,
)

TEST_BROKER_URL = os.environ.get("BILLING_TEST_BROKER_URL", "redis://127.0.0.1:6379/11")
REPO_ROOT = Path(__file__).resolve().parents[1]

logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request

# Before anything touches the broker: this suite only ever uses its own Redis database.
celery_app.conf.broker_url = TEST_BROKER_URL
django_settings.CELERY_BROKER_URL = TEST_BROKER_URL


@pytest.fixture(autouse=True)
def _billing_settings(settings: object) -> Iterator[None]:
    settings.CELERY_BROKER_URL = TEST_BROKER_URL
    settings.MERCADOPAGO_WEBHOOK_SECRET = WEBHOOK_SECRET
    # Links and notification URLs point nowhere unless a test serves Billing over HTTP.
    settings.PUBLIC_BASE_URL = settings.MERCADOPAGO_NOTIFICATION_BASE_URL = NOBODY
    settings.CACHES = isolated_caches(settings.CACHES)  # throttle counts start at zero in every test
    yield
    dependencies.install(None)


@pytest.fixture
def fake() -> Iterator[FakeBilling]:
    billing = fake_billing()
    with dependencies.override(billing.deps):
        yield billing


# --- DynamoDB endpoints -----------------------------------------------------------------------------

def _create_tables(endpoint: str) -> DynamoSettings:
    dynamo = DynamoSettings(endpoint_url=endpoint, region="us-east-1", table_prefix=f"t{uuid.uuid4().hex[:6]}_")
    ensure_tables(dynamo, ALL_TABLES)
    return dynamo


@pytest.fixture(scope="session")
def moto_tables() -> Iterator[DynamoSettings]:
    with moto_server() as endpoint:
        yield _create_tables(endpoint)


@pytest.fixture(scope="session")
def dynalite_tables() -> Iterator[DynamoSettings]:
    if not dynalite_available():
        pytest.skip("dynalite is not installed (./manage_all.sh install)")
    with dynalite_server() as endpoint:
        yield _create_tables(endpoint)


@pytest.fixture(params=["moto", "dynalite"])
def any_tables(request: pytest.FixtureRequest, settings: object) -> DynamoSettings:
    """Both emulators: repository tests run once on each."""
    dynamo = request.getfixturevalue(f"{request.param}_tables")
    _point_settings(settings, dynamo)
    return dynamo


@pytest.fixture
def dynamo(moto_tables: DynamoSettings, settings: object) -> DynamoSettings:
    _point_settings(settings, moto_tables)
    return moto_tables


@pytest.fixture
def point_settings_at(settings: object) -> Callable[[DynamoSettings], None]:
    """Point the settings (the repositories' default tables) at an endpoint's tables."""
    return lambda dynamo: _point_settings(settings, dynamo)


def _point_settings(settings: object, dynamo: DynamoSettings) -> None:
    settings.DYNAMODB_ENDPOINT_URL = dynamo.endpoint_url
    settings.DYNAMODB_TABLE_PREFIX = dynamo.table_prefix
    settings.AWS_REGION = dynamo.region


def _inline_email(budget_id: str, version: int) -> None:
    try:
        services.budget_send_approval_link(budget_id=budget_id, version=version)
    except ConcurrencyConflict:
        pass  # another sender holds the link's claim: the task would try again later


@pytest.fixture
def real(dynamo: DynamoSettings) -> Iterator[FakeBilling]:
    """Billing on a real DynamoDB endpoint (moto over HTTP); Mercado Pago and the broker faked."""
    yield from _harness()


@pytest.fixture
def real_any(any_tables: DynamoSettings) -> Iterator[FakeBilling]:
    """The same on both emulators."""
    yield from _harness()


def _harness() -> Iterator[FakeBilling]:
    publisher = RecordingPublisher()
    mercadopago = FakeMercadoPago()
    clock = Clock()
    notifications: list[tuple[str, str]] = []
    deps = dependencies.from_settings(
        publisher=publisher, mercadopago=mercadopago, clock=clock, schedule_approval_email=_inline_email,
        enqueue_notification=lambda mp_id, request_id: notifications.append((mp_id, request_id)))
    with dependencies.override(deps):
        yield FakeBilling(deps=deps, publisher=publisher, mercadopago=mercadopago, clock=clock,
                          scheduled_emails=[], notifications=notifications)


# --- Mercado Pago sandbox, Billing over HTTP, a real worker ------------------------------------------

@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxClient]:
    port = free_port()
    log = (tmp_path_factory.mktemp("sandbox") / "sandbox.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "mercadopago_sandbox", "--host", "127.0.0.1", "--port", str(port),
         "--webhook-secret", WEBHOOK_SECRET, "--retry-base", "0.2", "--max-attempts", "4"],
        cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "MERCADOPAGO_SANDBOX_DATA_FILE": ""},
    )
    try:
        wait_for_port(port)
        yield SandboxClient(f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture
def billing_server(settings: object) -> Iterator[str]:
    """This Django project served over real HTTP (Mercado Pago's notifications arrive here)."""
    from django.core.handlers.wsgi import WSGIHandler
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, WSGIHandler(), threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    settings.PUBLIC_BASE_URL = settings.MERCADOPAGO_NOTIFICATION_BASE_URL = url
    thread = threading.Thread(target=server.serve_forever, name="billing-http", daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def broker() -> BrokerSpy:
    spy = BrokerSpy(redis.Redis.from_url(TEST_BROKER_URL))
    spy.reset()
    return spy


@pytest.fixture
def live(dynamo: DynamoSettings, sandbox: SandboxClient, billing_server: str, broker: BrokerSpy,
         settings: object) -> Iterator[LiveBilling]:
    """The whole of Billing for real: DynamoDB over HTTP, the sandbox, HTTP, Redis and a Celery worker."""
    from celery.contrib.testing.worker import start_worker

    import billing.tasks  # noqa: F401  (registers the tasks with the app)

    settings.MERCADOPAGO_BASE_URL = sandbox.url
    settings.MERCADOPAGO_ACCESS_TOKEN = "TEST-access-token"
    dependencies.install(None)
    with start_worker(celery_app, pool="threads", concurrency=4, perform_ping_check=False, queues=["billing"],
                      shutdown_timeout=10, loglevel="WARNING"):
        yield LiveBilling(url=billing_server, sandbox=sandbox, broker=broker)
    dependencies.install(None)
