"""Fixtures of the Execution suite: real DynamoDB endpoints (moto server and dynalite), wiring."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, settings

from execution import wiring
from execution.tables import TABLES
from oficina_common.dynamodb import DynamoSettings, ensure_tables, reset_resources
from oficina_common.messaging import RecordingPublisher
from oficina_common.testing import dynalite_server, moto_server

logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto server: one line per request

# The saga's model check (execution/tests/unit/test_saga_model.py): the suite runs a fixed,
# derandomized exploration in well under a minute; `--hypothesis-profile=long` explores further.
settings.register_profile("ci", max_examples=300, stateful_step_count=100, deadline=None, derandomize=True,
                          database=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=5000, stateful_step_count=80, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")

_tables_ready: dict[str, DynamoSettings] = {}


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture(scope="session")
def dynalite_endpoint() -> Iterator[str]:
    with dynalite_server() as url:
        yield url


def _tables_on(endpoint: str) -> DynamoSettings:
    """The service's tables, created once per endpoint per run (tests use fresh ids, not fresh tables)."""
    if endpoint not in _tables_ready:
        dynamo = DynamoSettings(endpoint_url=endpoint, region="us-east-1", table_prefix=f"t{uuid.uuid4().hex[:6]}_")
        ensure_tables(dynamo, TABLES)
        _tables_ready[endpoint] = dynamo
    return _tables_ready[endpoint]


@pytest.fixture(params=["moto", "dynalite"])
def dynamo(request: pytest.FixtureRequest) -> DynamoSettings:
    """Both emulators, over HTTP, so the code stays portable between them."""
    return _tables_on(request.getfixturevalue(f"{request.param}_endpoint"))


@pytest.fixture
def moto_dynamo(moto_endpoint: str) -> DynamoSettings:
    return _tables_on(moto_endpoint)


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


def _wire(dynamo: DynamoSettings, settings, publisher: RecordingPublisher) -> Iterator[wiring.Dependencies]:
    settings.DYNAMODB_ENDPOINT_URL = dynamo.endpoint_url
    settings.DYNAMODB_TABLE_PREFIX = dynamo.table_prefix
    reset_resources()
    wiring.override(publisher=publisher)
    yield wiring.get_dependencies()
    wiring.reset()


@pytest.fixture
def deps(dynamo, settings, publisher) -> Iterator[wiring.Dependencies]:
    """The service's dependencies on a real endpoint, publishing into a recorder."""
    yield from _wire(dynamo, settings, publisher)


@pytest.fixture
def moto_deps(moto_dynamo, settings, publisher) -> Iterator[wiring.Dependencies]:
    yield from _wire(moto_dynamo, settings, publisher)


def clear_work_queue(deps: wiring.Dependencies) -> None:
    """The work queue is shared by the tests of a run: empty it (by Query, never Scan)."""
    from execution.domain import JobStatus

    for status in JobStatus:
        while True:
            jobs = deps.jobs.list_by_status(status.value, limit=200).items
            if not jobs:
                break
            for job in jobs:
                deps.jobs.table.delete_item(Key={"queueId": job.queue_id, "priority": job.priority})


@pytest.fixture(params=["fake", "moto", "dynalite"])
def repos(request: pytest.FixtureRequest, settings, publisher: RecordingPublisher) -> Iterator[wiring.Dependencies]:
    """The contract tests' subject: the in-memory fakes, or the DynamoDB repositories on an emulator
    (with an empty work queue)."""
    if request.param == "fake":
        from execution.tests.fakes import Clock, fake_dependencies

        yield replace(fake_dependencies(Clock(datetime.now(UTC))), publisher=publisher)
        return
    wired = _wire(_tables_on(request.getfixturevalue(f"{request.param}_endpoint")), settings, publisher)
    deps = next(wired)
    clear_work_queue(deps)
    yield deps
    next(wired, None)


@pytest.fixture
def empty_queue(deps: wiring.Dependencies) -> wiring.Dependencies:
    clear_work_queue(deps)
    return deps
