"""The repositories on real DynamoDB endpoints: moto's server and dynalite, over HTTP."""
import json
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from django.core.management import call_command

from billing import tables
from billing.domain import (
    BudgetStatus,
    Decision,
    PaymentStatus,
    numbered,
    parse_lines,
)
from billing.repositories import BudgetRepository, PaymentRepository, _version_lines
from billing.tests import factories
from billing.tests.factories import NOW, a_budget, a_payment, an_event
from oficina_common.dynamodb import DynamoSettings, resource
from oficina_common.errors import AlreadyExists, ValidationFailed
from oficina_common.messages import Envelope
from oficina_common.messaging import RecordingPublisher
from oficina_common.metrics import DYNAMODB_REQUESTS
from oficina_common.outbox import OUTBOX_INDEX


class FlakyPublisher(RecordingPublisher):
    """A broker that is down for the first ``failures`` publishes."""

    def __init__(self, failures: int):
        super().__init__()
        self.failures = failures

    def publish(self, envelope: Envelope) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker down")
        super().publish(envelope)


def raw(repository, key):
    return repository.table.get_item(Key=key, ConsistentRead=True)["Item"]


@pytest.fixture
def publisher():
    return RecordingPublisher()


@pytest.fixture
def budgets(any_tables, publisher):
    return BudgetRepository(publisher=publisher)


@pytest.fixture
def payments(any_tables, publisher):
    return PaymentRepository(publisher=publisher)


class TestBudgetRepository:
    def test_the_declined_lines_are_stored_in_the_decisions_one_write(self, budgets, publisher):
        items = [{**factories.ITEMS[0], "job": 1}, {**factories.ITEMS[1], "job": 2, "optional": True}]
        budget = a_budget(lines=numbered(parse_lines(items)))
        budgets.add(budget)
        approved = budget.decide(Decision.APPROVE, by="customer", reason="", now=NOW, lines=[1])
        budgets.save(approved, expected=budget, messages=[an_event(budget, "billing.BudgetApproved")])
        assert raw(budgets, {"budgetId": budget.budget_id, "version": 1})["declinedLineIds"] == [2]

    @staticmethod
    def line_queries(budgets) -> float:
        return sum(s.value for family in DYNAMODB_REQUESTS.collect() for s in family.samples
                   if s.name.endswith("_total") and s.labels["table"] == budgets.items_table.name
                   and s.labels["operation"] == "Query")

    def test_a_version_is_read_with_its_lines_from_its_own_item(self, budgets):
        budget = a_budget()
        budgets.add(budget)
        revision = replace(budget, version=2, lines=numbered(parse_lines(factories.ITEMS[:1])), lines_key="other")
        budgets.add(revision)
        _version_lines.cache_clear()  # nothing kept by this process: what another process would see
        before = self.line_queries(budgets)
        assert budgets.get(budget.budget_id, 1).lines == budget.lines
        assert budgets.latest(budget.budget_id).lines == revision.lines  # each version its own lines
        assert [v.lines for v in budgets.versions(budget.budget_id)] == [budget.lines, revision.lines]
        assert [b.lines for b in budgets.list_by_service_order(budget.service_order_id)] == [revision.lines]
        assert budgets.get_with_latest_version(budget.budget_id, 1)[0].lines == budget.lines
        assert self.line_queries(budgets) == before  # no budget_items Query

    def test_an_older_versions_lines_are_read_from_budget_items_once_then_kept(self, budgets):
        budget = a_budget()
        budgets.add(budget)
        revision = replace(budget, version=2, lines=numbered(parse_lines(factories.ITEMS[:1])), lines_key="other")
        budgets.add(revision)
        for version in (1, 2):  # written before the version item carried its lines
            budgets.table.update_item(Key={"budgetId": budget.budget_id, "version": version},
                                      UpdateExpression="REMOVE #l", ExpressionAttributeNames={"#l": "lines"})
        _version_lines.cache_clear()
        before = self.line_queries(budgets)
        assert budgets.get(budget.budget_id, 1).lines == budget.lines
        assert budgets.latest(budget.budget_id).lines == revision.lines
        assert [v.lines for v in budgets.versions(budget.budget_id)] == [budget.lines, revision.lines]
        assert budgets.get(budget.budget_id, 1).lines == budget.lines
        assert self.line_queries(budgets) - before == 2  # one per version, however often it is loaded

    def test_lines_live_in_budget_items_under_deterministic_ids(self, budgets):
        budget = a_budget()
        budgets.add(budget)
        rows = budgets.items_table.query(KeyConditionExpression="budgetId = :b",
                                         ExpressionAttributeValues={":b": budget.budget_id})["Items"]
        assert sorted(r["itemId"] for r in rows) == [f"0001#{budget.lines_key}#000", f"0001#{budget.lines_key}#001"]
        # The version item carries the same lines, written in its one PutItem, for the reads.
        carried = json.loads(raw(budgets, {"budgetId": budget.budget_id, "version": 1})["lines"])
        assert [line["description"] for line in carried] == [r["description"] for r in
                                                             sorted(rows, key=lambda r: r["itemId"])]

    def test_a_version_is_created_once(self, budgets):
        budget = a_budget()
        budgets.add(budget)
        with pytest.raises(AlreadyExists):
            budgets.add(budget)
        rows = budgets.items_table.query(KeyConditionExpression="budgetId = :b",
                                         ExpressionAttributeValues={":b": budget.budget_id})["Items"]
        assert len(rows) == 2  # rewritten in place, never duplicated

    def test_messages_travel_with_the_write_and_leave_the_outbox_once_published(self, budgets, publisher):
        budget = a_budget()
        event = an_event(budget)
        budgets.add(budget, [event])
        assert publisher.published == [event]
        item = raw(budgets, {"budgetId": budget.budget_id, "version": 1})
        assert item["outbox"] == {} and "outbox_pending" not in item

    def test_a_broker_outage_leaves_the_message_for_the_sweeper(self, any_tables):
        flaky = FlakyPublisher(failures=1)
        budgets = BudgetRepository(publisher=flaky)
        budget = a_budget()
        event = an_event(budget)
        budgets.add(budget, [event])  # the write succeeds although publishing failed
        assert flaky.published == []
        item = raw(budgets, {"budgetId": budget.budget_id, "version": 1})
        assert list(item["outbox"]) == [event.message_id] and item["outbox_pending"] == "1"
        stale = budgets.table.query(IndexName=OUTBOX_INDEX.name, KeyConditionExpression="outbox_pending = :p",
                                    ExpressionAttributeValues={":p": "1"})["Items"]
        assert budget.budget_id in {i["budgetId"] for i in stale}
        budgets.relay.sweep(older_than=timedelta(0))
        assert event in flaky.published
        assert raw(budgets, {"budgetId": budget.budget_id, "version": 1})["outbox"] == {}

    def test_lines_written_before_jobs_read_as_one_job(self, budgets):
        budget = a_budget()
        budgets.add(budget)
        budgets.items_table.update_item(Key={"budgetId": budget.budget_id, "itemId": f"0001#{budget.lines_key}#001"},
                                        UpdateExpression="REMOVE job, optional, lineId")
        raw_item = raw(budgets, {"budgetId": budget.budget_id, "version": 1})
        old = {k: v for k, v in raw_item.items() if k not in ("carriedLineCount", "lines")}
        budgets.table.put_item(Item=old)
        _version_lines.cache_clear()
        loaded = budgets.get(budget.budget_id, 1)
        assert [(line.line_id, line.job, line.optional) for line in loaded.lines] == [(1, 1, False), (2, 1, False)]
        assert loaded.carried_line_count == 0 and loaded.declined_line_ids == frozenset()

    def test_list_by_status_pages_with_tokens(self, any_tables, publisher):
        prefix = f"p{uuid.uuid4().hex[:6]}_"
        isolated = DynamoSettings(any_tables.endpoint_url, any_tables.region, prefix)
        from oficina_common.dynamodb import ensure_tables

        ensure_tables(isolated, (tables.BUDGETS, tables.BUDGET_ITEMS))
        budgets = BudgetRepository(table=tables.table(tables.BUDGETS, isolated),
                                   items_table=tables.table(tables.BUDGET_ITEMS, isolated), publisher=publisher)
        for _ in range(3):
            budgets.add(a_budget(status=BudgetStatus.REJECTED))
        first_page = budgets.list_by_status(BudgetStatus.REJECTED, limit=2)
        first, token = first_page.items, first_page.next_token
        assert len(first) == 2 and token
        second = budgets.list_by_status(BudgetStatus.REJECTED, limit=2, page_token=token).items
        assert len(second) == 1
        assert {b.budget_id for b in first}.isdisjoint({b.budget_id for b in second})
        with pytest.raises(ValidationFailed):
            budgets.list_by_status(BudgetStatus.REJECTED, page_token="%%%")

