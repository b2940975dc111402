from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from billing.domain import (
    MAX_LINES_BYTES,
    MAX_VERSIONS,
    Actor,
    Budget,
    BudgetStatus,
    Decision,
    MercadoPagoPayment,
    Payment,
    PaymentMethod,
    PaymentMismatch,
    PaymentStatus,
    budget_id_for_saga,
    cents_of,
    iso,
    parse_iso,
    parse_lines,
    payment_id_for,
)
from billing.tests import factories
from oficina_common.errors import InvalidTransition, ValidationFailed

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
TTL = timedelta(hours=72)


def a_budget(**changes) -> Budget:
    budget = Budget.open(budget_id="b-1", saga_id="saga-1", service_order_id="os-1", customer_id="42",
                         lines=parse_lines(factories.ITEMS), now=NOW, approval_ttl=TTL, command_id="m-1")
    return replace(budget, **changes)


def a_payment(**changes) -> Payment:
    payment = Payment(payment_id="p-1", timestamp=iso(NOW), saga_id="saga-1", service_order_id="os-1",
                      budget_id="b-1", budget_version=1, customer_id="42", amount_cents=12200,
                      method=PaymentMethod.PIX, payer_email="maria@example.com", description="OS",
                      status=PaymentStatus.PENDING, created_at=NOW, updated_at=NOW, mercadopago_payment_id="900")
    return replace(payment, **changes)


def mp(status: str, *, id: str = "900", amount_cents: int = 12200, reference: str = "p-1",
       detail: str = "") -> MercadoPagoPayment:
    return MercadoPagoPayment(id=id, status=status, status_detail=detail, external_reference=reference,
                              amount_cents=amount_cents)


class TestBudgetLines:
    def test_totals_are_quantity_times_unit_price_in_cents(self):
        budget = a_budget()
        assert [line.total_cents for line in budget.lines] == [9000, 3200]
        assert budget.total_cents == factories.ITEMS_TOTAL
        assert budget.currency == "BRL"
        assert budget.expires_at == NOW + TTL

    @pytest.mark.parametrize("bad, message", [
        ([], "at least one item"),
        ("nope", "at least one item"),
        ([{"kind": "gift", "catalog_id": "1", "description": "x", "quantity": 1, "unit_price_cents": 1}], "kind"),
        ([{"kind": "part", "catalog_id": "", "description": "x", "quantity": 1, "unit_price_cents": 1}], "catalog_id"),
        ([{"kind": "part", "catalog_id": "1", "description": " ", "quantity": 1, "unit_price_cents": 1}],
         "description"),
        ([{"kind": "part", "catalog_id": "1", "description": "x", "quantity": 0, "unit_price_cents": 1}], "quantity"),
        ([{"kind": "part", "catalog_id": "1", "description": "x", "quantity": 1, "unit_price_cents": 1.5}],
         "unit_price_cents"),
        ([{"kind": "part", "catalog_id": "1", "description": "x", "quantity": True, "unit_price_cents": 1}],
         "quantity"),
        (["not an object"], "object"),
    ])
    def test_bad_items_are_refused_with_the_field_named(self, bad, message):
        with pytest.raises(ValidationFailed, match=message):
            parse_lines(bad)

    def test_numeric_catalog_ids_become_strings(self):
        (line,) = parse_lines([{**factories.ITEMS[0], "catalog_id": 7}])
        assert line.catalog_id == "7"


