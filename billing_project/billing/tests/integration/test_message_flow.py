"""The whole of Billing for real: commands on Redis (db 11) consumed by a Celery worker, DynamoDB over HTTP,
the Mercado Pago sandbox over HTTP sending signed webhooks to Billing served over HTTP."""
import re

import requests
from django.core import mail

from billing.tests import factories
from billing.tests.support import wait_until

LINK = re.compile(r"/budgets/review/([A-Za-z0-9_-]+)/")


def create_and_approve(live):
    command = factories.create_budget()
    live.send(command)
    (created,) = live.broker.wait_for("billing.BudgetCreated")
    budget_id = created.payload["budget_id"]
    message = wait_until(lambda: mail.outbox and mail.outbox[-1], message="the approval e-mail")
    token = LINK.search(message.body).group(1)
    approved = live.api("post", f"budgets/{budget_id}/approve/", json={"version": 1, "token": token})
    assert approved.status_code == 200, approved.text
    live.broker.wait_for("billing.BudgetApproved")
    return command, budget_id


def test_budget_to_payment_to_refund(live):
    command, budget_id = create_and_approve(live)
    (created,) = live.broker.of_type("billing.BudgetCreated")
    assert created.saga_id == command.saga_id and created.payload["total_cents"] == factories.ITEMS_TOTAL
    (approved,) = live.broker.of_type("billing.BudgetApproved")
    payload = dict(approved.payload)
    payment_page = payload.pop("payment_url")
    assert payload == {"budget_id": budget_id, "version": 1, "total_cents": factories.ITEMS_TOTAL,
                       "decided_by": "customer", "lines": factories.as_lines(factories.ITEMS, status="APPROVED"),
                       "declined_total_cents": 0}
    # The page the saga hands the OS opens over HTTP, as the customer's phone opens it.
    page = requests.get(payment_page, timeout=10)
    assert page.status_code == 200 and 'data-testid="payment-state"' in page.text

    request = factories.request_payment(command, budget_id)
    live.send(request)
    (requested,) = live.broker.wait_for("billing.PaymentRequested")
    payment_id = requested.payload["payment_id"]
    mp_id = requested.payload["mercadopago_payment_id"]
    assert requested.payload["qr_code"].startswith("000201")
    # The same command redelivered and a retry of the step: still one payment at Mercado Pago.
    live.send(request)
    live.send(factories.request_payment(command, budget_id))
    live.broker.wait_for("billing.PaymentRequested", count=2)
    live.broker.wait_idle()
    (at_mercadopago,) = live.sandbox.payments(payment_id)
    assert str(at_mercadopago["id"]) == mp_id

    live.sandbox.approve(mp_id)
    (paid,) = live.broker.wait_for("billing.PaymentApproved")
    assert paid.payload == {"payment_id": payment_id, "budget_id": budget_id, "mercadopago_payment_id": mp_id,
                            "status": "APPROVED", "amount_cents": factories.ITEMS_TOTAL}
    shown = live.api("get", f"payments/{payment_id}/", token=factories.customer_token()).json()
    assert shown["status"] == "APPROVED" and shown["qr_code"] and shown["mercadopago_payment_id"] == mp_id

    live.send(factories.command(command, "billing.RefundPayment", {"payment_id": payment_id, "reason": "work failed"}))
    (refunded,) = live.broker.wait_for("billing.PaymentRefunded")
    assert refunded.payload == {"payment_id": payment_id, "mercadopago_payment_id": mp_id,
                                "amount_cents": factories.ITEMS_TOTAL}
    assert live.sandbox.payment(mp_id)["status"] == "refunded"
    live.broker.wait_idle()
    assert len(live.broker.of_type("billing.PaymentRefunded")) == 1  # the refund's own webhook adds nothing
    assert live.api("get", f"payments/{payment_id}/", token=factories.staff_token()).json()["status"] == "REFUNDED"


