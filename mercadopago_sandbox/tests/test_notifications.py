"""Control endpoints and the signed webhook notifications they trigger."""

from __future__ import annotations

import socket
import time

import pytest
from mercadopago.webhook import InvalidWebhookSignatureError, WebhookSignatureValidator

from mercadopago_sandbox import sign_notification

from .conftest import TEST_SECRET, wait_for
from .helpers import assert_mp_error


def signature_parts(header: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in header.split(","))


def test_create_sends_payment_created(mp, receiver):
    payment = mp.create_pix(notification_url=receiver.url)
    [created] = receiver.wait_for_count(1)
    assert created.body["action"] == "payment.created"
    assert created.body["data"] == {"id": str(payment["id"])}


def test_approve_sends_a_signed_notification(mp, receiver):
    payment = mp.create_pix(notification_url=receiver.url)
    receiver.wait_for_count(1)

    response = mp.post(f"/sandbox/payments/{payment['id']}/approve")
    assert response.status_code == 200
    assert response.json()["status"] == "approved"
    assert response.json()["status_detail"] == "accredited"
    assert response.json()["date_approved"]

    notification = receiver.wait_for_count(2)[1]
    assert notification.path == "/webhooks/mercadopago/"
    assert notification.query == {"data.id": str(payment["id"]), "type": "payment"}
    body = notification.body
    assert body["action"] == "payment.updated"
    assert body["api_version"] == "v1"
    assert body["data"] == {"id": str(payment["id"])}
    assert body["type"] == "payment"
    assert body["live_mode"] is False
    assert isinstance(body["id"], int) and body["date_created"] and body["user_id"]

    request_id = notification.headers["x-request-id"]
    parts = signature_parts(notification.headers["x-signature"])
    assert abs(int(parts["ts"]) - time.time()) < 60
    assert parts["v1"] == sign_notification(
        TEST_SECRET,
        notification.query["data.id"],
        request_id,
        parts["ts"],
    )
    WebhookSignatureValidator.validate(
        notification.headers["x-signature"],
        request_id,
        notification.query["data.id"],
        TEST_SECRET,
        tolerance_seconds=300,
    )
    with pytest.raises(InvalidWebhookSignatureError):
        WebhookSignatureValidator.validate(
            notification.headers["x-signature"],
            request_id,
            notification.query["data.id"],
            "some-other-secret",
        )


def test_control_endpoint_answers_before_delivery_finishes(start_sandbox, receiver):
    mp = start_sandbox(retry_base_seconds=0.3, max_attempts=2, notify_on_create=False)
    payment = mp.create_pix(notification_url=receiver.url)
    receiver.answer_with(500, 200)
    started = time.monotonic()
    mp.post(f"/sandbox/payments/{payment['id']}/approve")
    assert time.monotonic() - started < 0.3
    receiver.wait_for_count(2)


def test_retries_after_500_until_2xx(mp, receiver):
    payment = mp.create_pix(notification_url=receiver.url)
    receiver.wait_for_count(1)
    receiver.answer_with(500, 503)
    mp.post(f"/sandbox/payments/{payment['id']}/reject")

    received = receiver.wait_for_count(4)
    retries = received[1:]
    assert [r.body["action"] for r in retries] == ["payment.updated"] * 3
    assert len({r.body["id"] for r in retries}) == 1
    assert len({r.headers["x-request-id"] for r in retries}) == 1

    def updates() -> list[dict]:
        return [a for a in mp.attempts(payment["id"]) if a["action"] == "payment.updated"]

    attempts = wait_for(lambda: len(updates()) == 3 and updates())
    assert [(a["attempt"], a["status_code"], a["ok"]) for a in attempts] == [
        (1, 500, False),
        (2, 503, False),
        (3, 200, True),
    ]
    assert attempts[0]["url"] == f"{receiver.url}?data.id={payment['id']}&type=payment"
    assert attempts[0]["payload"]["data"]["id"] == str(payment["id"])
    time.sleep(0.3)
    assert len(receiver.received()) == 4


