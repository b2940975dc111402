"""The repository contracts (``billing.ports``): the same cases against the in-memory fakes the unit
tests use and the DynamoDB repositories on both emulators (moto's server and dynalite, over HTTP).
A case that passes on DynamoDB and fails on the fake means the unit tests test something production
does not do."""
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from billing.domain import ApprovalToken, BudgetStatus, Decision, PaymentStatus, numbered, parse_lines
from billing.ports import ApprovalTokens, Budgets, Payments
from billing.repositories import ApprovalTokenRepository, BudgetRepository, PaymentRepository
from billing.tests import factories
from billing.tests.factories import NOW, a_budget, a_payment, an_event
from billing.tests.fakes import InMemoryApprovalTokenRepository, InMemoryBudgetRepository, InMemoryPaymentRepository
from oficina_common.errors import AlreadyExists, ConcurrencyConflict, ValidationFailed
from oficina_common.messages import Envelope
from oficina_common.messaging import RecordingPublisher

STORES = ["fake", "moto", "dynalite"]


@pytest.fixture
def publisher():
    return RecordingPublisher()


@pytest.fixture(params=STORES)
def store(request, settings):
    """Which implementation: the fake, or DynamoDB on one of the emulators (settings pointed at it)."""
    if request.param != "fake":
        request.getfixturevalue("point_settings_at")(request.getfixturevalue(f"{request.param}_tables"))
    return request.param


@pytest.fixture
def budgets(store, publisher) -> Budgets:
    return InMemoryBudgetRepository(publisher) if store == "fake" else BudgetRepository(publisher=publisher)


@pytest.fixture
def payments(store, publisher) -> Payments:
    return InMemoryPaymentRepository(publisher) if store == "fake" else PaymentRepository(publisher=publisher)


@pytest.fixture
def tokens(store) -> ApprovalTokens:
    return InMemoryApprovalTokenRepository() if store == "fake" else ApprovalTokenRepository()


