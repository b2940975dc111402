"""The payment page after an approval, its status endpoint, and the signed view token that opens them."""
from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

import pytest

from billing import handlers, links, pages, services
from billing.domain import PaymentStatus
from billing.tests import factories
from billing.tests.pages.conftest import Pending, decide
from oficina_common.html_testing import by_testid, one, visible_text


@pytest.fixture
def approved(visitor, pending) -> str:
    """The payment page's address, where the approval redirected the customer."""
    response = decide(visitor, pending, "approve")
    assert response.status_code == 303
    return response["Location"]


def request_payment(pending: Pending, method: str = "pix"):
    return handlers.request_payment(factories.request_payment(pending.command, pending.budget.budget_id,
                                                                       method=method))


def status_url(page_url: str) -> str:
    return page_url.replace("/payment/?", "/payment/status/?")


def leads_to(visitor, location: str, page: str) -> bool:
    """``location`` is ``page`` (the same budget version's page) with a view token that opens it: the
    redirect signs a new one, whose timestamp is a second later when the clock ticks in between."""
    return urlsplit(location).path == urlsplit(page).path and visitor.get(location).status_code == 200


class TestBeforeThePaymentExists:
    def test_waits_for_the_saga_and_refreshes_itself(self, visitor, approved):
        response = visitor.get(approved)
        assert response.status_code == 200
        html = response.content.decode()
        status = one(html, "payment-status")
        assert status.text == "Aguardando a criação do pagamento…"
        box = one(html, "payment-state")
        assert box.attrs["data-state"] == "waiting" and box.attrs["data-final"] == "false"
        assert box.attrs["data-status-url"] == status_url(approved)
        assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in html
        assert "no-store" in response["Cache-Control"]
        assert not by_testid(html, "pix-code")

    def test_the_status_endpoint_says_waiting(self, visitor, approved):
        body = visitor.get(status_url(approved)).json()
        assert body["state"] == "waiting" and body["final"] is False and body["status"] is None
        assert "Aguardando a criação do pagamento" in body["html"]


class TestPix:
    def test_shows_the_qr_code_and_the_copy_paste_code(self, visitor, pending, approved):
        payment = request_payment(pending)
        response = visitor.get(approved)
        html = response.content
        qr = one(html, "pix-qr")
        assert qr.tag == "img" and qr.attrs["src"] == f"data:image/png;base64,{payment.qr_code_base64}"
        assert one(html, "pix-code").text == payment.qr_code
        assert one(html, "pix-copy").text == "Copiar código Pix"
        assert one(html, "payment-amount").text == "R$ 122,00"
        assert one(html, "payment-status").text == "Aguardando o pagamento"
        assert one(html, "payment-state").attrs["data-state"] == "pix"

    def test_the_page_learns_of_the_payment_from_the_status_endpoint(self, visitor, pending, approved):
        assert visitor.get(status_url(approved)).json()["state"] == "waiting"
        payment = request_payment(pending)
        body = visitor.get(status_url(approved)).json()
        assert body["state"] == "pix" and body["final"] is False and body["status"] == "PENDING"
        assert payment.qr_code in body["html"]

    def test_shows_the_confirmation_once_mercado_pago_approves(self, visitor, pending, approved, fake):
        payment = request_payment(pending)
        fake.mercadopago.set_status(payment.mercadopago_payment_id, "approved")
        services.payment_sync_from_mercadopago(mercadopago_payment_id=payment.mercadopago_payment_id)
        body = visitor.get(status_url(approved)).json()
        assert body["state"] == "approved" and body["final"] is True and body["status"] == "APPROVED"
        assert "Pagamento confirmado" in body["html"]
        response = visitor.get(approved)
        html = response.content.decode()
        assert one(html, "payment-status").text == "Pagamento confirmado"
        assert one(html, "payment-state").attrs["data-final"] == "true"
        assert "http-equiv=\"refresh\"" not in html
        assert not by_testid(html, "pix-code")
        assert "Obrigado!" in visible_text(html)

    def test_a_rejected_pix(self, visitor, pending, approved, fake):
        payment = request_payment(pending)
        fake.mercadopago.set_status(payment.mercadopago_payment_id, "rejected", "cc_rejected_other_reason")
        services.payment_sync_from_mercadopago(mercadopago_payment_id=payment.mercadopago_payment_id)
        response = visitor.get(approved)
        assert one(response.content, "payment-status").text == "Pagamento não aprovado"
        assert "cc_rejected" not in response.content.decode()


def test_checkout_shows_the_mercado_pago_link(visitor, pending, approved):
    payment = request_payment(pending, method="checkout")
    response = visitor.get(approved)
    link = one(response.content, "checkout-link")
    assert link.attrs["href"] == payment.init_point and link.text == "Pagar pelo Mercado Pago"
    assert not by_testid(response.content, "pix-qr")


