"""The DynamoDB calls each of Billing's saga steps makes, on a real endpoint: on-demand tables bill
every request, so these counts are the cost of a saga. What each removed call guarded is tested
where the guarantee lives (redelivery, two workers, a worker lost midway: test_budget_services,
test_payment_services, test_concurrent_decisions)."""
from collections import Counter

import pytest

from billing import handlers, selectors, services, tables
from billing.domain import Actor
from billing.repositories import _version_lines
from billing.tests import factories
from oficina_common.metrics import DYNAMODB_REQUESTS

TABLES = {spec.name for spec in tables.ALL_TABLES}


def calls() -> Counter:
    """Every DynamoDB call so far, as ``(table, operation)``, the prefix left out."""
    counted: Counter = Counter()
    for family in DYNAMODB_REQUESTS.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                table = next((t for t in TABLES if sample.labels["table"].endswith(t)), sample.labels["table"])
                counted[(table, sample.labels["operation"])] += sample.value
    return counted


class Measured:
    def __enter__(self) -> Counter:
        self.before = calls()
        self.made: Counter = Counter()
        return self.made

    def __exit__(self, *exc) -> None:
        self.made.update({k: v for k, v in (calls() - self.before).items() if v})


@pytest.fixture
def measured():
    return Measured


def test_create_budget_creates_claimed_and_reads_nothing(real, measured):
    with measured() as made:
        handlers.create_budget(factories.create_budget())
    # The lines' BatchWriteItem to budget_items is counted as "several" (a batch may span tables);
    # the UpdateItem records the link as sent (the claim came with the PutItem).
    assert made == {("several", "BatchWriteItem"): 1, ("budgets", "PutItem"): 1,
                    ("budget_approval_tokens", "PutItem"): 1, ("budgets", "UpdateItem"): 1}


def test_a_decision_reads_the_version_once(real, measured):
    budget = handlers.create_budget(factories.create_budget())
    _version_lines.cache_clear()
    with measured() as made:
        services.budget_decide(budget_id=budget.budget_id, version=1, decision="approve", actor=Actor.customer("42"))
    assert made == {("budgets", "Query"): 1, ("budgets", "UpdateItem"): 1}


def test_the_list_of_an_orders_budgets_is_one_query(real, measured):
    budget = handlers.create_budget(factories.create_budget())
    services.budget_revise(budget_id=budget.budget_id, items=factories.EXTRA_ITEMS)
    _version_lines.cache_clear()  # what a process that never saw the budget does
    with measured() as made:
        (listed,) = selectors.budget_list(actor=Actor.customer("42"), service_order_id=budget.service_order_id).items
    assert (listed.version, len(listed.lines)) == (2, len(budget.lines) + len(factories.EXTRA_ITEMS))
    assert made == {("budgets", "Query"): 1}


def test_request_payment_reads_only_the_budget(real, measured):
    command = factories.create_budget()
    budget = handlers.create_budget(command)
    services.budget_decide(budget_id=budget.budget_id, version=1, decision="approve", actor=Actor.customer("42"))
    with measured() as made:
        handlers.request_payment(factories.request_payment(command, budget.budget_id))
    assert made == {("budgets", "GetItem"): 1, ("payments", "PutItem"): 1, ("payments", "UpdateItem"): 1}


def test_the_approval_of_a_payment_this_worker_asked_for_is_one_write(real, measured):
    command = factories.create_budget()
    budget = handlers.create_budget(command)
    services.budget_decide(budget_id=budget.budget_id, version=1, decision="approve", actor=Actor.customer("42"))
    payment = handlers.request_payment(factories.request_payment(command, budget.budget_id))
    real.mercadopago.set_status(payment.mercadopago_payment_id, "approved")
    with measured() as made:
        services.payment_sync_from_mercadopago(mercadopago_payment_id=payment.mercadopago_payment_id)
    assert made == {("payments", "UpdateItem"): 1}  # on the copy the request left: no read
    with measured() as made:  # told again: nothing to change on the copy, so the payment is read
        services.payment_sync_from_mercadopago(mercadopago_payment_id=payment.mercadopago_payment_id)
    assert made == {("payments", "Query"): 1}
    assert len(real.published("billing.PaymentApproved")) == 1