class TestBudgetDecisions:
    def test_approve_a_pending_version(self):
        approved = a_budget().decide(Decision.APPROVE, by="customer", reason="", now=NOW)
        assert approved.status == BudgetStatus.APPROVED
        assert approved.decided_by == "customer"
        assert approved.decided_payload(payment_url="https://pay.example/b-1/v1").to_payload() == {
            "budget_id": "b-1", "version": 1, "total_cents": 12200, "decided_by": "customer",
            "lines": factories.as_lines(factories.ITEMS, status="APPROVED"), "declined_total_cents": 0,
            "payment_url": "https://pay.example/b-1/v1"}

    def test_reject_carries_the_reason(self):
        rejected = a_budget().decide(Decision.REJECT, by="customer", reason="caro demais", now=NOW)
        assert rejected.status == BudgetStatus.REJECTED
        assert rejected.decided_payload().to_payload()["reason"] == "caro demais"

    def test_the_same_decision_again_changes_nothing(self):
        approved = a_budget(status=BudgetStatus.APPROVED)
        assert approved.decide(Decision.APPROVE, by="customer", reason="", now=NOW) is None

    def test_the_contrary_decision_is_refused_naming_the_status(self):
        approved = a_budget(status=BudgetStatus.APPROVED)
        with pytest.raises(InvalidTransition, match="already APPROVED; it cannot be rejected"):
            approved.decide(Decision.REJECT, by="customer", reason="", now=NOW)

    def test_a_superseded_version_is_stale(self):
        with pytest.raises(InvalidTransition, match="stale") as error:
            a_budget(status=BudgetStatus.SUPERSEDED).decide(Decision.APPROVE, by="customer", reason="", now=NOW)
        assert error.value.code == "stale_version"

    def test_a_version_past_its_expiry_cannot_be_decided(self):
        with pytest.raises(InvalidTransition, match="expired"):
            a_budget().decide(Decision.APPROVE, by="customer", reason="", now=NOW + TTL)

    def test_expire_only_after_the_deadline(self):
        with pytest.raises(InvalidTransition):
            a_budget().expire(NOW)
        assert a_budget().expire(NOW + TTL).status == BudgetStatus.EXPIRED

    def test_cancel_a_pending_or_approved_version_and_nothing_else(self):
        assert a_budget().cancel(reason="x", now=NOW).status == BudgetStatus.CANCELLED
        assert a_budget(status=BudgetStatus.APPROVED).cancel(reason="x", now=NOW).status == BudgetStatus.CANCELLED
        assert a_budget(status=BudgetStatus.REJECTED).cancel(reason="x", now=NOW) is None
        assert a_budget(status=BudgetStatus.CANCELLED).cancel(reason="x", now=NOW) is None


class TestBudgetRevision:
    def test_new_version_has_the_old_items_plus_the_additional_ones(self):
        approved = a_budget(status=BudgetStatus.APPROVED, rev=3)
        revised = approved.revise(parse_lines(factories.EXTRA_ITEMS), reason="freio gasto", now=NOW,
                                  approval_ttl=TTL, command_id="m-2")
        assert revised.version == 2
        assert revised.status == BudgetStatus.PENDING_APPROVAL
        assert revised.total_cents == factories.ITEMS_TOTAL + factories.EXTRA_TOTAL
        assert revised.additional_total_cents == factories.EXTRA_TOTAL
        assert revised.rev == 0 and revised.lines_key != approved.lines_key
        assert revised.created_payload().to_payload() == {
            "budget_id": "b-1", "version": 2, "total_cents": factories.ITEMS_TOTAL + factories.EXTRA_TOTAL,
            "expires_at": iso(NOW + TTL), "revision": True, "additional_total_cents": factories.EXTRA_TOTAL,
            "items": factories.as_lines(factories.EXTRA_ITEMS, first_id=3, job_offset=1),
            "lines": [*factories.as_lines(factories.ITEMS),
                      *factories.as_lines(factories.EXTRA_ITEMS, first_id=3, job_offset=1)],
            "origin": "saga"}

    def test_a_revision_says_which_lines_it_added_and_who_asked(self):
        by_staff = a_budget().revise(parse_lines(factories.EXTRA_ITEMS), reason="", now=NOW, approval_ttl=TTL,
                                     command_id="api:7")
        again = by_staff.revise(parse_lines(factories.ITEMS[:1]), reason="", now=NOW, approval_ttl=TTL,
                                command_id="m-3")
        assert by_staff.created_payload().to_payload()["origin"] == "staff"
        assert again.created_payload().to_payload()["origin"] == "saga"
        # only what version 3 added, its job after version 2's
        assert again.created_payload().to_payload()["items"] == factories.as_lines(factories.ITEMS[:1], first_id=4,
                                                                                   job_offset=2)
        assert len(again.lines) == 4

    def test_first_version_payload_is_not_a_revision(self):
        assert a_budget().created_payload().to_payload()["revision"] is False
        assert "additional_total_cents" not in a_budget().created_payload().to_payload()

    @pytest.mark.parametrize("status", [BudgetStatus.REJECTED, BudgetStatus.EXPIRED, BudgetStatus.CANCELLED])
    def test_a_closed_budget_cannot_be_revised(self, status):
        with pytest.raises(InvalidTransition, match="cannot be revised"):
            a_budget(status=status).revise(parse_lines(factories.EXTRA_ITEMS), reason="", now=NOW,
                                           approval_ttl=TTL, command_id="m-2")

    def test_supersede_from_pending_or_approved(self):
        assert a_budget().supersede(NOW).status == BudgetStatus.SUPERSEDED
        with pytest.raises(InvalidTransition):
            a_budget(status=BudgetStatus.REJECTED).supersede(NOW)