def test_a_budget_approved_line_by_line_is_charged_for_the_approved_lines(live):
    items = [{**factories.ITEMS[0], "job": 1}, {**factories.ITEMS[1], "job": 1},
             {**factories.EXTRA_ITEMS[0], "job": 2}]
    command = factories.create_budget(items=items)
    live.send(command)
    (created,) = live.broker.wait_for("billing.BudgetCreated")
    budget_id = created.payload["budget_id"]
    token = LINK.search(wait_until(lambda: mail.outbox and mail.outbox[-1], message="the e-mail").body).group(1)
    approved = live.api("post", f"budgets/{budget_id}/approve/", json={"version": 1, "token": token, "lines": [1, 2]})
    assert approved.status_code == 200, approved.text
    assert approved.json()["approved_total_cents"] == factories.ITEMS_TOTAL
    (event,) = live.broker.wait_for("billing.BudgetApproved")
    assert event.payload["total_cents"] == factories.ITEMS_TOTAL
    assert event.payload["declined_total_cents"] == factories.EXTRA_TOTAL
    assert [line["status"] for line in event.payload["lines"]] == ["APPROVED", "APPROVED", "DECLINED"]
    # The saga asks for the approved amount; Mercado Pago is asked for exactly that.
    live.send(factories.request_payment(command, budget_id, amount_cents=event.payload["total_cents"]))
    (requested,) = live.broker.wait_for("billing.PaymentRequested")
    assert requested.payload["amount_cents"] == factories.ITEMS_TOTAL
    assert live.sandbox.payment(requested.payload["mercadopago_payment_id"])["transaction_amount"] == 122.0


def test_cancel_a_pending_payment(live):
    command, budget_id = create_and_approve(live)
    live.send(factories.request_payment(command, budget_id))
    (requested,) = live.broker.wait_for("billing.PaymentRequested")
    payment_id = requested.payload["payment_id"]
    live.send(factories.command(command, "billing.CancelPayment", {"payment_id": payment_id, "reason": "rejected"}))
    (cancelled,) = live.broker.wait_for("billing.PaymentCancelled")
    assert cancelled.payload == {"payment_id": payment_id}
    assert live.sandbox.payment(requested.payload["mercadopago_payment_id"])["status"] == "cancelled"
    live.broker.wait_idle()
    assert live.broker.of_type("billing.PaymentFailed") == []
    assert len(live.broker.of_type("billing.PaymentCancelled")) == 1


def test_checkout_with_a_failed_try_then_a_paid_one(live):
    command, budget_id = create_and_approve(live)
    live.send(factories.request_payment(command, budget_id, method="checkout"))
    (requested,) = live.broker.wait_for("billing.PaymentRequested")
    init_point = requested.payload["init_point"]
    assert init_point and requested.payload["mercadopago_payment_id"] is None
    requests.post(f"{init_point}/pay", data={"outcome": "reject"}, timeout=10).raise_for_status()
    requests.post(f"{init_point}/pay", data={"outcome": "approve"}, timeout=10).raise_for_status()
    (paid,) = live.broker.wait_for("billing.PaymentApproved")
    live.broker.wait_idle()
    assert live.broker.of_type("billing.PaymentFailed") == []
    assert paid.payload["payment_id"] == requested.payload["payment_id"]


