"""Mercado Pago's notifications through Billing's HTTP endpoint and a real Celery worker."""
import logging
import time
import uuid

import requests

from billing.dependencies import dependencies
from billing.tests import factories
from billing.tests.integration.test_message_flow import create_and_approve
from billing.tests.support import NOBODY, WEBHOOK_SECRET, wait_until
from billing.webhooks import sign


def requested_payment(live, settings, *, notify: bool = True):
    command, budget_id = create_and_approve(live)
    if not notify:
        settings.MERCADOPAGO_NOTIFICATION_BASE_URL = NOBODY  # Mercado Pago's own notifications go nowhere
    live.send(factories.request_payment(command, budget_id))
    (requested,) = live.broker.wait_for("billing.PaymentRequested")
    settings.MERCADOPAGO_NOTIFICATION_BASE_URL = live.url
    live.broker.wait_idle()
    return requested.payload["payment_id"], requested.payload["mercadopago_payment_id"]


def notify(live, mp_id: str, *, secret: str = WEBHOOK_SECRET, ts: int | None = None, request_id: str | None = None,
           signature: str | None = None, topic: str = "payment") -> requests.Response:
    request_id = request_id or str(uuid.uuid4())
    ts = ts if ts is not None else int(time.time())
    header = signature if signature is not None else f"ts={ts},v1={sign(secret, mp_id, request_id, str(ts))}"
    return requests.post(f"{live.url}/api/v1/webhooks/mercadopago/", params={"data.id": mp_id, "type": topic},
                         json={"action": "payment.updated", "type": topic, "data": {"id": mp_id}},
                         headers={"x-signature": header, "x-request-id": request_id}, timeout=10)


def payment_status(live, payment_id: str) -> str:
    return live.api("get", f"payments/{payment_id}/", token=factories.staff_token()).json()["status"]


def test_a_notification_delivered_5_times_changes_the_payment_once(live, settings):
    payment_id, mp_id = requested_payment(live, settings)
    live.sandbox.approve(mp_id)
    for _ in range(4):
        live.sandbox.resend(mp_id)  # the same notification again, delivered concurrently

    def delivered() -> int:
        return len([n for n in live.sandbox.notifications(mp_id) if n["ok"] and n["action"] == "payment.updated"])

    wait_until(lambda: delivered() >= 5, message="5 deliveries")
    live.broker.wait_idle()
    (approved,) = live.broker.of_type("billing.PaymentApproved")
    assert approved.payload["payment_id"] == payment_id
    assert payment_status(live, payment_id) == "APPROVED"
    changed_once = dependencies().payments.get(payment_id).rev
    live.sandbox.resend(mp_id)
    wait_until(lambda: delivered() >= 6, message="a 6th delivery")
    live.broker.wait_idle()
    assert dependencies().payments.get(payment_id).rev == changed_once
    assert len(live.broker.of_type("billing.PaymentApproved")) == 1


def test_a_forged_signature_changes_nothing(live, settings):
    payment_id, mp_id = requested_payment(live, settings, notify=False)
    live.sandbox.approve(mp_id)  # Mercado Pago knows; its notification never reaches us
    forged = notify(live, mp_id, secret="not-the-secret")
    assert forged.status_code == 401 and forged.json()["code"] == "invalid_signature"
    assert notify(live, mp_id, signature="").status_code == 401
    assert notify(live, mp_id, signature="ts=1,v1=deadbeef").status_code == 401
    replayed = notify(live, mp_id, ts=int(time.time()) - 3600)  # a genuine signature, an hour old
    assert replayed.status_code == 401
    time.sleep(0.5)
    live.broker.wait_idle()
    assert payment_status(live, payment_id) == "PENDING"
    assert live.broker.of_type("billing.PaymentApproved") == []

    genuine = notify(live, mp_id)
    assert genuine.status_code == 200 and genuine.json() == {"status": "accepted"}
    live.broker.wait_for("billing.PaymentApproved")
    assert payment_status(live, payment_id) == "APPROVED"


def test_the_body_is_never_trusted_and_old_news_changes_nothing(live, settings):
    payment_id, mp_id = requested_payment(live, settings)
    live.sandbox.approve(mp_id)
    live.broker.wait_for("billing.PaymentApproved")
    before = len([n for n in live.sandbox.notifications(mp_id) if n["ok"]])
    live.sandbox.set_status(mp_id, "in_process")  # Mercado Pago now says something older
    wait_until(lambda: len([n for n in live.sandbox.notifications(mp_id) if n["ok"]]) > before,
               message="the notification of the older status")
    live.broker.wait_idle()
    assert payment_status(live, payment_id) == "APPROVED"
    assert len(live.broker.of_type("billing.PaymentApproved")) == 1


def test_unknown_payments_and_other_topics(live, settings):
    unknown = notify(live, "987654321")  # signed, but Mercado Pago has no such payment
    assert unknown.status_code == 200
    other_topic = notify(live, "5", topic="merchant_order", signature="")
    assert other_topic.status_code == 200 and other_topic.json() == {"status": "ignored"}
    live.broker.wait_idle()
    assert live.broker.envelopes() == []


def test_reconciliation_finds_a_payment_whose_webhook_never_came(live, settings):
    settings.PAYMENT_RECONCILE_AFTER_SECONDS = 0
    payment_id, mp_id = requested_payment(live, settings, notify=False)
    live.sandbox.approve(mp_id)
    time.sleep(0.3)
    assert payment_status(live, payment_id) == "PENDING"
    live.run_task("billing.reconcile_pending_payments")
    live.broker.wait_for("billing.PaymentApproved")
    assert payment_status(live, payment_id) == "APPROVED"


def test_the_creation_notice_of_a_pix_billing_created_queues_no_task(live, settings, caplog):
    """Billing holds Mercado Pago's answer to its own create: the notice of it has nothing new."""
    with caplog.at_level(logging.INFO, logger="billing"):
        payment_id, mp_id = requested_payment(live, settings)
        wait_until(lambda: any(n["ok"] and n["action"] == "payment.created" for n in live.sandbox.notifications(mp_id)),
                   message="the creation notice")
    assert f"payment {mp_id} created by Billing: nothing to do" in caplog.text
    assert f"notification for payment {mp_id} queued" not in caplog.text
    live.sandbox.approve(mp_id)  # its next change is read, as ever
    live.broker.wait_for("billing.PaymentApproved")
    assert payment_status(live, payment_id) == "APPROVED"
