"""Simulated trouble at Mercado Pago: slow answers and server errors on the next API calls or for a
window, and webhooks late, twice and out of order."""

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


def test_a_window_troubles_every_matching_call_until_it_closes(mp):
    assert mp.post("/sandbox/faults", json={"status": 503, "seconds": 0.5}).json()["seconds"] > 0
    for _ in range(3):
        assert_mp_error(mp.get("/v1/payments/1"), 503, "simulated_failure")
    time.sleep(0.6)
    assert mp.get("/v1/payments/1").status_code == 404
    assert_mp_error(mp.post("/sandbox/faults", json={"seconds": 0}), 400, "bad_request")


def test_webhooks_in_a_window_come_late_twice_and_out_of_order(mp, receiver):
    # The payments are made before the window: making one draws its QR code, which on a slow machine
    # takes long enough (0.2 s apart: odds of about 1 in 40, simulated) that the notifications kept
    # the order sent, and a fresh-clone CI run failed so. Approving is quick: the notifications start
    # milliseconds apart and each copy's own wait (up to 1.5 s) orders them; all ten coming in the
    # order sent (each payment's two copies together) has odds of about 2 in 100,000 (simulated).
    payments = [mp.create_pix(notification_url=receiver.url) for _ in range(5)]
    receiver.wait_for_count(5)  # payment.created, one copy each, at once
    assert mp.post("/sandbox/faults/webhooks", json={"delay_seconds": 1.5, "copies": 2, "seconds": 5}).ok
    started = time.monotonic()
    for payment in payments:
        assert mp.post(f"/sandbox/payments/{payment['id']}/approve").ok
    received = receiver.wait_for_count(15)[5:]
    ids = [r.body["data"]["id"] for r in received]
    sent = [str(p["id"]) for p in payments]
    assert sorted(ids) == sorted(sent * 2)  # each one twice
    assert ids != sorted(ids, key=sent.index)  # not in the order sent
    assert mp.delete("/sandbox/faults").ok
    assert mp.post(f"/sandbox/notifications/{payments[0]['id']}/resend").ok
    assert len(receiver.wait_for_count(16)) == 16 and time.monotonic() - started < 5
    time.sleep(0.3)
    assert len(receiver.received()) == 16  # one copy, at once, once the faults are cleared


def test_webhook_faults_are_validated(mp):
    assert_mp_error(mp.post("/sandbox/faults/webhooks", json={"copies": 2}), 400, "bad_request")
    assert_mp_error(mp.post("/sandbox/faults/webhooks", json={"copies": 9, "seconds": 5}), 400, "bad_request")
    assert_mp_error(mp.post("/sandbox/faults/webhooks", json={"copies": "x", "seconds": 5}), 400, "bad_request")
