"""Simulated trouble at Mercado Pago: slow answers and server errors on the next API calls."""

from __future__ import annotations

import time

from .helpers import assert_mp_error


def test_a_server_error_hits_only_the_next_matching_calls(mp):
    assert mp.post("/sandbox/faults", json={"status": 503, "times": 2, "path_prefix": "/v1/payments"}).ok
    assert_mp_error(mp.get("/v1/payments/1"), 503, "simulated_failure")
    assert_mp_error(mp.get("/v1/payments/1"), 503, "simulated_failure")
    assert mp.get("/v1/payments/1").status_code == 404  # the fault is used up


def test_a_slow_answer_still_answers(mp):
    mp.post("/sandbox/faults", json={"delay_seconds": 0.3, "method": "post"})
    started = time.monotonic()
    payment = mp.create_pix()
    assert time.monotonic() - started >= 0.3
    assert payment["status"] == "pending"


def test_faults_can_be_cleared_and_are_validated(mp):
    mp.post("/sandbox/faults", json={"status": 500})
    assert mp.delete("/sandbox/faults").ok
    assert mp.get("/v1/payments/1").status_code == 404
    assert_mp_error(mp.post("/sandbox/faults", json={"status": "x"}), 400, "bad_request")
    assert_mp_error(mp.post("/sandbox/faults", json={"times": 0}), 400, "bad_request")