class TestPaymentRepository:
    def test_save_removes_emptied_fields_from_the_item(self, payments):
        """The rest of a save (conditional on the read, its messages) is the contract's (tests/contract)."""
        payment = a_payment(qr_code="000201")
        payments.add(payment)
        approved = payments.save(replace(payment, status=PaymentStatus.APPROVED, qr_code=""), expected=payment)
        assert approved.qr_code == ""
        assert "qrCode" not in raw(payments, {"paymentId": payment.payment_id, "timestamp": payment.timestamp})

def test_create_tables_is_idempotent(any_tables, settings, capsys):
    settings.DYNAMODB_TABLE_PREFIX = f"c{uuid.uuid4().hex[:6]}_"
    call_command("create_tables")
    call_command("create_tables")
    output = capsys.readouterr().out
    assert "4 table(s) created" in output and "0 table(s) created" in output
    client = resource(tables.dynamo_settings()).meta.client
    names = client.list_tables()["TableNames"]
    expected = {f"{settings.DYNAMODB_TABLE_PREFIX}{name}" for name in
                ("budgets", "budget_items", "payments", "budget_approval_tokens")}
    assert expected <= set(names)
    budgets = client.describe_table(TableName=f"{settings.DYNAMODB_TABLE_PREFIX}budgets")["Table"]
    assert {i["IndexName"] for i in budgets["GlobalSecondaryIndexes"]} == {
        "ServiceOrderIndex", "StatusIndex", "OutboxIndex"}
    payments = client.describe_table(TableName=f"{settings.DYNAMODB_TABLE_PREFIX}payments")["Table"]
    assert {i["IndexName"] for i in payments["GlobalSecondaryIndexes"]} == {
        "BudgetIndex", "ServiceOrderIndex", "MercadoPagoIndex", "StatusIndex", "OutboxIndex"}
