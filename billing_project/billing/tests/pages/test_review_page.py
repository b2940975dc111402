"""GET/POST /budgets/review/{token}/: the budget the e-mailed link shows, and the customer's decision."""
from __future__ import annotations

import time

import pytest
from django.core import mail, signing
from django.test import Client

from billing import handlers, selectors, services
from billing.domain import Actor, BudgetStatus
from billing.tests import factories
from billing.tests.pages.conftest import Pending, csrf_token_of, decide, last_link_token
from oficina_common.errors import ConcurrencyConflict
from oficina_common.html_testing import by_testid, one, visible_text


class TestTheReviewPage:
    def test_shows_the_items_the_total_and_both_buttons(self, visitor, pending):
        response = visitor.get(pending.review_url)
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/html")
        html = response.content
        items = by_testid(html, "budget-item")
        assert len(items) == 2
        descriptions = [e.text for e in by_testid(html, "item-description")]
        assert descriptions == ["Troca de óleo", "Filtro de óleo"]
        assert [e.text for e in by_testid(html, "item-quantity")] == ["2", "1"]
        assert [e.text for e in by_testid(html, "item-unit-price")] == ["R$ 45,00", "R$ 32,00"]
        assert [e.text for e in by_testid(html, "item-total")] == ["R$ 90,00", "R$ 32,00"]
        assert one(html, "budget-total").text == "R$ 122,00"
        assert one(html, "order-number").text == "OS-2024-0042"
        assert one(html, "approve-button").text == "Aprovar orçamento"
        assert one(html, "reject-button").text == "Recusar orçamento"
        reason = one(html, "reject-reason")
        assert reason.tag == "textarea" and "required" in reason.attrs
        text = visible_text(html)
        assert "Olá, Maria!" in text and "horário de Brasília" in text
        assert "122,00" in text and "12200" not in text and "PENDING" not in text

    def test_both_forms_carry_a_csrf_token_and_the_cookie_is_set(self, visitor, pending):
        response = visitor.get(pending.review_url)
        html = response.content.decode()
        assert html.count('name="csrfmiddlewaretoken"') == 2
        assert "csrftoken" in response.cookies
        assert csrf_token_of(html)

    def test_is_never_cached_and_leaks_no_referrer(self, visitor, pending):
        response = visitor.get(pending.review_url)
        assert "no-store" in response["Cache-Control"]
        # The header keeps the link (a credential) from any Referer; the page's own meta, which the
        # document applies over the header, is "same-origin", not "no-referrer": with that a browser
        # posts the forms with "Origin: null" and the CSRF check refuses them.
        assert '<meta name="referrer" content="same-origin">' in response.content.decode()
        assert response["Referrer-Policy"] == "no-referrer"

    def test_reading_the_page_decides_nothing(self, visitor, pending, fake):
        visitor.get(pending.review_url)
        visitor.get(pending.review_url)
        assert fake.deps.budgets.get(pending.budget.budget_id, 1).status == BudgetStatus.PENDING_APPROVAL
        assert fake.published("billing.BudgetApproved") == []


