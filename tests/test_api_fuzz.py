"""Hostile input: schemathesis against the three services' OpenAPI schemas, on the running system.

Every operation of every service gets generated requests (its examples, the coverage phase's
boundary and wrong values, then fuzzed ones; valid and invalid by its schema), sent with a staff
token and with a customer's token, and every answer must be true to the schema: never a server
error, a status and a content type the operation documents, a body of the documented shape, and
invalid input refused (a 4xx). The logins are left out (their throttles and lockout would lock the
suite's own staff user out) and are tested on their own.

Not checked: that every schema-valid request is accepted (``positive_data_acceptance``). Much
valid-looking input is refused by rules no schema states: a CPF's check digits, a vehicle that is
not the customer's, a move the order's status forbids, a page token only the server makes.
"""
from __future__ import annotations

import uuid
import zlib
from typing import Any

import pytest
import schemathesis
from schemathesis import engine
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events

from oficina_client import OficinaClient, mercosul_plate, valid_cpf

SKIPPED_PATHS = ("/api/v1/auth/",)
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance", "negative_data_rejection",
          "missing_required_header")

# One check left out for one operation, and why (a check that cannot hold there for a good reason).
# DRF's fields read a JSON 0 as false and a number as its text (``"model": 0`` is the model "0"),
# so every OS body the model serializers read takes such input, and stores what it means. (Strict
# fields throughout the OS would let this check run there too; not done yet.)
_DRF_READS_NUMBERS_AS_TEXT = {"negative_data_rejection": "DRF's fields take 0 for false and numbers as text"}
_OS_BODIES = [f"v1_{resource}_{action}" for resource in ("customers", "vehicles", "services", "parts")
              for action in ("create", "update", "partial_update")] + [
    "v1_parts_stock_entries_create", "v1_service_orders_create", "v1_service_orders_cancel_create",
    "v1_service_orders_diagnosis_create"]
EXCLUDED: dict[str, dict[str, str]] = {
    **{operation_id: _DRF_READS_NUMBERS_AS_TEXT for operation_id in _OS_BODIES},
    # The webhook answers 200 "ignored" to any topic but `payment`, signed or not: Mercado Pago
    # sends topics we do not handle, and a refusal would only make it retry them for days.
    "webhooks_mercadopago": {"negative_data_rejection": "other topics are acknowledged, not refused"},
}


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


def _config(base: str, token: str) -> SchemathesisConfig:
    """What ``schemathesis run`` would be told: the examples, coverage and fuzzing phases, valid and
    invalid input, 10 cases per operation (seeded: the same cases every run), the checks above."""
    return SchemathesisConfig.from_dict({
        "base-url": base,
        "headers": {"Authorization": f"Bearer {token}"},
        "seed": 18,
        "generation": {"mode": "all", "max-examples": 10, "deterministic": True,
                       "database": "none"},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True},
                   "stateful": {"enabled": False}},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        "operations": [{"include-operation-id": operation_id,
                        "checks": {name: {"enabled": False} for name in checks}}
                       for operation_id, checks in EXCLUDED.items()],
    })


def _failures(base: str, token: str) -> list[str]:
    schema = schemathesis.openapi.from_url(f"{base}/api/schema/", config=_config(base, token))
    schema = schema.exclude(path_regex="|".join(SKIPPED_PATHS))
    found: list[str] = []
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.NonFatalError | events.FatalError):
            found.append(f"schemathesis could not run: {event.info.message if hasattr(event, 'info') else event}")
        if not isinstance(event, events.ScenarioFinished):
            continue
        for case_id, nodes in event.recorder.checks.items():
            for node in nodes:
                if node.status == Status.FAILURE and node.failure_info is not None:
                    failure = node.failure_info.failure
                    steps = node.failure_info.steps
                    found.append(f"{event.recorder.label}: {node.name}: {failure.title}\n{failure.message}\n"
                                 + (steps[-1].curl if steps else node.failure_info.code_sample))
    return list(dict.fromkeys(found))


def _answers_as_its_schema_says(base: str, tokens: dict[str, Any]) -> None:
    failures = [f"[{who}] {failure}" for who, token in tokens.items() for failure in _failures(base, token)]
    assert not failures, f"{len(failures)} answer(s) not as the schema says:\n\n" + "\n\n".join(failures)


def test_the_os_service_answers_as_its_schema_says(system, tokens):
    _answers_as_its_schema_says(system.urls.os, tokens)


def test_the_billing_service_answers_as_its_schema_says(system, tokens):
    _answers_as_its_schema_says(system.urls.billing, tokens)


def test_the_execution_service_answers_as_its_schema_says(system, tokens):
    _answers_as_its_schema_says(system.urls.execution, tokens)
