"""The pages on a real DynamoDB endpoint (moto over HTTP): the link's record, the version, the derived payment."""
from __future__ import annotations

from billing import handlers
from billing.domain import BudgetStatus
from billing.tests import factories
from billing.tests.pages.conftest import Pending, csrf_token_of, decide, last_link_token
from oficina_common.html_testing import one


def test_approve_pay_and_come_back_with_the_used_link(visitor, real):
    command = factories.create_budget()
    budget = handlers.create_budget(command)
    pending = Pending(command=command, budget=budget, token=last_link_token())

    payment_page = decide(visitor, pending, "approve")["Location"]
    assert real.deps.budgets.get(budget.budget_id, 1).status == BudgetStatus.APPROVED
    assert one(visitor.get(payment_page).content, "payment-state").attrs["data-state"] == "waiting"

    payment = handlers.request_payment(factories.request_payment(command, budget.budget_id))
    page = visitor.get(payment_page).content
    assert one(page, "pix-code").text == payment.qr_code

    real.clock.advance(hours=80)  # the link's record is past its TTL: still "used", not "unknown"
    used = visitor.get(pending.review_url)
    assert used.status_code == 410
    assert one(used.content, "message-title").text == "Este link já foi usado"


def test_an_unknown_link_on_dynamodb(visitor, real):
    response = visitor.get("/budgets/review/" + "A" * 43 + "/")
    assert response.status_code == 404


def test_choose_jobs_and_pay_only_for_them_on_dynamodb(visitor, real):
    command = factories.create_budget(items=factories.JOBS)
    budget = handlers.create_budget(command)
    pending = Pending(command=command, budget=budget, token=last_link_token())
    page = visitor.get(pending.review_url)
    assert one(page.content, "approved-total").text == "R$ 307,00"
    response = visitor.post(pending.review_url, {
        "csrfmiddlewaretoken": csrf_token_of(page.content.decode()), "decision": "approve", "choice": "selected",
        "job-1": "approve", "job-2": "decline", "job-3": "approve", "line-3": "1"})
    assert response.status_code == 303
    stored = real.deps.budgets.get(budget.budget_id, 1)
    assert stored.declined_line_ids == {4, 5} and stored.approved_total_cents == 13700
    (approved,) = real.published("billing.BudgetApproved")
    assert approved.payload["total_cents"] == 13700
    handlers.request_payment(factories.request_payment(command, budget.budget_id, amount_cents=13700))
    assert one(visitor.get(response["Location"]).content, "payment-amount").text == "R$ 137,00"
