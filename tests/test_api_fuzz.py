"""Hostile input: schemathesis against the three services' OpenAPI schemas, on the running system.

Every operation of every service gets generated requests (valid and invalid by its schema), sent
with a staff token and with a customer's token: no answer may be a server error. The logins are
left out (their throttles and lockout would lock the suite's own staff user out) and are tested
on their own.
"""
from __future__ import annotations

import uuid
import zlib

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from oficina_client import OficinaClient, mercosul_plate, valid_cpf

SKIPPED_PATHS = ("/api/v1/auth/",)
FUZZ_SETTINGS = settings(max_examples=10, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="session")
def tokens(system) -> dict[str, str]:
    """A staff (admin) token and the token of a customer with an order of her own."""
    staff = OficinaClient(system.urls, timeout=15)
    staff.login("admin", "admin")
    seed = zlib.crc32(uuid.uuid4().bytes)
    customer = staff.create_customer("Fuzz Souza", valid_cpf(seed), f"fuzz.{seed}@example.com")
    vehicle = staff.create_vehicle(customer["id"], mercosul_plate(seed), "Fiat", "Argo", 2021)
    order = staff.open_order(customer["id"], vehicle["id"], "barulho", priority=3)
    return {"staff": staff.token, "customer": staff.customer_token(customer["document"], order["tracking_code"])}


def _schema(system, service: str) -> schemathesis.schemas.BaseSchema:
    base = getattr(system.urls, service)
    schema = schemathesis.openapi.from_url(f"{base}/api/schema/")
    schema.config.base_url = base
    return schema.exclude(path_regex="|".join(SKIPPED_PATHS))


@pytest.fixture(scope="session")
def os_api(system):
    return _schema(system, "os")


@pytest.fixture(scope="session")
def billing_api(system):
    return _schema(system, "billing")


@pytest.fixture(scope="session")
def execution_api(system):
    return _schema(system, "execution")


def _never_a_server_error(schema, tokens: dict[str, str]) -> None:
    """Every operation, as its own Hypothesis run; every server error found is reported at the end."""
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @FUZZ_SETTINGS
        def run(case) -> None:
            for who, token in tokens.items():
                response = case.call(headers={"Authorization": f"Bearer {token}"})
                assert response.status_code < 500, (
                    f"{case.method} {case.formatted_path} as {who} -> {response.status_code}: "
                    f"{response.text[:300]}\n{case.as_curl_command()}")

        try:
            run()
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n\n".join(failures)


def test_the_os_service_never_answers_a_server_error(os_api, tokens):
    _never_a_server_error(os_api, tokens)


def test_the_billing_service_never_answers_a_server_error(billing_api, tokens):
    _never_a_server_error(billing_api, tokens)


def test_the_execution_service_never_answers_a_server_error(execution_api, tokens):
    _never_a_server_error(execution_api, tokens)
