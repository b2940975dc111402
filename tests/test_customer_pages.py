"""The customer's pages in a real browser (Debian's Chromium, phone-sized), against the running system.

The customer only ever has what the e-mails give them: the tracking page and the approval link.
The link is read from the file Billing's e-mail backend wrote; everything else is clicks. A
full-page screenshot of each page goes to ARTIFACTS/screenshots for people to look at.
"""
from __future__ import annotations

import re
import uuid
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from browser_support.chromium import phone
from browser_support.mailbox import wait_for_approval_link, wait_for_payment_link
from conftest import screenshot
from oficina_client import OficinaClient, items_of, mercosul_plate, valid_cpf, wait_for

WAIT_MS = 45_000


@pytest.fixture
def mobile(browser_app) -> Iterator[Any]:
    with phone(browser_app, timeout_ms=WAIT_MS) as page:
        yield page


def text(page: Any, testid: str) -> str:
    return page.get_by_test_id(testid).inner_text().strip()


def diagnosed_order(staff: OficinaClient, who: str) -> dict:
    """A customer's car with a diagnosis submitted: the saga e-mails the approval link next."""
    seed = zlib.crc32(uuid.uuid4().bytes)
    customer = staff.create_customer(f"{who} Almeida", valid_cpf(seed), f"{who.lower()}.{seed}@example.com")
    vehicle = staff.create_vehicle(customer["id"], mercosul_plate(seed), "Volkswagen", "Gol", 2019)
    order = staff.open_order(customer["id"], vehicle["id"], "Barulho ao frear")
    service = staff.create_service("Revisão dos freios", "1250.00", 90)
    part = staff.create_part("Pastilha de freio", "35.50", stock=10)
    return {"customer": customer, "order": order, "service": service, "part": part}


def diagnose(staff: OficinaClient, order: dict) -> None:
    staff.start_diagnosis(order["order"]["id"])
    staff.submit_diagnosis(order["order"]["id"], [
        {"kind": "service", "catalog_id": order["service"]["id"], "quantity": 1},
        {"kind": "part", "catalog_id": order["part"]["id"], "quantity": 2},
    ], notes="Pastilhas no fim")


def test_the_customer_tracks_approves_and_pays_with_pix(system, staff, mobile) -> None:
    order = diagnosed_order(staff, "Joana")
    number, code = order["order"]["number"], order["order"]["tracking_code"]

    tracking = mobile.goto(f"{system.url('os')}/track/{code}/")
    assert tracking.status == 200
    assert text(mobile, "order-number") == number
    assert text(mobile, "order-status")
    screenshot(mobile, "01-tracking.png")

    diagnose(staff, order)
    link = wait_for_approval_link(system.mail_dir, order["customer"]["email"])
    assert link.startswith(f"{system.url('billing')}/budgets/review/")

    review = mobile.goto(link)
    assert review.status == 200
    assert mobile.get_by_test_id("budget-item").count() == 2
    assert mobile.get_by_test_id("item-description").all_inner_texts() == ["Revisão dos freios", "Pastilha de freio"]
    assert text(mobile, "budget-total") == "R$ 1.321,00"
    screenshot(mobile, "02-budget-review.png")

    mobile.get_by_test_id("approve-button").click()
    mobile.wait_for_url(re.compile(r"/budgets/[0-9a-f-]+/v1/payment/\?t="))
    pix_code = mobile.get_by_test_id("pix-code")
    pix_code.wait_for(state="visible", timeout=WAIT_MS)  # the page polls until the saga asked for the Pix
    assert mobile.get_by_test_id("pix-qr").evaluate("img => img.complete && img.naturalWidth > 0")
    assert text(mobile, "payment-amount") == "R$ 1.321,00"
    screenshot(mobile, "03-payment-pix.png")
    mobile.get_by_test_id("pix-copy").click()
    mobile.get_by_test_id("pix-copied").wait_for(state="visible", timeout=5_000)
    assert mobile.evaluate("navigator.clipboard.readText()") == pix_code.inner_text().strip()

    (payment,) = [p for p in staff.payments(order["order"]["id"]) if p["mercadopago_payment_id"]]
    assert payment["qr_code"] == pix_code.inner_text().strip()
    mobile.evaluate("window.__stillTheSamePage = true")
    staff.sandbox_set_status(payment["mercadopago_payment_id"], "approve")

    status = mobile.get_by_test_id("payment-status")
    mobile.wait_for_function(
        "() => document.querySelector('[data-testid=payment-status]').textContent.includes('Pagamento confirmado')",
        timeout=WAIT_MS)
    assert status.inner_text().strip() == "Pagamento confirmado"
    assert mobile.evaluate("window.__stillTheSamePage === true"), "the page reloaded instead of updating itself"
    screenshot(mobile, "04-payment-confirmed.png")
    staff.wait_for_status(order["order"]["id"], "IN_EXECUTION", 40)
    # Leave the shared work queue as found: the other cross-service tests claim "the next job".
    job = staff.claim_job_of(order["order"]["id"], 40)
    staff.complete_job(job["queue_id"], "Pastilhas trocadas")


