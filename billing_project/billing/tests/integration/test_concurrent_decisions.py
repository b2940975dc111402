"""Concurrent decisions on one budget version, and concurrent deliveries of one command: the
conditional writes (and Mercado Pago's idempotency keys) let exactly one change happen."""
from concurrent.futures import ThreadPoolExecutor

import requests
from django.core import mail

from billing import handlers, services
from billing.domain import Actor, BudgetStatus, PaymentStatus, budget_id_for_saga, payment_id_for
from billing.tests import factories
from oficina_common.errors import InvalidTransition

CONCURRENCY = 20


def test_20_concurrent_approvals_publish_one_budget_approved(real_any):
    budget = handlers.create_budget(factories.create_budget())

    def approve(n: int):
        actor = Actor.customer(factories.CUSTOMER_ID) if n % 2 else Actor.staff(f"clerk{n}", "attendant")
        return services.budget_decide(budget_id=budget.budget_id, version=1, decision="approve", actor=actor,
                                      reason=factories.STAFF_REASON)

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        outcomes = list(pool.map(approve, range(CONCURRENCY)))

    assert all(o.budget.status == BudgetStatus.APPROVED for o in outcomes)
    assert sum(o.changed for o in outcomes) == 1
    assert len(real_any.published("billing.BudgetApproved")) == 1
    assert real_any.deps.budgets.get(budget.budget_id, 1).rev == 1


def test_concurrent_approvals_of_other_lines_one_wins_the_rest_409(real_any):
    budget = handlers.create_budget(factories.create_budget(items=factories.JOBS))
    choices = [[1, 2], [4], [1, 2, 3, 4], None, [5]]

    def approve(n: int):
        try:
            outcome = services.budget_decide(budget_id=budget.budget_id, version=1, decision="approve",
                                             actor=Actor.customer(factories.CUSTOMER_ID),
                                             lines=choices[n % len(choices)])
        except InvalidTransition as refused:
            return n % len(choices), refused.code
        return n % len(choices), "changed" if outcome.changed else "same"

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        results = list(pool.map(approve, range(CONCURRENCY)))

    (approved,) = real_any.published("billing.BudgetApproved")
    stored = real_any.deps.budgets.get(budget.budget_id, 1)
    (winner,) = {choice for choice, result in results if result == "changed"}
    # The stored lines are the winner's; the same choice again is a no-op, any other a 409.
    accepted = [line["line_id"] for line in approved.payload["lines"] if line["status"] == "APPROVED"]
    assert accepted == (sorted(choices[winner]) if choices[winner] is not None else [1, 2, 3, 4, 5])
    assert stored.approved_total_cents == approved.payload["total_cents"] and stored.rev == 1
    assert {result for choice, result in results if choice == winner} <= {"changed", "same"}
    assert {result for choice, result in results if choice != winner} == {"approved_otherwise"}


def test_20_concurrent_http_approvals_and_rejections(real, billing_server):
    budget = handlers.create_budget(factories.create_budget())
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
        budgets = list(pool.map(lambda c: handlers.create_budget(c), deliveries))

    assert len({b.budget_id for b in budgets}) == 1
    assert len(real_any.deps.budgets.versions(budgets[0].budget_id)) == 1
    # Each command gets one answer, whatever the number of deliveries: a repeated answer carries the
    # same message id, so the orchestrator's inbox takes it once.
    answers = {e.message_id for e in real_any.published("billing.BudgetCreated")}
    assert len(answers) == 1 + len(retries)
    assert len(mail.outbox) == 1


def deliver_at_once(envelope, times: int = 8) -> list[str]:
    """The same message delivered ``times`` times at the same moment, as the worker handles it (no inbox)."""
    return deliver_together([envelope] * times)


def deliver_together(envelopes) -> list[str]:
    with ThreadPoolExecutor(len(envelopes)) as pool:
        return list(pool.map(lambda e: handlers.dispatcher().dispatch(e.to_dict(), None), envelopes))


