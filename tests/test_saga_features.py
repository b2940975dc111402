"""The saga's BDD scenarios (features/saga.feature), driven over HTTP against the running system."""
from __future__ import annotations

import re
import uuid
import zlib

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from oficina_client import OficinaClient, items_of, mercosul_plate, valid_cpf, wait_for

scenarios("features/saga.feature")

WAIT = 40.0


@pytest.fixture
def ctx() -> dict:
    return {}


def reais_to_cents(text: str) -> int:
    return int(round(float(text.replace(",", ".")) * 100))


# --- Given -----------------------------------------------------------------------------------
@given(parsers.parse('Maria brought her car in with the complaint "{complaint}"'))
def maria_brings_her_car(staff: OficinaClient, ctx: dict, complaint: str) -> None:
    seed = zlib.crc32(uuid.uuid4().bytes)
    customer = staff.create_customer("Maria Souza", valid_cpf(seed), f"maria.{seed}@example.com")
    vehicle = staff.create_vehicle(customer["id"], mercosul_plate(seed), "Fiat", "Argo", 2021)
    order = staff.open_order(customer["id"], vehicle["id"], complaint, priority=3)
    assert order["status"] == "RECEIVED"
    ctx.update(customer=customer, vehicle=vehicle, order=order)
    ctx["customer_token"] = staff.customer_token(customer["document"], order["tracking_code"])


@given(parsers.parse("the workshop has an oil change service for R$ {price} and {stock:d} oil filters at R$ {unit}"))
def workshop_catalog(staff: OficinaClient, ctx: dict, price: str, stock: int, unit: str) -> None:
    ctx["service"] = staff.create_service("Troca de óleo", price, 40)
    ctx["part"] = staff.create_part("Filtro de óleo", unit, stock=stock)
    ctx["initial_stock"] = stock


# --- When ------------------------------------------------------------------------------------
@when(parsers.parse("the mechanic diagnoses an oil change and {quantity:d} oil filters"))
def diagnose(staff: OficinaClient, ctx: dict, quantity: int) -> None:
    order_id = ctx["order"]["id"]
    staff.start_diagnosis(order_id)
    staff.submit_diagnosis(order_id, [
        {"kind": "service", "catalog_id": ctx["service"]["id"], "quantity": 1},
        {"kind": "part", "catalog_id": ctx["part"]["id"], "quantity": quantity},
    ], notes="Óleo vencido")


def pending_budget(staff: OficinaClient, ctx: dict, version: int | None = None) -> dict:
    def probe() -> dict | None:
        for budget in staff.budgets(ctx["order"]["id"], token=ctx["customer_token"]):
            if budget["status"] == "PENDING_APPROVAL" and (version is None or budget["version"] == version):
                return budget
        return None

    return wait_for(probe, timeout=WAIT, what="a budget waiting for approval")


@when("Maria approves the budget")
def maria_approves(staff: OficinaClient, ctx: dict) -> None:
    budget = pending_budget(staff, ctx, ctx.get("expected_version"))
    staff.approve_budget(budget["budget_id"], budget["version"], token=ctx["customer_token"])
    ctx["budget"] = budget


@when(parsers.parse('Maria rejects the budget because "{reason}"'))
def maria_rejects(staff: OficinaClient, ctx: dict, reason: str) -> None:
    budget = pending_budget(staff, ctx, ctx.get("expected_version"))
    staff.reject_budget(budget["budget_id"], budget["version"], reason, token=ctx["customer_token"])
    ctx["budget"] = budget


@when("Maria does not answer until the budget expires")
def maria_waits(staff: OficinaClient, ctx: dict) -> None:
    pending_budget(staff, ctx)
    wait_for(lambda: staff.order(ctx["order"]["id"])["status"] == "CANCELLED", timeout=90,
             what="the budget to expire and the order to be cancelled")


def payment_of(staff: OficinaClient, ctx: dict, amount_cents: int | None = None) -> dict:
    def probe() -> dict | None:
        for payment in staff.payments(ctx["order"]["id"]):
            if payment.get("mercadopago_payment_id") and payment["status"] == "PENDING" and (
                    amount_cents is None or payment["amount_cents"] == amount_cents):
                return payment
        return None

    return wait_for(probe, timeout=WAIT, what="a payment request at Mercado Pago")