class TestApproving:
    def test_approve_redirects_to_the_payment_page_and_tells_the_saga(self, visitor, pending, fake):
        response = decide(visitor, pending, "approve")
        assert response.status_code == 303
        assert response["Location"].startswith(f"/budgets/{pending.budget.budget_id}/v1/payment/?t=")
        assert fake.deps.budgets.get(pending.budget.budget_id, 1).status == BudgetStatus.APPROVED
        (approved,) = fake.published("billing.BudgetApproved")
        assert approved.payload["budget_id"] == pending.budget.budget_id
        assert approved.payload["decided_by"] == "customer"
        page = visitor.get(response["Location"])
        assert page.status_code == 200
        assert one(page.content, "payment-status").text == "Aguardando a criação do pagamento…"

    def test_a_post_without_the_csrf_token_is_refused_with_a_page(self, visitor, pending, fake):
        visitor.get(pending.review_url)  # the cookie alone is not enough
        response = visitor.post(pending.review_url, {"decision": "approve"})
        assert response.status_code == 403
        assert one(response.content, "message").attrs["data-state"] == "csrf-failed"
        assert "Não foi possível confirmar sua escolha" in visible_text(response.content)
        assert fake.deps.budgets.get(pending.budget.budget_id, 1).status == BudgetStatus.PENDING_APPROVAL
        assert fake.published("billing.BudgetApproved") == []

    def test_a_post_with_a_forged_csrf_token_is_refused(self, visitor, pending, fake):
        visitor.get(pending.review_url)
        response = visitor.post(pending.review_url, {"decision": "approve", "csrfmiddlewaretoken": "x" * 64})
        assert response.status_code == 403
        assert fake.published("billing.BudgetApproved") == []

    def test_a_double_submit_lands_on_the_same_payment_page_and_decides_once(self, visitor, pending, fake,
                                                                              monkeypatch):
        # The page's view token carries the second it was signed in: both answers in the same second.
        signed_at = signing.b62_encode(int(time.time()))
        monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda _signer: signed_at)
        first = decide(visitor, pending, "approve")
        page = visitor.get(pending.review_url)  # the link is used now: no form any more
        second = visitor.post(pending.review_url, {"decision": "approve",
                                                   "csrfmiddlewaretoken": visitor.cookies["csrftoken"].value})
        assert page.status_code == 410
        assert second.status_code == 303 and second["Location"] == first["Location"]
        assert len(fake.published("billing.BudgetApproved")) == 1

    def test_a_decision_that_is_neither_is_asked_again(self, visitor, pending, fake):
        page = visitor.get(pending.review_url)
        response = visitor.post(pending.review_url, {"decision": "maybe",
                                                     "csrfmiddlewaretoken": csrf_token_of(page.content.decode())})
        assert response.status_code == 400
        assert one(response.content, "form-error").text == "Escolha aprovar ou recusar o orçamento."
        assert fake.published("billing.BudgetApproved") == []


class TestRejecting:
    def test_a_rejection_needs_a_reason(self, visitor, pending, fake):
        response = decide(visitor, pending, "reject", reason="   ")
        assert response.status_code == 400
        assert "motivo da recusa" in one(response.content, "form-error").text
        assert fake.deps.budgets.get(pending.budget.budget_id, 1).status == BudgetStatus.PENDING_APPROVAL
        assert fake.published("billing.BudgetRejected") == []

    def test_a_too_long_reason_is_sent_back_to_be_shortened(self, visitor, pending, fake):
        response = decide(visitor, pending, "reject", reason="caro " * 120)
        assert response.status_code == 400
        assert "no máximo 500 caracteres" in one(response.content, "form-error").text
        assert one(response.content, "reject-reason").text.startswith("caro caro")

    def test_reject_with_a_reason_shows_the_confirmation(self, visitor, pending, fake):
        response = decide(visitor, pending, "reject", reason="Achei caro, vou pensar")
        assert response.status_code == 303
        assert response["Location"].startswith(f"/budgets/{pending.budget.budget_id}/v1/rejected/?t=")
        (rejected,) = fake.published("billing.BudgetRejected")
        assert rejected.payload["reason"] == "Achei caro, vou pensar"
        page = visitor.get(response["Location"])
        assert page.status_code == 200
        assert one(page.content, "message-title").text == "Orçamento recusado"
        assert one(page.content, "rejection-reason").text == "Achei caro, vou pensar"
        assert "Motivo: “Achei caro, vou pensar”" in visible_text(page.content)


