"""The repositories on real DynamoDB endpoints: moto's server and dynalite, over HTTP."""
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from billing import tables
from billing.domain import (
    ApprovalToken,
    Budget,
    BudgetStatus,
    Decision,
    Payment,
    PaymentMethod,
    PaymentStatus,
    iso,
    numbered,
    parse_lines,
)
from billing.repositories import ApprovalTokenRepository, BudgetRepository, PaymentRepository, _version_lines
from billing.tests import factories
from oficina_common.dynamodb import DynamoSettings, resource
from oficina_common.errors import AlreadyExists, ConcurrencyConflict, ValidationFailed
from oficina_common.messages import Envelope
from oficina_common.messaging import RecordingPublisher
from oficina_common.metrics import DYNAMODB_REQUESTS
from oficina_common.outbox import OUTBOX_INDEX

NOW = datetime.now(UTC).replace(microsecond=0)


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


def a_budget(**changes) -> Budget:
    budget = Budget.open(budget_id=str(uuid.uuid4()), saga_id=str(uuid.uuid4()), service_order_id=str(uuid.uuid4()),
                         customer_id="42", lines=parse_lines(factories.ITEMS), now=NOW,
                         approval_ttl=timedelta(hours=72), command_id=str(uuid.uuid4()),
                         customer_email=factories.CUSTOMER_EMAIL)
    return replace(budget, **changes)


def an_event(budget: Budget, kind: str = "billing.BudgetCreated") -> Envelope:
    return Envelope(type=kind, saga_id=budget.saga_id, service_order_id=budget.service_order_id,
                    payload=budget.created_payload())