@when("Maria pays the Pix")
def maria_pays(staff: OficinaClient, ctx: dict) -> None:
    staff.wait_for_status(ctx["order"]["id"], "AWAITING_PAYMENT", WAIT)
    payment = payment_of(staff, ctx)
    assert payment["qr_code"], "the customer needs the Pix copy-paste code"
    staff.sandbox_set_status(payment["mercadopago_payment_id"], "approve")
    ctx["payment"] = payment
    staff.wait_for_status(ctx["order"]["id"], "IN_EXECUTION", WAIT)


@when("Maria pays the additional Pix")
def maria_pays_additional(staff: OficinaClient, ctx: dict) -> None:
    payment = payment_of(staff, ctx, ctx["additional_cents"])
    staff.sandbox_set_status(payment["mercadopago_payment_id"], "approve")
    wait_for(lambda: any(p["payment_id"] == payment["payment_id"] and p["status"] == "APPROVED"
                         for p in staff.payments(ctx["order"]["id"])), timeout=WAIT, what="the additional payment")


@when("Maria's bank rejects the Pix")
def bank_rejects(staff: OficinaClient, ctx: dict) -> None:
    payment = payment_of(staff, ctx)
    staff.sandbox_set_status(payment["mercadopago_payment_id"], "reject")
    ctx["payment"] = payment


@when("a mechanic takes the job and finishes it")
def mechanic_finishes(staff: OficinaClient, ctx: dict) -> None:
    job = staff.claim_job_of(ctx["order"]["id"], WAIT)
    staff.complete_job(job["queue_id"], "Óleo e filtro trocados")


@when(parsers.parse('a mechanic takes the job and fails it because "{reason}"'))
def mechanic_fails(staff: OficinaClient, ctx: dict, reason: str) -> None:
    job = staff.claim_job_of(ctx["order"]["id"], WAIT)
    staff.fail_job(job["queue_id"], reason)


@when("a mechanic takes the job and reports an extra oil filter")
def mechanic_reports_extra(staff: OficinaClient, ctx: dict) -> None:
    job = staff.claim_job_of(ctx["order"]["id"], WAIT)
    part = ctx["part"]
    unit_cents = reais_to_cents(str(part["unit_price"]))
    # By catalog item and quantity: the OS catalogue prices it.
    staff.report_additional_repair(job["queue_id"], [{"kind": "part", "catalog_id": str(part["id"]), "quantity": 1}],
                                   notes="Filtro extra necessário")
    ctx.update(job=job, additional_cents=unit_cents, expected_version=2)


@when("a mechanic takes the job")
def mechanic_takes(staff: OficinaClient, ctx: dict) -> None:
    ctx["job"] = staff.claim_job_of(ctx["order"]["id"], WAIT)


@when(parsers.parse("a mechanic takes the job and fails it with a {length:d}-character reason"))
def mechanic_fails_at_length(staff: OficinaClient, ctx: dict, length: int) -> None:
    job = staff.claim_job_of(ctx["order"]["id"], WAIT)
    staff.fail_job(job["queue_id"], long_text("Motor fundido, sem conserto. ", length))


@when(parsers.parse("the attendant cancels the order with a {length:d}-character reason"))
def attendant_cancels_at_length(staff: OficinaClient, ctx: dict, length: int) -> None:
    staff.cancel(ctx["order"]["id"], long_text("O cliente desistiu do conserto. ", length))


