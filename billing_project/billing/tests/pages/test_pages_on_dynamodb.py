"""The pages on a real DynamoDB endpoint (moto over HTTP): the link's record, the version, the derived payment."""
from __future__ import annotations

from billing import services
from billing.domain import BudgetStatus
from billing.tests import factories
from billing.tests.pages.conftest import Pending, decide, last_link_token
from oficina_common.html_testing import one


def test_approve_pay_and_come_back_with_the_used_link(visitor, real):
    command = factories.create_budget()
    budget = services.budget_create(command=command)
    pending = Pending(command=command, budget=budget, token=last_link_token())

    payment_page = decide(visitor, pending, "approve")["Location"]
    assert real.deps.budgets.get(budget.budget_id, 1).status == BudgetStatus.APPROVED
    assert one(visitor.get(payment_page).content, "payment-state").attrs["data-state"] == "waiting"

    payment = services.payment_request(command=factories.request_payment(command, budget.budget_id))
    page = visitor.get(payment_page).content
    assert one(page, "pix-code").text == payment.qr_code

    real.clock.advance(hours=80)  # the link's record is past its TTL: still "used", not "unknown"
    used = visitor.get(pending.review_url)
    assert used.status_code == 410
    assert one(used.content, "message-title").text == "Este link já foi usado"


def test_an_unknown_link_on_dynamodb(visitor, real):
    response = visitor.get("/budgets/review/" + "A" * 43 + "/")
    assert response.status_code == 404
