"""The liveness and readiness views every service mounts, and the fail-fast DynamoDB check."""
import json
import time

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from django.test import RequestFactory
from kombu.exceptions import OperationalError

from oficina_common.dynamodb import DynamoSettings, TableSpec, check_tables, ensure_tables, reset_resources
from oficina_common.health import check_broker, healthz, readiness_view

REQUESTS = RequestFactory()
SPEC = TableSpec(name="probed", hash_key=("id", "S"))


def answer(view, method: str = "get"):
    response = view(getattr(REQUESTS, method)("/readyz"))
    return response.status_code, json.loads(response.content) if response.status_code != 405 else None


def test_healthz_says_the_process_answers():
    assert answer(healthz) == (200, {"status": "ok"})


def test_ready_when_every_check_passes_and_which_failed_when_not():
    def broken():
        raise ConnectionRefusedError("no")

    assert answer(readiness_view({"a": lambda: None, "b": lambda: "anything"})) == (
        200, {"status": "ok", "checks": {"a": "ok", "b": "ok"}})
    assert answer(readiness_view({"a": lambda: None, "b": broken})) == (
        503, {"status": "unavailable", "checks": {"a": "ok", "b": "unavailable: ConnectionRefusedError"}})
    assert answer(readiness_view({"a": lambda: None}), "post")[0] == 405


def test_tables_are_checked_on_both_emulators(dynamo_settings):
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        check_tables(dynamo_settings, (SPEC,))
    ensure_tables(dynamo_settings, (SPEC,))
    check_tables(dynamo_settings, (SPEC,))


def test_a_hanging_or_missing_dynamodb_fails_within_seconds(silent_endpoint):
    reset_resources()
    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        check_tables(DynamoSettings(silent_endpoint, "us-east-1", "t_"), (SPEC,))
    with pytest.raises(EndpointConnectionError):
        check_tables(DynamoSettings("http://127.0.0.1:9", "us-east-1", "t_"), (SPEC,))
    # One attempt each (the services' own client retries five times, up to 13 s a try), so
    # that a probe with both checks hanging still answers within its 5 s (about 2 s each).
    assert time.monotonic() - started < 3
    reset_resources()


def test_a_hanging_or_missing_broker_fails_within_seconds(silent_endpoint):
    check_broker("redis://127.0.0.1:6379/9")
    started = time.monotonic()
    with pytest.raises(OperationalError):
        check_broker(silent_endpoint.replace("http", "redis") + "/0")  # accepts, never answers
    with pytest.raises(OperationalError):
        check_broker("redis://127.0.0.1:1/0")
    assert time.monotonic() - started < 3
