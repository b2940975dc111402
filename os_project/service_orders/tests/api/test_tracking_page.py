"""The customer's tracking page, read the way a browser test reads it: by data-testid."""
from datetime import UTC, datetime

import pytest

from oficina_common.html_testing import by_testid, one
from service_orders.models import ServiceOrder, StatusHistory
from service_orders.services import service_order_apply_saga_status, service_order_deliver

pytestmark = pytest.mark.django_db

PIX = "00020126580014br.gov.bcb.pix0136PIXCODE5204000053039865802BR6304ABCD"
BUDGET = {"budget_id": "b-1", "version": 1, "status": "PENDING_APPROVAL", "total_cents": 123456}
PAYMENT = {"payment_id": "p-1", "status": "PENDING", "amount_cents": 123456, "qr_code": PIX,
           "init_point": "https://mp.test/checkout/1"}
EXECUTION = {"execution_id": "e-1", "status": "IN_PROGRESS", "current_step": "await_payment"}
PAYMENT_PAGE = "http://billing.test/budgets/b-1/v1/payment/?t=signed.token"
# What the saga's move to AWAITING_PAYMENT carries: the payment asked for, before its Pix exists.
REQUESTED = {"status": "REQUESTED", "amount_cents": 15550, "payment_url": PAYMENT_PAGE}


def saga(order, to, **summary):
    assert service_order_apply_saga_status(service_order_id=order.pk, to=to, reason="saga", summary=summary)
    return ServiceOrder.objects.get(pk=order.pk)


def page(client, order):
    response = client.get(f"/track/{order.tracking_code}/")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    return response.content.decode()


def test_a_waiting_payment_shows_the_pix_code_the_budget_and_the_timeline(client, diagnosed_order):
    saga(diagnosed_order, "AWAITING_APPROVAL", budget=BUDGET, execution=EXECUTION)
    order = saga(diagnosed_order, "AWAITING_PAYMENT", budget={**BUDGET, "status": "APPROVED"}, payment=PAYMENT)

    html = page(client, order)

    assert one(html, "order-number").text == order.number
    assert one(html, "order-status").text == "Aguardando pagamento"
    assert one(html, "order-status")["data-status"] == "AWAITING_PAYMENT"
    assert one(html, "next-action")["data-action"] == "pay_pix"
    assert "Pague o Pix" in one(html, "next-action").text
    assert one(html, "budget-status").text == "Aprovado"
    assert one(html, "budget-total").text == "R$ 1.234,56"
    assert one(html, "payment-status").text == "Aguardando pagamento"
    assert one(html, "payment-amount").text == "R$ 1.234,56"
    assert one(html, "pix-code").text == PIX
    assert one(html, "payment-link")["href"] == "https://mp.test/checkout/1"
    assert one(html, "vehicle").text == "Chevrolet Onix 2020 · placa ABC••23"
    timeline = by_testid(html)["timeline-item"]
    assert [(item["data-status"], item["data-state"]) for item in timeline] == [
        ("RECEIVED", "done"), ("IN_DIAGNOSIS", "done"), ("AWAITING_APPROVAL", "done"),
        ("AWAITING_PAYMENT", "current"), ("IN_EXECUTION", "pending"), ("FINISHED", "pending"),
        ("DELIVERED", "pending")]
    assert [item.text.split()[0] for item in timeline][:2] == ["Recebida", "Em"]


def test_awaiting_payment_sends_the_customer_to_billings_payment_page(client, diagnosed_order):
    saga(diagnosed_order, "AWAITING_APPROVAL", budget=BUDGET, execution=EXECUTION)
    order = saga(diagnosed_order, "AWAITING_PAYMENT", budget={**BUDGET, "status": "APPROVED"}, payment=REQUESTED)

    html = page(client, order)

    button = one(html, "payment-page-link")
    assert (button.text, button["href"], button["rel"]) == ("Pagar agora", PAYMENT_PAGE, "noopener noreferrer")
    assert "mostra o Pix (QR code e copia e cola)" in one(html, "payment-page-note").text
    assert one(html, "payment-status").text == "Aguardando pagamento"
    assert one(html, "payment-status")["data-status"] == "REQUESTED"
    assert one(html, "payment-amount").text == "R$ 155,50"
    assert one(html, "next-action")["data-action"] == "pay_link"
    assert "Pague pelo botão “Pagar agora”" in one(html, "next-action").text
    assert "pix-code" not in by_testid(html) and "payment-link" not in by_testid(html)  # no Pix yet