class TestIds:
    def test_budget_and_payment_ids_are_deterministic(self):
        assert budget_id_for_saga("s") == budget_id_for_saga("s") != budget_id_for_saga("t")
        assert payment_id_for("s", "b", 1) == payment_id_for("s", "b", 1) != payment_id_for("s", "b", 2)

    def test_iso_round_trip(self):
        assert parse_iso(iso(NOW)) == NOW
        assert iso(None) is None and parse_iso("") is None


class TestActor:
    def test_customers_see_only_their_own(self):
        assert Actor.customer("42").may_see("42")
        assert not Actor.customer("42").may_see("43")
        assert Actor.staff("ana", "attendant").may_see("43")
        assert Actor.staff("ana", "attendant").decided_by == "attendant:ana"
        assert Actor.staff("", "admin").decided_by == "admin:admin"
        assert Actor.approval_link("t").decided_by == "customer"


class TestMercadoPagoStatuses:
    @pytest.mark.parametrize("mp_status, ours, event", [
        ("approved", PaymentStatus.APPROVED, "billing.PaymentApproved"),
        ("authorized", PaymentStatus.APPROVED, "billing.PaymentApproved"),
        ("rejected", PaymentStatus.REJECTED, "billing.PaymentFailed"),
        ("cancelled", PaymentStatus.CANCELLED, "billing.PaymentFailed"),
        ("canceled", PaymentStatus.CANCELLED, "billing.PaymentFailed"),
        ("refunded", PaymentStatus.REFUNDED, "billing.PaymentRefunded"),
        ("charged_back", PaymentStatus.REFUNDED, "billing.PaymentFailed"),
    ])
    def test_a_pending_payment_follows_mercado_pago(self, mp_status, ours, event):
        changed, published = a_payment().observe(mp(mp_status), NOW)
        assert changed.status == ours
        assert published == event

    @pytest.mark.parametrize("mp_status", ["pending", "in_process", "in_mediation"])
    def test_pending_like_statuses_keep_it_pending_without_an_event(self, mp_status):
        change = a_payment(mercadopago_status="pending").observe(mp(mp_status), NOW)
        if mp_status == "pending":
            assert change is None
        else:
            changed, event = change
            assert changed.status == PaymentStatus.PENDING and event is None

    @pytest.mark.parametrize("mp_status", ["pending", "in_process", "rejected", "cancelled"])
    def test_an_approved_payment_never_goes_back(self, mp_status):
        assert a_payment(status=PaymentStatus.APPROVED).observe(mp(mp_status), NOW) is None

    @pytest.mark.parametrize("status", [PaymentStatus.REJECTED, PaymentStatus.CANCELLED, PaymentStatus.REFUNDED])
    def test_final_states_stay_final(self, status):
        assert a_payment(status=status).observe(mp("approved"), NOW) is None
        assert a_payment(status=status).observe(mp("pending"), NOW) is None

    def test_news_of_another_mercado_pago_payment_never_moves_a_settled_one(self):
        approved = a_payment(status=PaymentStatus.APPROVED)
        assert approved.observe(mp("refunded", id="901"), NOW) is None
        assert approved.is_duplicate(mp("approved", id="901"))
        assert not approved.is_duplicate(mp("approved"))  # the payment it settled on
        assert not approved.with_extra_refunded("901", NOW).is_duplicate(mp("approved", id="901"))

    def test_approved_may_still_be_refunded(self):
        changed, event = a_payment(status=PaymentStatus.APPROVED).observe(mp("refunded"), NOW)
        assert changed.status == PaymentStatus.REFUNDED and event == "billing.PaymentRefunded"

    def test_the_same_news_twice_changes_nothing(self):
        approved, _ = a_payment().observe(mp("approved"), NOW)
        assert approved.observe(mp("approved"), NOW) is None

    def test_a_cancellation_we_asked_for_is_reported_as_cancelled(self):
        asked = a_payment().with_cancel_requested("saga compensating", NOW)
        changed, event = asked.observe(mp("cancelled"), NOW)
        assert changed.status == PaymentStatus.CANCELLED and event == "billing.PaymentCancelled"

    def test_failure_reasons_name_what_happened(self):
        rejected, _ = a_payment().observe(mp("rejected", detail="cc_rejected_other_reason"), NOW)
        assert rejected.failure_reason == "rejected by Mercado Pago (cc_rejected_other_reason)"
        assert rejected.news("billing.PaymentFailed").to_payload()["reason"] == rejected.failure_reason
        charged_back, _ = a_payment(status=PaymentStatus.APPROVED).observe(mp("charged_back"), NOW)
        assert charged_back.failure_reason.startswith("charged back")

    def test_an_approval_for_another_amount_is_refused(self):
        with pytest.raises(PaymentMismatch, match="expects 12200"):
            a_payment().observe(mp("approved", amount_cents=100), NOW)

    def test_another_payments_reference_is_refused(self):
        with pytest.raises(PaymentMismatch, match="refers to"):
            a_payment().observe(mp("approved", reference="p-2"), NOW)

    def test_an_unknown_status_is_refused(self):
        with pytest.raises(PaymentMismatch, match="unknown status"):
            a_payment().observe(mp("teleported"), NOW)

    def test_a_failed_checkout_try_keeps_the_payment_open(self):
        checkout = a_payment(method=PaymentMethod.CHECKOUT, mercadopago_payment_id=None)
        tried, event = checkout.observe(mp("rejected", id="901"), NOW)
        assert tried.status == PaymentStatus.PENDING and event is None
        paid, event = tried.observe(mp("approved", id="902"), NOW)
        assert paid.status == PaymentStatus.APPROVED and paid.mercadopago_payment_id == "902"
        assert event == "billing.PaymentApproved"
        assert paid.observe(mp("rejected", id="901"), NOW) is None

    def test_refused_payment_fails_for_good(self):
        refused = a_payment(mercadopago_payment_id=None).refused("Mercado Pago refused the payment: bad", NOW)
        assert refused.status == PaymentStatus.REJECTED
        with pytest.raises(InvalidTransition):
            refused.cancelled(NOW)

    def test_event_payloads_follow_the_message_catalogue(self):
        payment = a_payment(status=PaymentStatus.APPROVED)
        assert payment.news("billing.PaymentApproved").to_payload() == {
            "payment_id": "p-1", "budget_id": "b-1", "mercadopago_payment_id": "900", "status": "APPROVED",
            "amount_cents": 12200}
        assert payment.news("billing.PaymentRefunded").to_payload() == {
            "payment_id": "p-1", "mercadopago_payment_id": "900", "amount_cents": 12200}
        assert payment.news("billing.PaymentCancelled").to_payload() == {"payment_id": "p-1"}
        with pytest.raises(ValueError):
            payment.news("billing.Nope")

    def test_amounts_from_mercado_pago_become_cents(self):
        assert cents_of(122.0) == 12200
        assert cents_of("0.1") == 10
        assert cents_of(None) is None and cents_of(True) is None and cents_of("abc") is None
        view = MercadoPagoPayment.from_api({"id": 5, "status": "pending", "transaction_amount": 12.5,
                                            "point_of_interaction": {"transaction_data": {"qr_code": "000201"}}})
        assert (view.id, view.amount_cents, view.qr_code) == ("5", 1250, "000201")