def approved_budget():
    command = factories.create_budget()
    budget = handlers.create_budget(command)
    services.budget_decide(budget_id=budget.budget_id, version=1, decision="approve",
                           actor=factories.ATTENDANT, reason=factories.STAFF_REASON)
    return command, budget


def test_concurrent_deliveries_of_request_payment_make_one_payment(real_any):
    command, budget = approved_budget()
    request = factories.request_payment(command, budget.budget_id)
    assert deliver_at_once(request) == ["handled"] * 8
    payments = real_any.deps.payments.list_by_budget(budget.budget_id)
    assert [p.payment_id for p in payments] == [payment_id_for(command.saga_id, budget.budget_id, 1)]
    assert len(real_any.mercadopago.payments) == 1  # one charge at Mercado Pago
    assert {e.message_id for e in real_any.published("billing.PaymentRequested")} == {
        real_any.published("billing.PaymentRequested")[0].message_id}


def test_concurrent_deliveries_of_refund_payment_refund_once(real_any):
    command, budget = approved_budget()
    payment = handlers.request_payment(factories.request_payment(command, budget.budget_id))
    real_any.mercadopago.set_status(payment.mercadopago_payment_id, "approved")
    services.payment_sync_from_mercadopago(mercadopago_payment_id=payment.mercadopago_payment_id)
    refund = factories.command(command, "billing.RefundPayment", {"payment_id": payment.payment_id,
                                                                  "reason": "work failed"})
    deliver_at_once(refund)
    assert len(real_any.mercadopago.refunds) == 1  # the customer gets the money back once
    assert real_any.deps.payments.get(payment.payment_id).status == PaymentStatus.REFUNDED
    answers = real_any.published("billing.PaymentRefunded")
    assert answers and {e.message_id for e in answers} == {answers[0].message_id}


def test_concurrent_deliveries_of_revise_budget_make_one_version(real_any):
    command, budget = approved_budget()
    revise = factories.command(command, "billing.ReviseBudget", {"budget_id": budget.budget_id,
                                                                 "items": factories.EXTRA_ITEMS, "reason": "freio"})
    deliver_at_once(revise)
    versions = real_any.deps.budgets.versions(budget.budget_id)
    assert [(b.version, b.status) for b in versions] == [(1, BudgetStatus.SUPERSEDED),
                                                         (2, BudgetStatus.PENDING_APPROVAL)]
    revisions = [e for e in real_any.published("billing.BudgetCreated") if e.payload["version"] == 2]
    assert revisions and {e.message_id for e in revisions} == {revisions[0].message_id}
    assert len(mail.outbox) == 2  # one link for each version


def test_a_blind_cancel_racing_create_budget_leaves_nothing_to_approve(real_any):
    for _ in range(5):
        create = factories.create_budget()
        cancel = factories.command(create, "billing.CancelBudget", {"reason": "the saga gave up"})
        deliver_together([create, cancel])
        (budget,) = real_any.deps.budgets.versions(budget_id_for_saga(create.saga_id))
        assert budget.status == BudgetStatus.CANCELLED
        # The cancel is answered (and so is the CreateBudget, if it came second: cancelled too).
        answers = [e.payload["status"] for e in real_any.published("billing.BudgetCancelled")
                   if e.saga_id == create.saga_id]
        assert answers and set(answers) == {"CANCELLED"}


def test_a_blind_cancel_racing_request_payment_leaves_nothing_to_pay(real_any):
    for _ in range(5):
        command, budget = approved_budget()
        cancel = factories.command(command, "billing.CancelPayment",
                                   {"budget_id": budget.budget_id, "version": 1, "reason": "the saga gave up"})
        deliver_together([factories.request_payment(command, budget.budget_id), cancel])
        payment = real_any.deps.payments.get(payment_id_for(command.saga_id, budget.budget_id, 1))
        assert payment.status == PaymentStatus.CANCELLED
        shown = [e.payload["mercadopago_payment_id"] for e in real_any.published("billing.PaymentRequested")
                 if e.saga_id == command.saga_id]
        # A Pix code the customer was given is cancelled at Mercado Pago.
        assert all(real_any.mercadopago.payments[mp_id].status == "cancelled" for mp_id in shown)