def test_a_link_that_is_not_a_web_address_is_never_rendered(client, diagnosed_order):
    """The links come in a message: a javascript: (or data:) one is no button to press."""
    saga(diagnosed_order, "AWAITING_APPROVAL", budget=BUDGET)
    order = saga(diagnosed_order, "AWAITING_PAYMENT", payment={
        "payment_id": "p-1", "status": "PENDING", "amount_cents": 15550, "qr_code": PIX,
        "payment_url": "javascript:alert(document.cookie)", "init_point": " JavaScript:alert(1)"})

    html = page(client, order)

    found = by_testid(html)
    assert "payment-page-link" not in found and "payment-link" not in found
    assert "javascript:" not in html.lower()
    assert one(html, "pix-code").text == PIX  # the code itself is text, still there to copy
    assert one(html, "next-action")["data-action"] == "pay_pix"


def test_the_additional_repairs_pix_shows_its_code_beside_the_payment_page_until_paid(client, diagnosed_order):
    order = diagnosed_order
    for status in ("AWAITING_APPROVAL", "AWAITING_PAYMENT", "IN_EXECUTION"):
        order = saga(order, status)
    extra = {**PAYMENT, "amount_cents": 5000, "payment_url": PAYMENT_PAGE.replace("/v1/", "/v2/")}
    order = saga(order, "IN_EXECUTION", budget={**BUDGET, "version": 2, "status": "APPROVED"}, payment=extra)

    html = page(client, order)
    assert one(html, "payment-page-link")["href"] == extra["payment_url"]
    assert one(html, "pix-code").text == PIX
    assert one(html, "payment-link")["href"] == "https://mp.test/checkout/1"
    assert one(html, "next-action")["data-action"] == "pay_pix"

    html = page(client, saga(order, "IN_EXECUTION", payment={**extra, "status": "APPROVED"}))
    assert one(html, "payment-status").text == "Pago"
    assert not {"payment-page-link", "pix-code", "payment-link"} & set(by_testid(html))


def test_times_are_shown_in_sao_paulo_time(client, order):
    StatusHistory.objects.filter(service_order=order).update(at=datetime(2025, 3, 10, 15, 5, tzinfo=UTC))
    time = one(page(client, order), "timeline-time")
    assert time.text == "10/03/2025 às 12:05"
    assert time["datetime"].startswith("2025-03-10T12:05:00") and time["datetime"].endswith("-03:00")


@pytest.mark.parametrize("to, summary, action, text", [
    ("AWAITING_APPROVAL", {"budget": BUDGET}, "approve_budget", "Aprove o orçamento: enviamos o link por e-mail."),
    ("AWAITING_APPROVAL", {"budget": {**BUDGET, "status": "APPROVED"}}, "wait", "estamos separando as peças"),
    ("AWAITING_PAYMENT", {"payment": {"status": "REQUESTED"}}, "wait", "estamos gerando o seu Pix"),
    ("IN_EXECUTION", {"payment": {**PAYMENT, "status": "APPROVED"}}, "wait", "estamos trabalhando"),
    ("FINISHED", {}, "pick_up", "Seu carro está pronto: venha buscá-lo."),
])
def test_the_page_says_the_one_thing_to_do_next(client, diagnosed_order, to, summary, action, text):
    order = diagnosed_order
    path = ["AWAITING_APPROVAL", "AWAITING_PAYMENT", "IN_EXECUTION", "FINISHED"]
    for status in path[:path.index(to)]:
        order = saga(order, status)
    order = saga(order, to, **summary)
    html = page(client, order)
    found = by_testid(html)["next-action"]
    assert len(found) == 1 and found[0]["data-action"] == action and text in found[0].text
    if to != "AWAITING_PAYMENT":
        assert "pix-code" not in by_testid(html)


def test_a_revised_budget_during_the_work_asks_for_approval_then_payment(client, diagnosed_order):
    order = diagnosed_order
    for status in ("AWAITING_APPROVAL", "AWAITING_PAYMENT", "IN_EXECUTION"):
        order = saga(order, status)
    order = saga(order, "IN_EXECUTION", budget={**BUDGET, "version": 2, "total_cents": 5000})
    html = page(client, order)
    assert one(html, "next-action")["data-action"] == "approve_budget"
    assert "(versão 2)" in html and one(html, "budget-total").text == "R$ 50,00"
    order = saga(order, "IN_EXECUTION", budget={"status": "APPROVED"}, payment={**PAYMENT, "amount_cents": 5000})
    html = page(client, order)
    assert one(html, "next-action")["data-action"] == "pay_pix"
    assert one(html, "payment-amount").text == "R$ 50,00"


