"""Concurrent decisions on one budget version: the conditional write lets exactly one win."""
from concurrent.futures import ThreadPoolExecutor

import requests
from django.core import mail

from billing import services
from billing.domain import Actor, BudgetStatus
from billing.tests import factories

CONCURRENCY = 20


def test_20_concurrent_approvals_publish_one_budget_approved(real_any):
    budget = services.budget_create(command=factories.create_budget())

    def approve(n: int):
        actor = Actor.customer(factories.CUSTOMER_ID) if n % 2 else Actor.staff(f"clerk{n}")
        return services.budget_decide(budget_id=budget.budget_id, version=1, decision="approve", actor=actor)

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        outcomes = list(pool.map(approve, range(CONCURRENCY)))

    assert all(o.budget.status == BudgetStatus.APPROVED for o in outcomes)
    assert sum(o.changed for o in outcomes) == 1
    assert len(real_any.published("billing.BudgetApproved")) == 1
    assert real_any.deps.budgets.get(budget.budget_id, 1).rev == 1


def test_20_concurrent_http_approvals_and_rejections(real, billing_server):
    budget = services.budget_create(command=factories.create_budget())
    token = mail.outbox[0].body.split("/budgets/review/")[1].split("/")[0]
    url = f"{billing_server}/api/v1/budgets/{budget.budget_id}"

    def decide(n: int) -> tuple[str, int]:
        if n % 4 == 3:
            response = requests.post(f"{url}/reject/", json={"version": 1, "reason": "no"},
                                     headers={"Authorization": f"Bearer {factories.staff_token()}"}, timeout=30)
            return "reject", response.status_code
        if n % 2:
            response = requests.post(f"{url}/approve/", json={"version": 1, "token": token}, timeout=30)
        else:
            response = requests.post(f"{url}/approve/", json={"version": 1},
                                     headers={"Authorization": f"Bearer {factories.customer_token()}"}, timeout=30)
        return "approve", response.status_code

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        results = list(pool.map(decide, range(CONCURRENCY)))

    decided = real.published()
    decisions = [e for e in decided if e.type in ("billing.BudgetApproved", "billing.BudgetRejected")]
    assert len(decisions) == 1
    winner = "approve" if decisions[0].type == "billing.BudgetApproved" else "reject"
    # Everyone who asked for the winning decision got a 200; everyone else a 409 naming the status.
    assert {code for kind, code in results if kind == winner} == {200}
    assert {code for kind, code in results if kind != winner} <= {409}


def test_concurrent_deliveries_of_create_budget_make_one_budget(real_any):
    command = factories.create_budget()
    retries = [factories.command(command, "billing.CreateBudget", command.payload) for _ in range(4)]
    deliveries = [command] * 6 + retries  # redeliveries of one message, and retries of the step

    with ThreadPoolExecutor(len(deliveries)) as pool:
        budgets = list(pool.map(lambda c: services.budget_create(command=c), deliveries))

    assert len({b.budget_id for b in budgets}) == 1
    assert len(real_any.deps.budgets.versions(budgets[0].budget_id)) == 1
    # Each command gets one answer, whatever the number of deliveries: a repeated answer carries the
    # same message id, so the orchestrator's inbox takes it once.
    answers = {e.message_id for e in real_any.published("billing.BudgetCreated")}
    assert len(answers) == 1 + len(retries)
    assert len(mail.outbox) == 1