def long_text(sentence: str, length: int) -> str:
    return (sentence * (length // len(sentence) + 1))[:length]


@when("the attendant adds an oil filter to the budget")
def attendant_revises(staff: OficinaClient, ctx: dict) -> None:
    budget = pending_budget(staff, ctx) if staff.order(ctx["order"]["id"])["status"] == "AWAITING_APPROVAL" \
        else staff.budget(staff.budgets(ctx["order"]["id"])[0]["budget_id"])
    part = ctx["part"]
    revised = staff.revise_budget(budget["budget_id"], [{
        "kind": "part", "catalog_id": str(part["id"]), "description": part["name"], "quantity": 1,
        "unit_price_cents": reais_to_cents(str(part["unit_price"]))}], reason="Filtro extra")
    assert revised["version"] == budget["version"] + 1
    ctx.update(expected_version=revised["version"], additional_cents=reais_to_cents(str(ctx["part"]["unit_price"])))


@when("the mechanic finishes the job")
def the_mechanic_finishes(staff: OficinaClient, ctx: dict) -> None:
    staff.complete_job(ctx["job"]["queue_id"], "Concluído")


@when("the attendant hands the car back")
def hand_back(staff: OficinaClient, ctx: dict) -> None:
    staff.deliver(ctx["order"]["id"])


@when(parsers.parse('the attendant cancels the order because "{reason}"'))
def attendant_cancels(staff: OficinaClient, ctx: dict, reason: str) -> None:
    ctx["payment"] = payment_of(staff, ctx)
    staff.cancel(ctx["order"]["id"], reason)


# --- Then ------------------------------------------------------------------------------------
@then(parsers.parse("the order is awaiting approval with a budget of R$ {total}"))
@when(parsers.parse("the order is awaiting approval with a budget of R$ {total}"))
def awaiting_approval(staff: OficinaClient, ctx: dict, total: str) -> None:
    staff.wait_for_status(ctx["order"]["id"], "AWAITING_APPROVAL", WAIT)
    budget = pending_budget(staff, ctx)
    assert budget["total_cents"] == reais_to_cents(total)
    assert budget["currency"] == "BRL"
    assert budget["version"] == 1


@then(parsers.parse("the order is awaiting payment and {quantity:d} oil filters are reserved"))
@when(parsers.parse("the order is awaiting payment and {quantity:d} oil filters are reserved"))
def awaiting_payment(staff: OficinaClient, ctx: dict, quantity: int) -> None:
    staff.wait_for_status(ctx["order"]["id"], "AWAITING_PAYMENT", WAIT)
    part = staff.part(ctx["part"]["id"])
    assert part["quantity_reserved"] == quantity
    assert part["quantity_in_stock"] == ctx["initial_stock"]


@then("the order is in execution and the job is in the mechanics' queue")
def in_execution(staff: OficinaClient, ctx: dict) -> None:
    order = staff.wait_for_status(ctx["order"]["id"], "IN_EXECUTION", WAIT)
    assert order["status"] == "IN_EXECUTION"
    wait_for(lambda: any(j["service_order_id"] == ctx["order"]["id"] for j in staff.work_queue()),
             timeout=WAIT, what="the job in the queue")


@then(parsers.parse("the order is finished and {quantity:d} oil filters left the stock"))
def finished(staff: OficinaClient, ctx: dict, quantity: int) -> None:
    staff.wait_for_status(ctx["order"]["id"], "FINISHED", WAIT)
    part = wait_for(lambda: (p := staff.part(ctx["part"]["id"]))["quantity_reserved"] == 0 and p,
                    timeout=WAIT, what="the reserved filters to be consumed")
    assert part["quantity_in_stock"] == ctx["initial_stock"] - quantity


@then("the order is delivered")
def delivered(staff: OficinaClient, ctx: dict) -> None:
    assert staff.wait_for_status(ctx["order"]["id"], "DELIVERED", WAIT)["status"] == "DELIVERED"


def saga_of(staff: OficinaClient, ctx: dict) -> dict:
    execution = wait_for(lambda: (staff.executions(ctx["order"]["id"]) or [None])[0], timeout=WAIT,
                         what="the saga")
    return staff.execution(execution["execution_id"])


@then("the saga is completed with every step completed")
def saga_completed(staff: OficinaClient, ctx: dict) -> None:
    saga = wait_for(lambda: (s := saga_of(staff, ctx))["status"] == "COMPLETED" and s, timeout=WAIT,
                    what="the saga to complete")
    assert saga["steps"], "the saga records its steps"
    assert {step["status"] for step in saga["steps"]} == {"COMPLETED"}


@then(parsers.parse("the order's history reads {statuses}"))
def history_reads(staff: OficinaClient, ctx: dict, statuses: str) -> None:
    order = staff.order(ctx["order"]["id"])
    assert [h["to"] for h in order["status_history"]] == [s.strip() for s in statuses.split(",")][1:] or \
        [h["to"] for h in order["status_history"]] == [s.strip() for s in statuses.split(",")]


@then(parsers.parse('the order is cancelled and its history says "{words}"'))
def cancelled_with_reason(staff: OficinaClient, ctx: dict, words: str) -> None:
    order = staff.wait_for_status(ctx["order"]["id"], "CANCELLED", WAIT)
    last = order["status_history"][-1]
    assert last["to"] == "CANCELLED"
    assert re.search(words, last["reason"] or "", re.IGNORECASE), last


@then("no oil filter is reserved")
def nothing_reserved(staff: OficinaClient, ctx: dict) -> None:
    part = wait_for(lambda: (p := staff.part(ctx["part"]["id"]))["quantity_reserved"] == 0 and p, timeout=WAIT,
                    what="the reservation to be released")
    assert part["quantity_in_stock"] == ctx["initial_stock"]


@then(parsers.parse("{quantity:d} oil filters are in stock"))
def in_stock(staff: OficinaClient, ctx: dict, quantity: int) -> None:
    assert staff.part(ctx["part"]["id"])["quantity_in_stock"] == quantity


@then("the budget is cancelled")
def budget_cancelled(staff: OficinaClient, ctx: dict) -> None:
    wait_for(lambda: staff.budget(ctx["budget"]["budget_id"], token=ctx["customer_token"])["status"] == "CANCELLED",
             timeout=WAIT, what="the budget to be cancelled")


@then("the saga is compensated")
def saga_compensated(staff: OficinaClient, ctx: dict) -> None:
    saga = wait_for(lambda: (s := saga_of(staff, ctx))["status"] == "COMPENSATED" and s, timeout=WAIT,
                    what="the saga to be compensated")
    assert saga["status"] == "COMPENSATED"


@then("Maria's payment is refunded at Mercado Pago")
def refunded(staff: OficinaClient, ctx: dict) -> None:
    mp_id = ctx["payment"]["mercadopago_payment_id"]
    wait_for(lambda: staff.sandbox_payment(mp_id)["status"] == "refunded", timeout=WAIT, what="the refund")

    def billings_record() -> dict:
        return next(p for p in staff.payments(ctx["order"]["id"]) if p["payment_id"] == ctx["payment"]["payment_id"])

    # Billing records the refund once Mercado Pago's answer is in: a moment after the sandbox shows it.
    payment = wait_for(lambda: (p := billings_record())["status"] == "REFUNDED" and p, timeout=WAIT,
                       what="Billing to record the refund")
    assert payment["status"] == "REFUNDED"


@then("Maria's payment is refunded at Mercado Pago exactly once")
def refunded_once(staff: OficinaClient, ctx: dict) -> None:
    ctx["payment"] = next(p for p in staff.payments(ctx["order"]["id"]) if p["status"] in ("APPROVED", "REFUNDED"))
    refunded(staff, ctx)
    assert len(staff.sandbox_payment(ctx["payment"]["mercadopago_payment_id"])["refunds"]) == 1


@then(parsers.parse("Maria is asked to pay R$ {total}"))
@when(parsers.parse("Maria is asked to pay R$ {total}"))
def asked_to_pay(staff: OficinaClient, ctx: dict, total: str) -> None:
    payment = payment_of(staff, ctx, reais_to_cents(total))
    assert payment["budget_version"] == ctx["expected_version"]


@then("Maria's payment is cancelled at Mercado Pago")
def payment_cancelled(staff: OficinaClient, ctx: dict) -> None:
    mp_id = ctx["payment"]["mercadopago_payment_id"]
    wait_for(lambda: staff.sandbox_payment(mp_id)["status"] == "cancelled", timeout=WAIT,
             what="the payment to be cancelled")


@then(parsers.parse("a second budget version of R$ {total} waits for Maria"))
def second_version(staff: OficinaClient, ctx: dict, total: str) -> None:
    budget = pending_budget(staff, ctx, version=2)
    assert budget["total_cents"] == reais_to_cents(total)
    versions = items_of(staff.json("GET", f"{staff.urls.billing}/api/v1/budgets/{budget['budget_id']}/versions/"))
    assert [v["status"] for v in sorted(versions, key=lambda v: v["version"])] == ["SUPERSEDED", "PENDING_APPROVAL"]


# --- line by line: two jobs of three approved, the third comes back ------------------------------
@given(parsers.parse("the workshop also does brakes for R$ {brakes} with pads at R$ {pads} "
                     "and sells tyres at R$ {tyre}"))
def brakes_and_tyres(staff: OficinaClient, ctx: dict, brakes: str, pads: str, tyre: str) -> None:
    ctx["brakes"] = staff.create_service("Revisão dos freios", brakes, 90)
    ctx["pads"] = staff.create_part("Pastilha de freio", pads, stock=10)
    ctx["tyre"] = staff.create_part("Pneu 175/65 R14", tyre, stock=8)


@when(parsers.parse("the mechanic diagnoses the oil change, the brakes and {tyres:d} tyres as three jobs"))
def diagnose_three_jobs(staff: OficinaClient, ctx: dict, tyres: int) -> None:
    order_id = ctx["order"]["id"]
    staff.start_diagnosis(order_id)
    staff.submit_diagnosis(order_id, [
        {"kind": "service", "catalog_id": ctx["service"]["id"], "quantity": 1, "job": 1},
        {"kind": "part", "catalog_id": ctx["part"]["id"], "quantity": 2, "job": 1},
        {"kind": "service", "catalog_id": ctx["brakes"]["id"], "quantity": 1, "job": 2},
        {"kind": "part", "catalog_id": ctx["pads"]["id"], "quantity": 2, "job": 2},
        {"kind": "part", "catalog_id": ctx["tyre"]["id"], "quantity": tyres, "job": 3},
    ], notes="Óleo vencido, pastilhas no fim, pneus carecas")


@when("Maria approves the oil change and the brakes and declines the tyres")
def maria_approves_two_jobs(staff: OficinaClient, ctx: dict) -> None:
    budget = pending_budget(staff, ctx)
    lines = [item["line_id"] for item in budget["items"] if item["job"] in (1, 2)]
    decided = staff.approve_budget(budget["budget_id"], budget["version"], token=ctx["customer_token"], lines=lines)
    assert [item["status"] for item in decided["items"]] == ["APPROVED"] * 4 + ["DECLINED"]
    ctx.update(budget=budget, expected_version=budget["version"])


@then("2 brake pads are reserved and no tyre is")
def pads_not_tyres(staff: OficinaClient, ctx: dict) -> None:
    assert staff.part(ctx["pads"]["id"])["quantity_reserved"] == 2
    assert staff.part(ctx["tyre"]["id"])["quantity_reserved"] == 0


@then("the job in the mechanics' queue lists only the oil change and the brakes")
def job_lists_approved_work(staff: OficinaClient, ctx: dict) -> None:
    job = wait_for(lambda: next((j for j in staff.work_queue() if j["service_order_id"] == ctx["order"]["id"]), None),
                   timeout=WAIT, what="the job in the queue")
    assert sorted((i["kind"], str(i["catalog_id"])) for i in job["items"]) == sorted([
        ("service", str(ctx["service"]["id"])), ("part", str(ctx["part"]["id"])),
        ("service", str(ctx["brakes"]["id"])), ("part", str(ctx["pads"]["id"]))])


@then(parsers.parse("the order shows R$ {declined} declined and the car's declined work is the {tyres:d} tyres"))
def declined_work_kept(staff: OficinaClient, ctx: dict, declined: str, tyres: int) -> None:
    order = staff.order(ctx["order"]["id"])
    assert order["declined_total_cents"] == reais_to_cents(declined)
    assert [i["decision"] for i in order["items"]] == ["ACCEPTED"] * 4 + ["DECLINED"]
    rows = staff.declined_work(ctx["vehicle"]["id"])
    assert [(r["catalog_id"], r["quantity"], r["total_cents"]) for r in rows] == [
        (ctx["tyre"]["id"], tyres, reais_to_cents(declined))]


@when("30 days pass")
def thirty_days_pass(system, ctx: dict) -> None:
    ctx["reminder_output"] = system.manage("os", "remind_declined_work", "--days-ahead", "31")


@then("Maria is e-mailed a link to bring the tyres back")
def reminder_sent(ctx: dict) -> None:
    output = ctx["reminder_output"]
    assert "declined-work reminders sent: 1" in output
    assert ctx["customer"]["email"] in output and "Pneu 175/65 R14" in output
    link = re.search(r"https?://[^\s\"<>]+/declined/[A-Za-z0-9_-]+/", output)
    assert link, output[-2000:]
    ctx["declined_link"] = link.group(0)


@when("Maria follows the link and asks for the tyres")
def maria_comes_back(system, ctx: dict) -> None:
    import requests

    link = system.url("os") + "/declined/" + ctx["declined_link"].rstrip("/").rsplit("/", 1)[1] + "/"
    browser = requests.Session()
    page = browser.get(link, timeout=10)
    assert page.status_code == 200 and "Pneu 175/65 R14" in page.text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    for _ in range(2):  # asked twice: one order
        asked = browser.post(link, data={"csrfmiddlewaretoken": token}, headers={"Referer": link}, timeout=10)
        assert asked.status_code == 200, asked.text[-500:]


@then("a new order for her car is open with the 4 tyres at today's price")
def new_order_with_tyres(staff: OficinaClient, ctx: dict) -> None:
    orders = items_of(staff.json("GET", f"{staff.urls.os}/api/v1/service-orders/",
                                 params={"vehicle_id": ctx["vehicle"]["id"], "status": "RECEIVED"}))
    assert len(orders) == 1
    order = staff.order(orders[0]["id"])
    assert ctx["order"]["number"] in order["complaint"]
    assert [(i["catalog_id"], i["quantity"], i["unit_price_cents"]) for i in order["items"]] == [
        (ctx["tyre"]["id"], 4, reais_to_cents(str(ctx["tyre"]["unit_price"])))]