def test_a_budget_cancelled_before_the_payment(visitor, pending, approved):
    handlers.cancel_budget(factories.command(pending.command, "billing.CancelBudget",
                                                     {"budget_id": pending.budget.budget_id, "reason": "sem peças"}))
    response = visitor.get(approved)
    assert one(response.content, "payment-status").text == "Orçamento cancelado"
    assert "sem peças" not in response.content.decode()  # the workshop's reasons are not the customer's


@pytest.mark.parametrize("status, label", [
    (PaymentStatus.CANCELLED, "Pagamento cancelado"), (PaymentStatus.REFUNDED, "Pagamento devolvido"),
])
def test_the_final_states(pending, approved, fake, status, label):
    payment = request_payment(pending)
    budget = fake.deps.budgets.get(pending.budget.budget_id, 1)
    state = pages.payment_state(budget, replace(payment, status=status))
    assert pages.STATE_LABELS[state] == label and state in pages.FINAL_STATES


def test_a_rejected_budget_is_not_paid(visitor, pending):
    rejected = decide(visitor, pending, "reject", reason="caro")["Location"]
    payment_page = rejected.replace("/rejected/?", "/payment/?")
    response = visitor.get(payment_page)
    assert response.status_code == 302 and leads_to(visitor, response["Location"], rejected)
    assert pages.payment_state(pending.budget, None) == "not_approved"


def test_the_rejection_page_of_an_approved_budget_leads_to_the_payment(visitor, approved):
    response = visitor.get(approved.replace("/payment/?", "/rejected/?"))
    assert response.status_code == 302 and leads_to(visitor, response["Location"], approved)


def test_the_rejection_page_of_a_budget_still_waiting_is_404(visitor, pending):
    url = links.rejection_page_path(pending.budget.budget_id, 1)
    assert visitor.get(url).status_code == 404


def test_the_approval_tells_the_saga_where_the_customer_pays(visitor, pending, approved, fake, settings):
    """BudgetApproved carries the payment page, signed and absolute: the OS's tracking page and its
    AWAITING_PAYMENT e-mail send the customer there (before the Pix exists, the page waits for it)."""
    (event,) = fake.published("billing.BudgetApproved")
    url = event.payload["payment_url"]
    assert url.startswith(f"{settings.PUBLIC_BASE_URL.rstrip('/')}/budgets/{pending.budget.budget_id}/v1/payment/?t=")
    path = url.removeprefix(settings.PUBLIC_BASE_URL.rstrip("/"))
    response = visitor.get(path)
    assert response.status_code == 200
    assert one(response.content, "payment-state").attrs["data-state"] == "waiting"
    payment = request_payment(pending)
    assert one(visitor.get(path).content, "pix-code").text == payment.qr_code


class TestTheViewToken:
    def test_a_tampered_token_is_404_with_a_page(self, visitor, approved):
        tampered = approved[:-3] + ("AAA" if not approved.endswith("AAA") else "BBB")
        response = visitor.get(tampered)
        assert response.status_code == 404
        assert one(response.content, "message-title").text == "Link não encontrado"
        assert visitor.get(status_url(tampered)).status_code == 404

    def test_the_token_of_one_version_does_not_open_another(self, visitor, pending, approved):
        other_version = approved.replace("/v1/", "/v2/")
        assert visitor.get(other_version).status_code == 404
        token = approved.split("?t=")[1]
        other_budget = handlers.create_budget(factories.create_budget())
        assert visitor.get(f"/budgets/{other_budget.budget_id}/v1/payment/?t={token}").status_code == 404

    @pytest.mark.parametrize("query", ["", "?t=", "?t=" + "x" * 300])
    def test_no_token_is_404(self, visitor, pending, approved, query):
        assert visitor.get(f"/budgets/{pending.budget.budget_id}/v1/payment/{query}").status_code == 404

    def test_an_old_token_expires(self, visitor, approved, settings):
        settings.PAYMENT_PAGE_TTL_HOURS = -1
        response = visitor.get(approved)
        assert response.status_code == 410
        assert one(response.content, "message-title").text == "Este link expirou"
        body = visitor.get(status_url(approved)).json()
        assert body == {"state": "page-link-expired", "final": True}

    def test_a_signed_link_to_a_budget_that_does_not_exist(self, visitor, fake):
        for budget_id in ("not-a-uuid", "5b0c4e4e-0000-4000-8000-000000000000"):
            response = visitor.get(links.payment_page_path(budget_id, 1))
            assert response.status_code == 404
            assert visitor.get(links.payment_status_path(budget_id, 1)).status_code == 404

    def test_a_broken_database_gives_503_to_the_script(self, visitor, approved, monkeypatch):
        def down(budget):
            raise RuntimeError("DynamoDB is down")

        monkeypatch.setattr(pages.selectors, "payment_of_budget_version", down)
        response = visitor.get(status_url(approved))
        assert response.status_code == 503 and response.json() == {"state": "unavailable", "final": False}
        assert visitor.get(approved).status_code == 503