class TestLinksThatNoLongerWork:
    def test_a_used_link_says_so_and_offers_the_payment(self, visitor, pending):
        decide(visitor, pending, "approve")
        response = visitor.get(pending.review_url)
        assert response.status_code == 410
        assert one(response.content, "message").attrs["data-state"] == "link-used"
        assert one(response.content, "message-title").text == "Este link já foi usado"
        action = one(response.content, "message-action")
        assert action.attrs["href"].startswith(f"/budgets/{pending.budget.budget_id}/v1/payment/?t=")
        assert not by_testid(response.content, "approve-button")

    def test_a_link_used_to_reject_cannot_approve(self, visitor, pending, fake):
        decide(visitor, pending, "reject", reason="caro")
        response = visitor.post(pending.review_url, {"decision": "approve",
                                                     "csrfmiddlewaretoken": visitor.cookies["csrftoken"].value})
        assert response.status_code == 410
        assert "Você já recusou este orçamento" in one(response.content, "message-text").text
        assert fake.published("billing.BudgetApproved") == []

    def test_a_used_link_still_says_used_after_the_budget_would_have_expired(self, visitor, pending, fake):
        decide(visitor, pending, "reject", reason="caro")
        fake.clock.advance(hours=80)
        response = visitor.get(pending.review_url)
        assert response.status_code == 410
        assert one(response.content, "message-title").text == "Este link já foi usado"

    def test_an_expired_link(self, visitor, pending, fake):
        fake.clock.advance(hours=73)
        response = visitor.get(pending.review_url)
        assert response.status_code == 410
        assert one(response.content, "message").attrs["data-state"] == "link-expired"
        assert one(response.content, "message-title").text == "Este link expirou"
        posted = visitor.post(pending.review_url, {"decision": "approve",
                                                   "csrfmiddlewaretoken": visitor.cookies["csrftoken"].value})
        assert posted.status_code == 410
        assert fake.published("billing.BudgetApproved") == []

    def test_a_budget_expired_by_the_job(self, visitor, pending, fake):
        fake.clock.advance(hours=73)
        assert services.budgets_expire() == 1
        response = visitor.get(pending.review_url)
        assert response.status_code == 410 and "Este link expirou" in visible_text(response.content)

    @pytest.mark.parametrize("token", ["forged-token", "x" * 201])
    def test_an_unknown_link_is_404_with_a_page(self, visitor, fake, token):
        response = visitor.get(f"/budgets/review/{token}/")
        assert response.status_code == 404
        assert one(response.content, "message-title").text == "Link não encontrado"
        assert response["Content-Type"].startswith("text/html")

    def test_a_superseded_link_points_to_the_newer_email(self, visitor, pending, fake):
        services.budget_revise(budget_id=pending.budget.budget_id, items=factories.EXTRA_ITEMS, reason="freio")
        response = visitor.get(pending.review_url)
        assert response.status_code == 410
        assert one(response.content, "message-title").text == "Este orçamento foi atualizado"

    def test_decided_another_way(self, visitor, pending, fake):
        services.budget_decide(budget_id=pending.budget.budget_id, version=1, decision="approve",
                               actor=Actor.customer(factories.CUSTOMER_ID))
        response = visitor.get(pending.review_url)
        assert response.status_code == 410
        assert one(response.content, "message-title").text == "Este orçamento já foi aprovado"
        assert "/payment/?t=" in one(response.content, "message-action").attrs["href"]

    def test_a_cancelled_budget(self, visitor, pending, fake):
        handlers.cancel_budget(factories.command(pending.command, "billing.CancelBudget",
                                                         {"budget_id": pending.budget.budget_id, "reason": "x"}))
        response = visitor.get(pending.review_url)
        assert response.status_code == 410
        assert one(response.content, "message-title").text == "Este orçamento foi cancelado"

    def test_a_decision_lost_to_a_concurrent_change_gets_a_page(self, visitor, pending, monkeypatch):
        page = visitor.get(pending.review_url)

        def busy(**kwargs):
            raise ConcurrencyConflict("kept changing")

        monkeypatch.setattr(services, "budget_decide", busy)
        response = visitor.post(pending.review_url, {"decision": "approve",
                                                     "csrfmiddlewaretoken": csrf_token_of(page.content.decode())})
        assert response.status_code == 409
        assert one(response.content, "message-title").text == "Não foi possível registrar sua decisão"

    def test_a_decision_refused_because_the_budget_expired_meanwhile(self, visitor, pending, fake, monkeypatch):
        page = visitor.get(pending.review_url)
        decide_for_real = services.budget_decide

        def expiring(**kwargs):
            fake.clock.advance(hours=73)
            return decide_for_real(**kwargs)

        monkeypatch.setattr(services, "budget_decide", expiring)
        response = visitor.post(pending.review_url, {"decision": "approve",
                                                     "csrfmiddlewaretoken": csrf_token_of(page.content.decode())})
        assert response.status_code == 410
        assert one(response.content, "message-title").text == "Este link expirou"

    def test_a_broken_database_shows_a_page_not_a_traceback(self, visitor, pending, monkeypatch):
        def down(token):
            raise RuntimeError("DynamoDB is down")

        monkeypatch.setattr(selectors, "approval_link_view", down)
        response = visitor.get(pending.review_url)
        assert response.status_code == 503
        assert one(response.content, "message-title").text == "Sistema indisponível no momento"
        assert "Traceback" not in response.content.decode()

    def test_other_methods_are_refused(self, visitor, pending):
        assert visitor.put(pending.review_url).status_code == 403  # no CSRF token: refused first
        assert Client().put(pending.review_url).status_code == 405