class TestBudgets:
    def test_a_version_round_trips_with_its_lines(self, budgets):
        budget = a_budget()
        budgets.add(budget)
        loaded = budgets.get(budget.budget_id, 1)
        assert loaded == budget
        assert [line.description for line in loaded.lines] == ["Troca de óleo", "Filtro de óleo"]
        assert budgets.latest(budget.budget_id) == budget
        assert budgets.get(budget.budget_id, 2) is None and budgets.latest(str(uuid.uuid4())) is None

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
        revised = loaded.revise(parse_lines(factories.EXTRA_ITEMS), reason="", now=NOW,
                                approval_ttl=timedelta(hours=1), command_id="c2")
        budgets.add(revised)
        budgets.save(loaded.supersede(NOW), expected=loaded)
        again = budgets.latest(budget.budget_id)
        assert again.carried_line_count == 2 and again.declined_line_ids == {2}
        assert [(line.line_id, line.job) for line in again.lines] == [(1, 1), (2, 2), (3, 3)]
        assert budgets.get(budget.budget_id, 1).declined_line_ids == {2}  # superseded, decisions kept

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
        assert budgets.latest(first.budget_id).created_payload().to_payload()["items"] == factories.as_lines(
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
        budgets.save(replace(due, status=BudgetStatus.EXPIRED), expected=due)  # leave nothing due behind

    def test_link_sent_is_recorded_without_bumping_the_revision(self, budgets):
        budget = a_budget()
        budgets.add(budget)
        budgets.mark_link_sent(budget, NOW)
        loaded = budgets.get(budget.budget_id, 1)
        assert loaded.link_sent_at == NOW and loaded.rev == 0

    def test_a_decision_read_before_the_link_was_marked_sent_keeps_the_mark(self, budgets):
        budget = a_budget()
        budgets.add(budget)
        read = budgets.get(budget.budget_id, 1)  # the customer's approval reads the version …
        budgets.mark_link_sent(budget, NOW)  # … as the link's sender records its e-mail (no revision bump)
        saved = budgets.save(replace(read, status=BudgetStatus.APPROVED), expected=read)
        assert saved.link_sent_at == NOW
        assert budgets.get(budget.budget_id, 1).link_sent_at == NOW

    def test_a_version_is_created_once(self, budgets, publisher):
        budget = a_budget()
        budgets.add(budget, [an_event(budget)])
        with pytest.raises(AlreadyExists):
            budgets.add(replace(budget, customer_email="other@example.com"), [an_event(budget)])
        assert budgets.get(budget.budget_id, 1) == budget
        assert [e.type for e in publisher.published] == ["billing.BudgetCreated"]

    def test_the_approval_link_is_claimed_by_one_sender_until_the_claim_is_stale(self, budgets):
        budget = a_budget()
        budgets.add(budget)
        assert budgets.claim_link_sending(budget, NOW, stale_after=timedelta(minutes=5))
        assert not budgets.claim_link_sending(budget, NOW + timedelta(minutes=1), stale_after=timedelta(minutes=5))
        assert budgets.claim_link_sending(budget, NOW + timedelta(minutes=6), stale_after=timedelta(minutes=5))
        budgets.release_link_claim(budget)
        assert budgets.claim_link_sending(budget, NOW + timedelta(minutes=7), stale_after=timedelta(minutes=5))
        budgets.mark_link_sent(budget, NOW + timedelta(minutes=7))
        assert not budgets.claim_link_sending(budget, NOW + timedelta(hours=1), stale_after=timedelta(minutes=5))

    def test_a_version_created_claimed_is_not_claimed_again_until_the_claim_is_stale(self, budgets):
        budget = a_budget()
        budgets.add(budget, link_claimed_at=NOW)  # the creating worker sends the link, without a claim write
        assert not budgets.claim_link_sending(budget, NOW + timedelta(minutes=1), stale_after=timedelta(minutes=5))
        # Its sender crashed: once the claim is stale another sender takes it, and only one does.
        assert budgets.claim_link_sending(budget, NOW + timedelta(minutes=6), stale_after=timedelta(minutes=5))
        assert not budgets.claim_link_sending(budget, NOW + timedelta(minutes=7), stale_after=timedelta(minutes=5))
        assert budgets.get(budget.budget_id, 1) == budget

    def test_a_version_is_read_with_the_number_of_the_latest(self, budgets):
        first = budgets.add(a_budget())
        assert budgets.get_with_latest_version(first.budget_id, 1) == (first, 1)
        second = budgets.add(first.revise(parse_lines(factories.EXTRA_ITEMS), reason="", now=NOW,
                                          approval_ttl=timedelta(hours=1), command_id=str(uuid.uuid4())))
        assert budgets.get_with_latest_version(first.budget_id, 1) == (first, 2)
        assert budgets.get_with_latest_version(first.budget_id, 2) == (second, 2)
        assert budgets.get_with_latest_version(first.budget_id, 3) == (None, 0)
        assert budgets.get_with_latest_version(str(uuid.uuid4()), 1) == (None, 0)

    def test_listing_by_status_pages_and_refuses_a_token_it_did_not_give(self, budgets):
        mine = {budgets.add(a_budget(status=BudgetStatus.SUPERSEDED)).budget_id for _ in range(3)}
        seen, token = [], None
        while True:  # the emulators' tables are shared by the session: others' budgets may be listed too
            page = budgets.list_by_status(BudgetStatus.SUPERSEDED, limit=2, page_token=token)
            assert len(page.items) <= 2
            seen += [b.budget_id for b in page.items]
            token = page.next_token
            if token is None:
                break
        assert mine <= set(seen) and len(seen) == len(set(seen))
        assert all(b.status == BudgetStatus.SUPERSEDED for b in budgets.list_by_status(BudgetStatus.SUPERSEDED).items)
        with pytest.raises(ValidationFailed):
            budgets.list_by_status(BudgetStatus.SUPERSEDED, page_token="%%%")

    def test_republish_publishes_without_changing_the_budget(self, budgets, publisher):
        budget = a_budget()
        budgets.add(budget)
        budgets.republish(budget, [an_event(budget)])
        assert [e.type for e in publisher.published] == ["billing.BudgetCreated"]
        assert budgets.get(budget.budget_id, 1) == budget


class TestApprovalTokens:
    def test_single_use_and_gone_once_expired(self, tokens):
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


class TestPayments:
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

    def test_save_refuses_a_stale_read(self, payments, publisher):
        payment = a_payment(qr_code="000201")
        payments.add(payment)
        event = Envelope(type="billing.PaymentApproved", saga_id=payment.saga_id,
                         service_order_id=payment.service_order_id, payload={})
        approved = payments.save(replace(payment, status=PaymentStatus.APPROVED, qr_code=""), expected=payment,
                                 messages=[event])
        assert approved.status == PaymentStatus.APPROVED and approved.qr_code == "" and approved.rev == 1
        assert payments.get(payment.payment_id) == approved
        with pytest.raises(ConcurrencyConflict):
            payments.save(replace(payment, status=PaymentStatus.REJECTED), expected=payment)
        assert publisher.published == [event]

    def test_pending_payments_come_oldest_first_a_page_at_a_time(self, payments):
        """The reconciliation walks them with a cursor that it keeps between runs."""
        start = NOW - timedelta(days=400 + uuid.uuid4().int % 1000)  # before anything else in shared tables
        walk = [a_payment(created_at=start + timedelta(seconds=n)) for n in range(3)]
        for payment in reversed(walk):
            payments.add(payment)
        first = payments.pending_created_before(start + timedelta(seconds=2), limit=2)
        assert [p.payment_id for p in first.items] == [walk[0].payment_id, walk[1].payment_id]
        assert first.next_token
        payments.save_reconcile_cursor(first.next_token)
        second = payments.pending_created_before(start + timedelta(seconds=2), limit=2,
                                                 page_token=payments.reconcile_cursor())
        assert walk[2].payment_id == second.items[0].payment_id