def test_unreachable_url_is_retried_up_to_max_attempts(start_sandbox):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    mp = start_sandbox(max_attempts=3, retry_base_seconds=0.01)
    payment = mp.create_pix(notification_url=f"http://127.0.0.1:{dead_port}/hook")
    attempts = wait_for(lambda: len(mp.attempts(payment["id"])) == 3 and mp.attempts(payment["id"]))
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert all(a["status_code"] is None and a["error"] and not a["ok"] for a in attempts)
    time.sleep(0.1)
    assert len(mp.attempts(payment["id"])) == 3


def test_resend_delivers_a_duplicate(mp, receiver):
    payment = mp.create_pix(notification_url=receiver.url)
    receiver.wait_for_count(1)
    mp.post(f"/sandbox/payments/{payment['id']}/approve")
    original = receiver.wait_for_count(2)[1]

    response = mp.post(f"/sandbox/notifications/{payment['id']}/resend")
    assert response.status_code == 202
    assert response.json()["payload"] == original.body
    duplicate = receiver.wait_for_count(3)[2]
    assert duplicate.body == original.body
    assert duplicate.query == original.query
    parts = signature_parts(duplicate.headers["x-signature"])
    assert parts["v1"] == sign_notification(
        TEST_SECRET,
        str(payment["id"]),
        duplicate.headers["x-request-id"],
        parts["ts"],
    )


def test_resend_without_earlier_notification_sends_a_fresh_one(start_sandbox, receiver):
    mp = start_sandbox(notify_on_create=False)
    payment = mp.create_pix(notification_url=receiver.url)
    time.sleep(0.1)
    assert receiver.received() == []
    response = mp.post(f"/sandbox/notifications/{payment['id']}/resend")
    assert response.status_code == 202
    [sent] = receiver.wait_for_count(1)
    assert sent.body["action"] == "payment.updated"


def test_resend_needs_a_url_and_a_payment(mp):
    payment = mp.create_pix()
    assert_mp_error(mp.post(f"/sandbox/notifications/{payment['id']}/resend"), 400, "bad_request")
    assert_mp_error(mp.post("/sandbox/notifications/1/resend"), 404, "not_found")


def test_default_notification_url_is_used_when_payment_has_none(start_sandbox, receiver):
    mp = start_sandbox(default_notification_url=receiver.url)
    payment = mp.create_pix()
    [created] = receiver.wait_for_count(1)
    assert created.query["data.id"] == str(payment["id"])


def test_existing_query_string_is_kept(mp, receiver):
    payment = mp.create_pix(notification_url=f"{receiver.url}?source=mp&type=old")
    [created] = receiver.wait_for_count(1)
    assert created.query == {"source": "mp", "data.id": str(payment["id"]), "type": "payment"}


@pytest.mark.parametrize(
    ("action", "status", "detail"),
    [
        ("approve", "approved", "accredited"),
        ("reject", "rejected", "rejected_by_bank"),
        ("cancel", "cancelled", "by_collector"),
    ],
)
def test_shortcut_actions(mp, receiver, action, status, detail):
    payment = mp.create_pix(notification_url=receiver.url)
    receiver.wait_for_count(1)  # payment.created: notifications go out concurrently, in no set order
    changed = mp.post(f"/sandbox/payments/{payment['id']}/{action}").json()
    assert (changed["status"], changed["status_detail"]) == (status, detail)
    assert receiver.wait_for_count(2)[1].body["action"] == "payment.updated"


@pytest.mark.parametrize(
    "status",
    [
        "pending",
        "approved",
        "authorized",
        "in_process",
        "in_mediation",
        "rejected",
        "cancelled",
        "refunded",
        "charged_back",
    ],
)
def test_status_endpoint_accepts_every_mercado_pago_status(start_sandbox, receiver, status):
    mp = start_sandbox(notify_on_create=False)
    payment = mp.create_pix(notification_url=receiver.url)
    changed = mp.post(f"/sandbox/payments/{payment['id']}/status", json={"status": status})
    assert changed.status_code == 200
    assert changed.json()["status"] == status
    if status == "pending":
        time.sleep(0.1)
        assert receiver.received() == []
    else:
        assert receiver.wait_for_count(1)[0].body["action"] == "payment.updated"


