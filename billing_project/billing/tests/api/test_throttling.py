"""Billing's throttles (DRF's scoped throttles on Redis): 429 with Retry-After in the usual body."""
from billing import handlers
from billing.tests import factories
from billing.tests.api.test_webhook_api import post as notify


def _assert_throttled(response):
    assert response.status_code == 429
    wait = int(response["Retry-After"])
    assert 0 < wait <= 60
    # DRF's message, in Billing's language: "Pedido foi suprimido. Espera-se que esteja diponível em N segundos."
    assert response.json() == {"message": f"Pedido foi suprimido. Espera-se que esteja diponível em {wait} segundos.",
                               "code": "throttled", "extra": {"retry_after_seconds": wait}}


def test_budget_decisions_are_throttled_per_user_after_thirty(customer, other_customer, real):
    budget = handlers.create_budget(factories.create_budget(customer_id="42"))
    approve = f"/api/v1/budgets/{budget.budget_id}/approve/"
    answers = [customer.post(approve, {"version": 1}, format="json") for _ in range(31)]
    assert [a.status_code for a in answers[:30]] == [200] * 30  # the same decision again: a no-op
    _assert_throttled(answers[30])
    # Counted per user: another customer from the same address is not held back.
    assert other_customer.post(approve, {"version": 1}, format="json").status_code == 404


def test_guessing_approval_links_is_throttled_per_address(client, real):
    budget = handlers.create_budget(factories.create_budget(customer_id="42"))
    approve = f"/api/v1/budgets/{budget.budget_id}/approve/"
    answers = [client.post(approve, {"version": 1, "token": f"guess-{n}"}, format="json") for n in range(31)]
    assert {a.status_code for a in answers[:30]} == {404}
    _assert_throttled(answers[30])
    assert client.post(approve, {"version": 1, "token": "guess"}, format="json",
                       REMOTE_ADDR="203.0.113.9").status_code == 404


def test_mercado_pago_notifications_are_throttled_generously(client, real):
    answers = [notify(client, str(n), secret="forged") for n in range(301)]
    assert {a.status_code for a in answers[:300]} == {401}  # forged: refused, never queued
    _assert_throttled(answers[300])
    assert real.notifications == []