def a_payment(**changes) -> Payment:
    payment = Payment(payment_id=str(uuid.uuid4()), timestamp=iso(NOW), saga_id=str(uuid.uuid4()),
                      service_order_id=str(uuid.uuid4()), budget_id=str(uuid.uuid4()), budget_version=1,
                      customer_id="42", amount_cents=12200, method=PaymentMethod.PIX,
                      payer_email=factories.CUSTOMER_EMAIL, description="OS", status=PaymentStatus.PENDING,
                      created_at=NOW, updated_at=NOW)
    return replace(payment, **changes)


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
    def test_a_version_round_trips_with_its_lines(self, budgets):
        budget = a_budget()
        budgets.add(budget)
        loaded = budgets.get(budget.budget_id, 1)
        assert loaded == budget
        assert [line.description for line in loaded.lines] == ["Troca de óleo", "Filtro de óleo"]
        assert budgets.latest(budget.budget_id) == budget
        assert budgets.get(budget.budget_id, 2) is None and budgets.latest(str(uuid.uuid4())) is None

    def test_a_versions_lines_are_read_once_then_kept(self, budgets):
        def line_queries() -> float:
            return sum(s.value for family in DYNAMODB_REQUESTS.collect() for s in family.samples
                       if s.name.endswith("_total") and s.labels["table"] == budgets.items_table.name
                       and s.labels["operation"] == "Query")

        budget = a_budget()
        budgets.add(budget)
        revision = replace(budget, version=2, lines=numbered(parse_lines(factories.ITEMS[:1])), lines_key="other")
        budgets.add(revision)
        before = line_queries()
        assert budgets.get(budget.budget_id, 1).lines == budget.lines
        assert budgets.latest(budget.budget_id).lines == revision.lines  # each version its own lines
        assert [v.lines for v in budgets.versions(budget.budget_id)] == [budget.lines, revision.lines]
        assert budgets.get(budget.budget_id, 1).lines == budget.lines
        assert line_queries() - before == 2  # one per version, however often it is loaded

    def test_lines_live_in_budget_items_under_deterministic_ids(self, budgets):
        budget = a_budget()
        budgets.add(budget)
        rows = budgets.items_table.query(KeyConditionExpression="budgetId = :b",
                                         ExpressionAttributeValues={":b": budget.budget_id})["Items"]
        assert sorted(r["itemId"] for r in rows) == [f"0001#{budget.lines_key}#000", f"0001#{budget.lines_key}#001"]
        assert "lines" not in raw(budgets, {"budgetId": budget.budget_id, "version": 1})

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

    def test_save_is_conditional_on_the_status_and_revision_read(self, budgets, publisher):
        budget = a_budget()
        budgets.add(budget)
        approved = budget.decide(Decision.APPROVE, by="customer", reason="", now=NOW)
        saved = budgets.save(approved, expected=budget, messages=[an_event(budget, "billing.BudgetApproved")])
        assert saved.status == BudgetStatus.APPROVED and saved.rev == 1
        with pytest.raises(ConcurrencyConflict):
            budgets.save(budget.decide(Decision.REJECT, by="customer", reason="", now=NOW), expected=budget)
        assert budgets.get(budget.budget_id, 1).status == BudgetStatus.APPROVED
        assert [e.type for e in publisher.published] == ["billing.BudgetApproved"]

    def test_jobs_optional_parts_and_declined_lines_round_trip(self, budgets, publisher):
        items = [{**factories.ITEMS[0], "job": 1}, {**factories.ITEMS[1], "job": 2, "optional": True}]
        budget = a_budget(lines=numbered(parse_lines(items)))
        budgets.add(budget)
        approved = budget.decide(Decision.APPROVE, by="customer", reason="", now=NOW, lines=[1])
        # The declined lines travel in the decision's one conditional write, with its event.
        budgets.save(approved, expected=budget, messages=[an_event(budget, "billing.BudgetApproved")])
        loaded = budgets.get(budget.budget_id, 1)
        assert [(line.line_id, line.job, line.optional) for line in loaded.lines] == [(1, 1, False), (2, 2, True)]
        assert loaded.declined_line_ids == {2} and loaded.approved_total_cents == 9000
        assert raw(budgets, {"budgetId": budget.budget_id, "version": 1})["declinedLineIds"] == [2]
        revised = loaded.revise(parse_lines(factories.EXTRA_ITEMS), reason="", now=NOW,
                                approval_ttl=timedelta(hours=1), command_id="c2")
        budgets.add(revised)
        budgets.save(loaded.supersede(NOW), expected=loaded)
        again = budgets.latest(budget.budget_id)
        assert again.carried_line_count == 2 and again.declined_line_ids == {2}
        assert [(line.line_id, line.job) for line in again.lines] == [(1, 1), (2, 2), (3, 3)]
        assert budgets.get(budget.budget_id, 1).declined_line_ids == {2}  # superseded, decisions kept

    def test_lines_written_before_jobs_read_as_one_job(self, budgets):
        budget = a_budget()
        budgets.add(budget)
        budgets.items_table.update_item(Key={"budgetId": budget.budget_id, "itemId": f"0001#{budget.lines_key}#001"},
                                        UpdateExpression="REMOVE job, optional, lineId")
        raw_item = raw(budgets, {"budgetId": budget.budget_id, "version": 1})
        old = {k: v for k, v in raw_item.items() if k not in ("carriedLineCount",)}
        budgets.table.put_item(Item=old)
        _version_lines.cache_clear()
        loaded = budgets.get(budget.budget_id, 1)
        assert [(line.line_id, line.job, line.optional) for line in loaded.lines] == [(1, 1, False), (2, 1, False)]
        assert loaded.carried_line_count == 0 and loaded.declined_line_ids == frozenset()

    def test_versions_and_the_latest_per_service_order(self, budgets):
        first = a_budget()
        budgets.add(first)
        second = first.revise(parse_lines(factories.EXTRA_ITEMS), reason="", now=NOW,
                              approval_ttl=timedelta(hours=1), command_id="c2")
        budgets.add(second)
        other = a_budget(service_order_id=first.service_order_id)
        budgets.add(other)
        assert [b.version for b in budgets.versions(first.budget_id)] == [1, 2]
        assert budgets.latest(first.budget_id).total_cents == factories.ITEMS_TOTAL + factories.EXTRA_TOTAL
        assert budgets.latest(first.budget_id).created_payload()["items"] == factories.as_lines(
            factories.EXTRA_ITEMS, first_id=3, job_offset=1)
        listed = budgets.list_by_service_order(first.service_order_id)
        assert {(b.budget_id, b.version) for b in listed} == {(first.budget_id, 2), (other.budget_id, 1)}

    def test_expiry_candidates_come_from_the_status_index(self, budgets):
        due = a_budget(expires_at=NOW - timedelta(minutes=1))
        later = a_budget(expires_at=NOW + timedelta(hours=1))
        decided = a_budget(expires_at=NOW - timedelta(minutes=1), status=BudgetStatus.APPROVED)
        for budget in (due, later, decided):
            budgets.add(budget)
        found = budgets.due_for_expiry(NOW)
        assert (due.budget_id, 1) in found
        assert (later.budget_id, 1) not in found and (decided.budget_id, 1) not in found

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

    def test_link_sent_is_recorded_without_bumping_the_revision(self, budgets):
        budget = a_budget()
        budgets.add(budget)
        budgets.mark_link_sent(budget, NOW)
        loaded = budgets.get(budget.budget_id, 1)
        assert loaded.link_sent_at == NOW and loaded.rev == 0