def test_status_endpoint_with_detail_and_errors(mp):
    payment = mp.create_pix()
    path = f"/sandbox/payments/{payment['id']}/status"
    changed = mp.post(path, json={"status": "rejected", "status_detail": "cc_rejected_high_risk"})
    assert changed.json()["status_detail"] == "cc_rejected_high_risk"
    assert_mp_error(mp.post(path, json={"status": "paid"}), 400, "bad_request")
    assert_mp_error(mp.post(path, json={"status": "approved", "status_detail": 3}), 400, "bad_request")
    assert_mp_error(mp.post(path), 400, "bad_request")
    assert_mp_error(mp.post("/sandbox/payments/9/approve"), 404, "not_found")


def test_same_status_twice_notifies_once(mp, receiver):
    payment = mp.create_pix(notification_url=receiver.url)
    mp.post(f"/sandbox/payments/{payment['id']}/approve")
    mp.post(f"/sandbox/payments/{payment['id']}/approve")
    receiver.wait_for_count(2)
    time.sleep(0.2)
    assert len(receiver.received()) == 2


def test_cancel_and_refund_through_the_api_notify(mp, receiver):
    pending = mp.create_pix(notification_url=receiver.url)
    mp.put(f"/v1/payments/{pending['id']}", json={"status": "cancelled"})
    approved = mp.create_pix(notification_url=receiver.url)
    mp.post(f"/sandbox/payments/{approved['id']}/approve")
    mp.post(f"/v1/payments/{approved['id']}/refunds")
    received = receiver.wait_for_count(5)
    updates = [(r.query["data.id"], r.body["action"]) for r in received]
    assert (str(pending["id"]), "payment.updated") in updates
    assert updates.count((str(approved["id"]), "payment.updated")) == 2


def test_form_posts_redirect_back_to_the_page(mp):
    payment = mp.create_pix()
    form = {"next": f"/payments/{payment['id']}/ticket"}
    response = mp.post(f"/sandbox/payments/{payment['id']}/approve", data=form, allow_redirects=False)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/payments/{payment['id']}/ticket")

    response = mp.post(
        f"/sandbox/payments/{payment['id']}/status",
        data={"status": "in_mediation", "next": "https://evil.example/"},
        allow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/sandbox/")
    assert mp.get(f"/v1/payments/{payment['id']}").json()["status"] == "in_mediation"

    response = mp.post(
        f"/sandbox/payments/{payment['id']}/reject",
        data={"status_detail": "cc_rejected_call_for_authorize"},
        allow_redirects=False,
    )
    assert response.status_code == 303
    assert mp.get(f"/v1/payments/{payment['id']}").json()["status_detail"] == ("cc_rejected_call_for_authorize")


def test_sandbox_page_lists_payments_and_notifications(mp, receiver):
    payment = mp.create_pix(notification_url=receiver.url)
    receiver.wait_for_count(1)
    wait_for(lambda: mp.attempts(payment["id"]))
    page = mp.get("/sandbox/")
    assert page.status_code == 200
    assert str(payment["id"]) in page.text
    assert f'action="/sandbox/payments/{payment["id"]}/approve"' in page.text
    assert "payment.created" in page.text

    listed = mp.get("/sandbox/payments").json()
    assert listed["total"] == 1 and listed["results"][0]["id"] == payment["id"]

    resent = mp.post(f"/sandbox/notifications/{payment['id']}/resend", data={"x": "1"}, allow_redirects=False)
    assert resent.status_code == 303


def test_empty_sandbox_page(mp):
    page = mp.get("/sandbox/")
    assert "No payments yet" in page.text and "No notifications sent yet" in page.text


def test_reset_clears_everything_and_stops_retries(start_sandbox, receiver):
    mp = start_sandbox(retry_base_seconds=0.2, max_attempts=5)
    receiver.answer_with(500, 500, 500, 500, 500)
    payment = mp.create_pix(notification_url=receiver.url)
    receiver.wait_for_count(1)
    wait_for(lambda: mp.attempts())

    assert mp.post("/sandbox/reset").json() == {"reset": True}
    assert mp.get("/sandbox/payments").json()["total"] == 0
    assert mp.get(f"/v1/payments/{payment['id']}").status_code == 404
    time.sleep(0.5)
    assert len(receiver.received()) == 1
    assert mp.attempts() == []

    form_reset = mp.post("/sandbox/reset", data={"confirm": "1"}, allow_redirects=False)
    assert form_reset.status_code == 303
