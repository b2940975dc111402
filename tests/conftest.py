"""Cross-service tests: the whole system runs once per session, on free ports; tests use HTTP only."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from oficina_client import OficinaClient  # noqa: E402
from system import running_system  # noqa: E402

ARTIFACTS = Path(os.environ.get("OFICINA_TEST_ARTIFACTS", HERE.parent / ".data" / "test-artifacts"))

# Short clocks so expiry and the sweepers can be watched within a test run.
E2E_ENV = {
    "BUDGET_APPROVAL_TTL_HOURS": str(20 / 3600),  # a budget expires 20 s after it is sent
    "BEAT_EXPIRE_BUDGETS_SECONDS": "2",
    "PAYMENT_RECONCILE_AFTER_SECONDS": "30",
    "BEAT_RECONCILE_SECONDS": "5",
    "BEAT_OUTBOX_SWEEP_SECONDS": "3",
    "OUTBOX_SWEEP_SECONDS": "3",
    "SAGA_SWEEP_INTERVAL_SECONDS": "3",
    "SAGA_APPROVAL_GRACE_SECONDS": "10",
    "MERCADOPAGO_SANDBOX_RETRY_BASE_SECONDS": "0.2",
    "MERCADOPAGO_WEBHOOK_SECRET": "e2e-webhook-secret",
}


@pytest.fixture(scope="session")
def system():
    with running_system(extra_env=E2E_ENV, keep_logs=ARTIFACTS / "logs") as running:
        yield running


@pytest.fixture
def staff(system) -> OficinaClient:
    client = OficinaClient(system.urls, timeout=15)
    client.login("admin", "admin")
    return client
