"""The fault run (bench/chaos.py), small: 15 orders, every intended outcome, while a worker is
SIGKILLed and the broker loses everything (both for sure, first), then whatever the seed draws."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from chaos import EVERY_OUTCOME, fault_run  # noqa: E402
from conftest import ARTIFACTS  # noqa: E402

# Shorter than the 100-order run: a Pix never paid is given up sooner.
SHORT = {"SAGA_PAYMENT_TIMEOUT_SECONDS": "40"}


def test_fifteen_orders_end_as_intended_through_worker_kills_and_broker_losses():
    outcomes = [*EVERY_OUTCOME, "delivered", "delivered"]
    assert len(outcomes) == 15
    result = fault_run(outcomes, seed=18, fault_every=6, first_faults=("kill_worker", "broker_loss"),
                       in_flight=15, wait=120, settle=90, env=SHORT, keep_logs=ARTIFACTS / "fault-run-logs")
    print(result.report())
    assert result.faults.count("SIGKILL") >= 1 and result.faults.count("broker lost") >= 1, result.report()
    assert result.ok, result.report()