class TestBudgetBounds:
    """A DynamoDB item holds 400 KB: what a budget holds is bounded in bytes as stored (issue 18)."""

    @staticmethod
    def lines_of(description: str, count: int) -> list[dict]:
        return [{**factories.EXTRA_ITEMS[0], "description": description} for _ in range(count)]

    @pytest.mark.parametrize("character", ["ç", "🔧"])
    def test_a_revision_past_the_bytes_a_version_holds_is_refused_naming_items(self, character):
        # 150 lines of 150 characters fit the character limits; in UTF-8 they do not fit the version.
        lines = parse_lines(self.lines_of(character * 150, 150))
        with pytest.raises(ValidationFailed) as refused:
            a_budget().revise(lines, reason="", now=NOW, approval_ttl=TTL, command_id="m-2")
        assert refused.value.code == "budget_too_large" and refused.value.extra["field"] == "items"
        assert refused.value.message.startswith("items:")
        assert refused.value.extra["bytes"] > MAX_LINES_BYTES

    def test_a_revision_within_the_bytes_is_made(self):
        revised = a_budget().revise(parse_lines(self.lines_of("Pastilha de freio dianteira ç", 20)), reason="",
                                    now=NOW, approval_ttl=TTL, command_id="m-2")
        assert revised.version == 2 and len(revised.lines) == 22

    def test_a_budget_takes_a_bounded_number_of_versions(self):
        last = a_budget(version=MAX_VERSIONS)
        with pytest.raises(InvalidTransition) as refused:
            last.revise(parse_lines(factories.EXTRA_ITEMS), reason="", now=NOW, approval_ttl=TTL, command_id="m-9")
        assert refused.value.code == "too_many_versions" and refused.value.status_code == 409
        # The budget itself is untouched: it may still be decided.
        assert last.decide(Decision.APPROVE, by="customer", reason="", now=NOW).status == BudgetStatus.APPROVED
        assert a_budget(version=MAX_VERSIONS - 1).revise(parse_lines(factories.EXTRA_ITEMS), reason="", now=NOW,
                                                         approval_ttl=TTL, command_id="m-9").version == MAX_VERSIONS