def test_a_budget_approved_by_phone_is_paid_from_the_tracking_page(system, staff, mobile) -> None:
    """The attendant records the customer's yes; the order moves to AWAITING_PAYMENT as the Pix is
    asked for, and its e-mail and the tracking page send her to Billing's payment page."""
    order = diagnosed_order(staff, "Paula")
    order_id, email = order["order"]["id"], order["customer"]["email"]
    diagnose(staff, order)
    budget = wait_for(lambda: (staff.budgets(order_id) or [None])[0], timeout=40, what="the budget")
    staff.approve_budget(budget["budget_id"], budget["version"], reason="Aprovado por telefone")
    staff.wait_for_status(order_id, "AWAITING_PAYMENT", 40)
    e_mailed = wait_for_payment_link(system.mail_dir, email)
    assert e_mailed.startswith(f"{system.url('billing')}/budgets/{budget['budget_id']}/v1/payment/?t=")

    mobile.goto(f"{system.url('os')}/track/{order['order']['tracking_code']}/")
    assert text(mobile, "payment-status") == "Aguardando pagamento"
    assert text(mobile, "payment-amount") == "R$ 1.321,00"
    pay = mobile.get_by_test_id("payment-page-link")
    assert pay.inner_text().strip() == "Pagar agora" and pay.get_attribute("href") == e_mailed
    screenshot(mobile, "13-tracking-pay-now.png")

    pay.click()
    mobile.wait_for_url(re.compile(r"/budgets/[0-9a-f-]+/v1/payment/\?t="))
    pix_code = mobile.get_by_test_id("pix-code")
    pix_code.wait_for(state="visible", timeout=WAIT_MS)
    assert text(mobile, "payment-amount") == "R$ 1.321,00"
    screenshot(mobile, "14-payment-from-tracking.png")
    (payment,) = [p for p in staff.payments(order_id) if p["mercadopago_payment_id"]]
    assert payment["qr_code"] == pix_code.inner_text().strip()
    staff.sandbox_set_status(payment["mercadopago_payment_id"], "approve")
    staff.wait_for_status(order_id, "IN_EXECUTION", 40)
    job = staff.claim_job_of(order_id, 40)  # the shared work queue left as found
    staff.complete_job(job["queue_id"], "Pastilhas trocadas")


def test_the_customer_rejects_with_a_reason_and_the_link_works_once(system, staff, mobile) -> None:
    order = diagnosed_order(staff, "Carlos")
    diagnose(staff, order)
    link = wait_for_approval_link(system.mail_dir, order["customer"]["email"])

    mobile.goto(link)
    mobile.get_by_test_id("reject-button").click()  # no reason yet: the browser asks for one
    assert mobile.url == link
    assert mobile.get_by_test_id("reject-reason").evaluate("field => !field.validity.valid")

    mobile.get_by_test_id("reject-reason").fill("Vou fazer em outra oficina")
    mobile.get_by_test_id("reject-button").click()
    mobile.wait_for_url(re.compile(r"/budgets/[0-9a-f-]+/v1/rejected/\?t="))
    assert text(mobile, "message-title") == "Orçamento recusado"
    assert text(mobile, "rejection-reason") == "Vou fazer em outra oficina"
    screenshot(mobile, "05-budget-rejected.png")

    again = mobile.goto(link)
    assert again.status == 410
    assert text(mobile, "message-title") == "Este link já foi usado"
    assert mobile.get_by_test_id("approve-button").count() == 0
    screenshot(mobile, "06-link-used.png")

    wait_for(lambda: staff.order(order["order"]["id"])["status"] == "CANCELLED", timeout=40,
             what="the rejected order to be cancelled")