def test_no_personal_data_beyond_the_first_name(client, diagnosed_order):
    order = saga(diagnosed_order, "AWAITING_APPROVAL", budget=BUDGET)
    html = page(client, order)
    assert one(html, "greeting").text == "Olá, Maria!"
    for private in ("Silva", "52998224725", "529.982.247-25", "maria@example.com", "99999-0000", "(11)",
                    "ABC1D23", "Barulho no motor", "Óleo vencido", "mario", f"customers/{order.customer_id}"):
        assert private not in html, private


def test_a_closed_order_stops_refreshing_and_shows_no_payment_code(client, diagnosed_order):
    order = diagnosed_order
    for status in ("AWAITING_APPROVAL", "AWAITING_PAYMENT", "IN_EXECUTION"):
        order = saga(order, status, payment=PAYMENT)
    order = saga(order, "FINISHED", payment={**PAYMENT, "status": "APPROVED"})
    service_order_deliver(service_order_id=order.pk, by="ana")
    html = page(client, order)
    assert one(html, "next-action")["data-action"] == "nothing"
    assert one(html, "payment-status").text == "Pago"
    assert "pix-code" not in by_testid(html) and "http-equiv" not in html
    assert "data-refresh-url" not in one(html, "tracking-page").attrs
    assert [item["data-state"] for item in by_testid(html)["timeline-item"]] == ["done"] * 7


def test_a_cancelled_order_shows_what_happened(client, diagnosed_order):
    order = saga(diagnosed_order, "AWAITING_APPROVAL", budget=BUDGET)
    order = saga(order, "CANCELLED", budget={"status": "CANCELLED"})
    html = page(client, order)
    assert one(html, "order-status").text == "Cancelada"
    assert one(html, "budget-status").text == "Cancelado"
    assert [(i["data-status"], i["data-state"]) for i in by_testid(html)["timeline-item"]] == [
        ("RECEIVED", "done"), ("IN_DIAGNOSIS", "done"), ("AWAITING_APPROVAL", "done"), ("CANCELLED", "cancelled")]
    assert "data-refresh-url" not in one(html, "tracking-page").attrs


def test_the_page_refreshes_itself_when_the_order_changes(client, anonymous_api, diagnosed_order):
    html = page(client, diagnosed_order)
    root = one(html, "tracking-page")
    assert root["data-poll-seconds"] == "5"
    assert root["data-refresh-url"] == f"/api/v1/tracking/{diagnosed_order.tracking_code}/"
    assert '<noscript><meta http-equiv="refresh"' in html  # without JavaScript the page reloads instead
    assert anonymous_api.get(root["data-refresh-url"]).json()["updated_at"] == root["data-version"]
    saga(diagnosed_order, "IN_DIAGNOSIS", budget=BUDGET)  # a summary-only change must be noticed too
    assert anonymous_api.get(root["data-refresh-url"]).json()["updated_at"] != root["data-version"]


def test_the_page_is_never_cached_and_not_indexed(client, order):
    response = client.get(f"/track/{order.tracking_code}/")
    assert "no-cache" in response["Cache-Control"] and "noindex" in response.content.decode()


def test_the_page_costs_a_fixed_number_of_queries(client, diagnosed_order, django_assert_max_num_queries):
    # the order with customer and vehicle, its items, its history, its declined work
    with django_assert_max_num_queries(4):
        page(client, diagnosed_order)


@pytest.mark.parametrize("path", ["/track/does-not-exist/", "/track/a%00b/", "/track/" + "x" * 65 + "/",
                                  "/track/", "/track/abc/def/"])
def test_an_unknown_link_is_a_friendly_page_in_portuguese(client, settings, path):
    settings.DEBUG = True  # even in development: never Django's technical page, never JSON
    response = client.get(path)
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "Não encontramos esta ordem de serviço" in one(html, "not-found").text
    assert 'lang="pt-br"' in html and "Traceback" not in html and "URLconf" not in html


def test_a_link_without_its_last_slash_still_opens(client, order):
    response = client.get(f"/track/{order.tracking_code}")
    assert response.status_code == 301 and response["Location"].endswith(f"/track/{order.tracking_code}/")