class TestApprovalTokens:
    def test_single_use_and_gone_once_expired(self, any_tables):
        tokens = ApprovalTokenRepository()
        token = ApprovalToken(token_hash=uuid.uuid4().hex, budget_id="b", version=1,
                              expires_at=NOW + timedelta(hours=1), created_at=NOW)
        tokens.add(token)
        with pytest.raises(AlreadyExists):
            tokens.add(token)
        assert tokens.get(token.token_hash) == token
        tokens.mark_used(token.token_hash, "approve", NOW)
        tokens.mark_used(token.token_hash, "approve", NOW)  # the same decision again is fine
        with pytest.raises(ConcurrencyConflict):
            tokens.mark_used(token.token_hash, "reject", NOW)
        assert tokens.get(token.token_hash).used_decision == "approve"
        # TTL passed: the emulators may never delete it; it is gone on read all the same.
        assert tokens.get(token.token_hash, now=NOW + timedelta(hours=2)) is None
        expired = replace(token, token_hash=uuid.uuid4().hex, expires_at=NOW - timedelta(seconds=1))
        tokens.add(expired)
        assert tokens.get(expired.token_hash) is None


class TestPaymentRepository:
    def test_round_trip_and_conditional_create(self, payments):
        payment = a_payment()
        payments.add(payment)
        assert payments.get(payment.payment_id) == payment
        with pytest.raises(AlreadyExists):
            payments.add(replace(payment, amount_cents=1))
        assert payments.get(str(uuid.uuid4())) is None

    def test_found_by_mercado_pago_id_budget_and_service_order(self, payments):
        payment = a_payment()
        payments.add(payment)
        assert payments.find_by_mercadopago_id("123") is None
        requested = payments.save(replace(payment, mercadopago_payment_id="123", qr_code="000201"),
                                  expected=payment)
        assert payments.find_by_mercadopago_id("123").payment_id == payment.payment_id
        assert [p.payment_id for p in payments.list_by_budget(payment.budget_id)] == [payment.payment_id]
        found = payments.list_by_service_order(payment.service_order_id)
        page, token = found.items, found.next_token
        assert page == [requested] and token is None

    def test_save_refuses_a_stale_read_and_removes_emptied_fields(self, payments, publisher):
        payment = a_payment(qr_code="000201")
        payments.add(payment)
        event = Envelope(type="billing.PaymentApproved", saga_id=payment.saga_id,
                         service_order_id=payment.service_order_id, payload={})
        approved = payments.save(replace(payment, status=PaymentStatus.APPROVED, qr_code=""), expected=payment,
                                 messages=[event])
        assert approved.status == PaymentStatus.APPROVED and approved.qr_code == "" and approved.rev == 1
        assert "qrCode" not in raw(payments, {"paymentId": payment.payment_id, "timestamp": payment.timestamp})
        with pytest.raises(ConcurrencyConflict):
            payments.save(replace(payment, status=PaymentStatus.REJECTED), expected=payment)
        assert publisher.published == [event]

    def test_pending_payments_older_than_a_cutoff(self, payments):
        old = a_payment(created_at=NOW - timedelta(minutes=10))
        young = a_payment()
        done = a_payment(created_at=NOW - timedelta(minutes=10), status=PaymentStatus.APPROVED)
        for payment in (old, young, done):
            payments.add(payment)
        found = {p.payment_id for p in payments.pending_created_before(NOW - timedelta(minutes=2)).items}
        assert old.payment_id in found
        assert young.payment_id not in found and done.payment_id not in found

    def test_republish_adds_messages_without_changing_state(self, payments, publisher):
        payment = a_payment()
        payments.add(payment)
        event = Envelope(type="billing.PaymentCancelled", saga_id=payment.saga_id,
                         service_order_id=payment.service_order_id, payload={"payment_id": payment.payment_id})
        payments.republish(payment, [event])
        assert publisher.published == [event]
        assert payments.get(payment.payment_id) == payment


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