def test_a_second_payment_for_a_paid_order_is_given_back(live):
    command, budget_id = create_and_approve(live)
    live.send(factories.request_payment(command, budget_id, method="checkout"))
    (requested,) = live.broker.wait_for("billing.PaymentRequested")
    payment_id = requested.payload["payment_id"]
    requests.post(f"{requested.payload['init_point']}/pay", data={"outcome": "approve"}, timeout=10).raise_for_status()
    (paid,) = live.broker.wait_for("billing.PaymentApproved")
    first = paid.payload["mercadopago_payment_id"]
    # Real Checkout Pro lets the customer pay the same preference again (the sandbox's page does not):
    # a second payment with our reference, made through Mercado Pago's API and approved.
    second = str(requests.post(f"{live.sandbox.url}/v1/payments", timeout=10, json={
        "transaction_amount": factories.ITEMS_TOTAL / 100, "payment_method_id": "pix", "description": "OS",
        "external_reference": payment_id, "notification_url": f"{live.url}/api/v1/webhooks/mercadopago/",
        "payer": {"email": factories.CUSTOMER_EMAIL}},
        headers={"Authorization": "Bearer t", "X-Idempotency-Key": f"second-{payment_id}"}).json()["id"])
    live.sandbox.approve(second)
    (refunded,) = live.broker.wait_for("billing.PaymentRefunded")
    assert refunded.payload == {"payment_id": payment_id, "mercadopago_payment_id": second,
                                "amount_cents": factories.ITEMS_TOTAL, "status": "REFUNDED", "duplicate": True,
                                "reason": "second payment for the same order"}
    wait_until(lambda: live.sandbox.payment(second)["status"] == "refunded", message="the second payment refunded")
    delivered = len([n for n in live.sandbox.notifications(second) if n["ok"]])
    live.sandbox.resend(second)  # the notification again (and the refund's own): nothing new
    wait_until(lambda: len([n for n in live.sandbox.notifications(second) if n["ok"]]) > delivered,
               message="the notification delivered again")
    live.broker.wait_idle()
    assert len(live.broker.of_type("billing.PaymentRefunded")) == 1
    assert live.sandbox.payment(first)["status"] == "approved"
    assert live.api("get", f"payments/{payment_id}/", token=factories.staff_token()).json()["status"] == "APPROVED"


def test_revision_supersedes_the_approved_version(live):
    command, budget_id = create_and_approve(live)
    live.send(factories.command(command, "billing.ReviseBudget",
                                {"budget_id": budget_id, "items": factories.EXTRA_ITEMS, "reason": "freio gasto"}))
    live.broker.wait_for("billing.BudgetCreated", count=2)
    revision = live.broker.of_type("billing.BudgetCreated")[-1]
    assert revision.payload["version"] == 2 and revision.payload["revision"] is True
    assert revision.payload["additional_total_cents"] == factories.EXTRA_TOTAL

    def versions() -> list[tuple[int, str]]:
        shown = live.api("get", f"budgets/{budget_id}/versions/", token=factories.customer_token()).json()
        return [(v["version"], v["status"]) for v in shown]

    # (version 2 is announced as soon as it exists; version 1 is superseded right after)
    wait_until(lambda: versions() == [(1, "SUPERSEDED"), (2, "PENDING_APPROVAL")], message="version 1 superseded")
    wait_until(lambda: len(mail.outbox) == 2, message="the second approval e-mail")
    stale = live.api("post", f"budgets/{budget_id}/approve/", token=factories.customer_token(), json={"version": 1})
    assert stale.status_code == 409 and "stale" in stale.json()["message"]


def test_cancel_budget_and_expiry(live, settings):
    command, budget_id = create_and_approve(live)
    live.send(factories.command(command, "billing.CancelBudget", {"budget_id": budget_id, "reason": "no parts"}))
    (cancelled,) = live.broker.wait_for("billing.BudgetCancelled")
    assert cancelled.payload == {"budget_id": budget_id, "version": 1, "status": "CANCELLED"}

    settings.BUDGET_APPROVAL_TTL_HOURS = 0.5 / 3600  # half a second
    expiring = factories.create_budget()
    live.send(expiring)
    live.broker.wait_for("billing.BudgetCreated", count=2)
    live.broker.wait_idle()
    def expired_here() -> list:
        # The tables are the session's: the expiry walk may also expire budgets other tests left due.
        return [e for e in live.broker.of_type("billing.BudgetExpired") if e.saga_id == expiring.saga_id]

    wait_until(lambda: live.run_task("billing.expire_budgets") or expired_here(), interval=0.5,
               message="BudgetExpired")
    (expired,) = expired_here()
    assert expired.saga_id == expiring.saga_id and expired.payload["version"] == 1