def test_the_customer_approves_two_jobs_of_three_and_the_declined_one_comes_back(system, staff, mobile) -> None:
    """Line by line: each job its own Aprovar / Recusar, an optional part left out, a running total;
    the payment is for what was approved; the tracking page and, 30 days on, the e-mailed offer show
    what was declined, and one tap opens a new order for it."""
    seed = zlib.crc32(uuid.uuid4().bytes)
    customer = staff.create_customer("Rita Almeida", valid_cpf(seed), f"rita.{seed}@example.com")
    vehicle = staff.create_vehicle(customer["id"], mercosul_plate(seed), "Chevrolet", "Onix", 2020)
    order = staff.open_order(customer["id"], vehicle["id"], "Freio chiando, carro puxando, pneus gastos")
    brakes = staff.create_service("Revisão dos freios", "1250.00", 90)
    pads = staff.create_part("Pastilha de freio", "35.50", stock=10)
    alignment = staff.create_service("Alinhamento", "90.00", 40)
    wiper = staff.create_part("Palheta do limpador", "45.00", stock=10)
    staff.json("PATCH", f"{staff.urls.os}/api/v1/parts/{wiper['id']}/", json={"may_decline_alone": True})
    tyre = staff.create_part("Pneu 175/65 R14", "300.00", stock=8)
    staff.start_diagnosis(order["id"])
    staff.submit_diagnosis(order["id"], [
        {"kind": "service", "catalog_id": brakes["id"], "quantity": 1, "job": 1},
        {"kind": "part", "catalog_id": pads["id"], "quantity": 2, "job": 1},
        {"kind": "service", "catalog_id": alignment["id"], "quantity": 1, "job": 2},
        {"kind": "part", "catalog_id": wiper["id"], "quantity": 1, "job": 2},
        {"kind": "part", "catalog_id": tyre["id"], "quantity": 4, "job": 3},
    ], notes="Pastilhas no fim; pneus carecas")
    link = wait_for_approval_link(system.mail_dir, customer["email"])

    mobile.goto(link)
    assert mobile.get_by_test_id("job").count() == 3
    assert text(mobile, "approved-total") == "R$ 2.656,00"  # everything, until she chooses
    screenshot(mobile, "07-review-jobs.png")

    jobs = mobile.get_by_test_id("job")
    jobs.nth(2).get_by_test_id("job-decline").check()  # the tyres: not now
    jobs.nth(1).get_by_test_id("optional-line").uncheck()  # the wiper: the workshop lets it go alone
    assert text(mobile, "approved-total") == "R$ 1.411,00"
    assert jobs.nth(1).get_by_test_id("job-total").inner_text().strip() == "R$ 90,00"  # the wiper left out
    screenshot(mobile, "08-review-choices.png")

    mobile.get_by_test_id("confirm-button").click()
    mobile.wait_for_url(re.compile(r"/budgets/[0-9a-f-]+/v1/payment/\?t="))
    mobile.get_by_test_id("pix-code").wait_for(state="visible", timeout=WAIT_MS)
    assert text(mobile, "payment-amount") == "R$ 1.411,00"
    screenshot(mobile, "09-payment-for-what-was-approved.png")
    (payment,) = [p for p in staff.payments(order["id"]) if p["mercadopago_payment_id"]]
    assert payment["amount_cents"] == 141100
    staff.sandbox_set_status(payment["mercadopago_payment_id"], "approve")
    staff.wait_for_status(order["id"], "IN_EXECUTION", 40)
    assert staff.part(tyre["id"])["quantity_reserved"] == 0 and staff.part(wiper["id"])["quantity_reserved"] == 0

    mobile.goto(f"{system.url('os')}/track/{order['tracking_code']}/")
    declined = [" ".join(line.split()) for line in mobile.get_by_test_id("declined-line").all_inner_texts()]
    assert declined == ["1× Palheta do limpador R$ 45,00", "4× Pneu 175/65 R14 R$ 1.200,00"]
    assert text(mobile, "declined-total") == "R$ 1.245,00"
    screenshot(mobile, "10-tracking-declined.png")

    job = staff.claim_job_of(order["id"], 40)
    staff.complete_job(job["queue_id"], "Freios revisados, carro alinhado")
    staff.wait_for_status(order["id"], "FINISHED", 40)
    staff.deliver(order["id"])

    sent = system.manage("os", "remind_declined_work", "--days-ahead", "31")
    token = re.search(r"/declined/([A-Za-z0-9_-]+)/", sent).group(1)
    mobile.goto(f"{system.url('os')}/declined/{token}/")
    assert mobile.get_by_test_id("declined-line").count() == 2
    screenshot(mobile, "11-declined-offer.png")
    mobile.get_by_test_id("come-back").click()
    mobile.get_by_test_id("come-back-done").wait_for(state="visible", timeout=WAIT_MS)
    screenshot(mobile, "12-came-back.png")
    opened = items_of(staff.json("GET", f"{staff.urls.os}/api/v1/service-orders/",
                                 params={"vehicle_id": vehicle["id"], "status": "RECEIVED"}))
    assert len(opened) == 1
    assert sorted(i["catalog_id"] for i in staff.order(opened[0]["id"])["items"]) == sorted([wiper["id"], tyre["id"]])