class TestAdditionalRepairs:
    @pytest.fixture
    def revision(self, pending, fake) -> Pending:
        services.budget_decide(budget_id=pending.budget.budget_id, version=1, decision="approve",
                               actor=Actor.approval_link(pending.token))
        revised = services.budget_revise(budget_id=pending.budget.budget_id, items=factories.EXTRA_ITEMS,
                                         reason="Pastilhas gastas")
        return Pending(command=pending.command, budget=revised, token=last_link_token())

    def test_the_same_page_says_what_changed(self, visitor, revision):
        assert len(mail.outbox) == 2
        response = visitor.get(revision.review_url)
        assert response.status_code == 200
        html = response.content
        assert one(html, "page-title").text == "Reparo adicional encontrado durante o serviço"
        assert one(html, "revision-reason").text == "Pastilhas gastas"
        (added,) = by_testid(html, "added-item")
        assert "Pastilha de freio" in added.text and "R$ 180,00" in added.text
        assert one(html, "additional-total").text == "R$ 180,00"
        assert one(html, "budget-total").text == "R$ 302,00"
        rows = by_testid(html, "budget-item")
        assert [r.attrs.get("data-added") for r in rows] == [None, None, "true"]
        assert one(html, "approve-button").text == "Aprovar o reparo adicional"

    def test_approving_the_revision_leads_to_its_own_payment_page(self, visitor, revision, fake):
        response = decide(visitor, revision, "approve")
        assert response.status_code == 303
        assert response["Location"].startswith(f"/budgets/{revision.budget.budget_id}/v2/payment/?t=")
        assert fake.deps.budgets.get(revision.budget.budget_id, 2).status == BudgetStatus.APPROVED

    def test_rejecting_the_revision_says_the_work_goes_on(self, visitor, revision):
        response = decide(visitor, revision, "reject", reason="Faço depois")
        page = visitor.get(response["Location"])
        assert one(page.content, "message-title").text == "Reparo adicional recusado"
        assert "O serviço continua com o que você já aprovou" in visible_text(page.content)



class TestThrottling:
    def test_the_eleventh_post_in_a_minute_from_one_address_waits(self, visitor, pending, fake):
        page = visitor.get(pending.review_url)
        token = csrf_token_of(page.content.decode())
        answers = [visitor.post(pending.review_url, {"csrfmiddlewaretoken": token, "decision": "maybe"})
                   for _ in range(11)]
        assert [a.status_code for a in answers[:10]] == [400] * 10
        throttled = answers[10]
        assert throttled.status_code == 429 and throttled["Content-Type"].startswith("text/html")
        wait = int(throttled["Retry-After"])
        assert 0 < wait <= 60
        text = visible_text(throttled.content)
        assert "Muitas tentativas seguidas" in text and f"espere {wait} segundo" in text
        # Reading the page is not throttled, and nothing was decided.
        assert visitor.get(pending.review_url).status_code == 200
        assert fake.deps.budgets.get(pending.budget.budget_id, 1).status == BudgetStatus.PENDING_APPROVAL
