"""Cross-service tests: the whole system runs once per session, on free ports; tests use HTTP only."""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    # The saga asks Billing how a payment stands when no news came (10 minutes in production): a
    # PaymentApproved lost with a worker killed as it fetched it (the Redis transport pops a message
    # before it records it as unacked) is recovered within a test's wait, as in bench/chaos.py.
    "SAGA_PAYMENT_CHECK_SECONDS": "15",
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


@pytest.fixture(scope="module")
def browser_app() -> Iterator[Any]:
    """Debian's Chromium, one per test module of the browser tests."""
    from browser_support.chromium import ChromiumMissing, chromium

    try:
        with chromium() as browser:
            yield browser
    except ChromiumMissing as missing:
        pytest.fail(str(missing))


def screenshot(page: Any, name: str) -> None:
    """A browser test's full-page screenshot, kept with the run's artifacts."""
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / name), full_page=True)
