import uuid

import pytest

from billing import handlers, services
from billing.dependencies import RecentPayments
from billing.domain import ID_NAMESPACE, Actor, PaymentStatus, payment_id_for
from billing.mercadopago import MercadoPagoNotFound, MercadoPagoRefused, MercadoPagoUnavailable
from billing.tests import factories
from oficina_common.errors import InvalidTransition, NotFound, ValidationFailed
from oficina_common.messages import TEXT_LIMIT

LONG_REASON = "o trabalho falhou e o cliente deve receber o dinheiro de volta " * 14  # 882 characters


@pytest.fixture
def approved_budget(fake):
    command = factories.create_budget()
    budget = handlers.create_budget(command)
    services.budget_decide(budget_id=budget.budget_id, version=1, decision="approve", actor=Actor.customer("42"))
    return command, budget


def request(approved_budget, **kwargs):
    command, budget = approved_budget
    message = factories.request_payment(command, budget.budget_id, **kwargs)
    return message, handlers.request_payment(message)


class TestRequestPayment:
    def test_pix_payment_is_created_at_mercado_pago_with_a_stable_key(self, fake, approved_budget):
        message, payment = request(approved_budget)
        command, budget = approved_budget
        assert payment.payment_id == payment_id_for(command.saga_id, budget.budget_id, 1)
        assert payment.status == PaymentStatus.PENDING
        assert payment.mercadopago_payment_id and payment.qr_code and payment.qr_code_base64
        assert fake.mercadopago.calls == [("create_pix_payment", f"payment-{payment.payment_id}")]
        (requested,) = fake.published("billing.PaymentRequested")
        assert requested.payload == {
            "payment_id": payment.payment_id, "budget_id": budget.budget_id,
            "mercadopago_payment_id": payment.mercadopago_payment_id, "status": "PENDING",
            "amount_cents": 12200, "qr_code": payment.qr_code, "init_point": None}
        assert requested.saga_id == command.saga_id

    def test_checkout_stores_the_init_point(self, fake, approved_budget):
        _, payment = request(approved_budget, method="checkout")
        assert payment.init_point.startswith("https://mp.example/checkout/")
        assert payment.mercadopago_payment_id is None
        assert fake.published("billing.PaymentRequested")[0].payload["init_point"] == payment.init_point

    def test_asked_twice_one_payment_at_mercado_pago(self, fake, approved_budget):
        message, first = request(approved_budget)
        again = handlers.request_payment(message)
        retry = factories.request_payment(approved_budget[0], approved_budget[1].budget_id)
        handlers.request_payment(retry)
        assert again.payment_id == first.payment_id
        assert len(fake.mercadopago.payments) == 1
        assert len(fake.deps.payments.items) == 1
        # Each delivery is answered; a redelivery with the id its first answer had.
        answers = fake.published("billing.PaymentRequested")
        assert len(answers) == 3 and answers[0].message_id == answers[1].message_id != answers[2].message_id
        assert answers[0].payload == answers[1].payload == answers[2].payload

    def test_a_repeat_is_answered_from_the_payment_after_the_budget_was_cancelled(self, fake, approved_budget):
        command, budget = approved_budget
        message, payment = request(approved_budget)
        handlers.cancel_budget(factories.command(command, "billing.CancelBudget",
                                                         {"budget_id": budget.budget_id}))
        handlers.request_payment(message)
        first, again = fake.published("billing.PaymentRequested")
        assert again.message_id == first.message_id
        assert len(fake.mercadopago.payments) == 1

    def test_a_repeat_after_the_budget_was_revised_is_answered_from_the_payment(self, fake, approved_budget):
        """No read of the payment before its conditional create: a repeat that finds the budget no
        longer payable reads the payment then, and is answered from it."""
        command, budget = approved_budget
        message, payment = request(approved_budget)
        services.budget_revise(budget_id=budget.budget_id, items=factories.EXTRA_ITEMS)
        fake.deps.budgets.items.pop((budget.budget_id, 1))  # and even without the version it paid
        assert handlers.request_payment(message) == payment
        first, again = fake.published("billing.PaymentRequested")
        assert again.message_id == first.message_id
        assert len(fake.mercadopago.payments) == 1

    def test_a_request_for_a_budget_never_approved_and_no_payment_is_still_refused(self, fake):
        command = factories.create_budget()
        budget = handlers.create_budget(command)
        with pytest.raises(InvalidTransition):
            handlers.request_payment(factories.request_payment(command, budget.budget_id))
        assert fake.deps.payments.items == {} and fake.mercadopago.calls == []

    def test_a_pix_billing_created_is_marked_so_its_creation_notice_queues_no_task(self, fake, approved_budget):
        _, payment = request(approved_budget)
        assert fake.deps.created_payments.knows(payment.mercadopago_payment_id)
        assert not fake.deps.created_payments.knows("999")

    def test_a_payment_the_checkout_created_is_not_marked(self, fake, approved_budget):
        _, payment = request(approved_budget, method="checkout")
        paid = fake.mercadopago.pay_checkout(payment.preference_id)
        assert not fake.deps.created_payments.knows(paid.id)

    def test_a_pix_created_already_settled_is_not_marked(self, fake, approved_budget, monkeypatch):
        """Its creation notice tells what the recorded answer does not (our status moves): it is read."""
        create = fake.mercadopago.create_pix_payment

        def approved_at_once(**kwargs):
            created = create(**kwargs)
            fake.mercadopago.set_status(created.id, "approved")
            return fake.mercadopago.get_payment(created.id)

        monkeypatch.setattr(fake.mercadopago, "create_pix_payment", approved_at_once)
        _, payment = request(approved_budget)
        assert not fake.deps.created_payments.knows(payment.mercadopago_payment_id)
        services.payment_sync_from_mercadopago(mercadopago_payment_id=payment.mercadopago_payment_id)
        assert fake.deps.payments.get(payment.payment_id).status == PaymentStatus.APPROVED

    def test_asked_again_after_the_customer_paid_it_answers_approved(self, fake, approved_budget):
        """The saga asks again while it waits for the payment: a PaymentApproved lost on the way
        is answered again, not the old PaymentRequested."""
        message, payment = request(approved_budget)
        fake.mercadopago.set_status(payment.mercadopago_payment_id, "approved")
        services.payment_sync_from_mercadopago(mercadopago_payment_id=payment.mercadopago_payment_id)
        handlers.request_payment(message)
        first, again = fake.published("billing.PaymentApproved")
        assert again.payload == first.payload and again.payload["status"] == "APPROVED"
        assert len(fake.published("billing.PaymentRequested")) == 1
        assert len(fake.mercadopago.payments) == 1

    def test_a_refused_request_is_answered_again_as_failed(self, fake, approved_budget):
        fake.mercadopago.fail_next = MercadoPagoRefused("Mercado Pago answered 400: bad", status=400)
        message, _ = request(approved_budget)
        handlers.request_payment(message)
        first, again = fake.published("billing.PaymentFailed")
        assert again.message_id == first.message_id and again.payload["status"] == "REJECTED"
        assert fake.published("billing.PaymentRequested") == []

    def test_a_long_description_is_cut_to_mercado_pagos_limit(self, fake, approved_budget):
        command, budget = approved_budget
        message = factories.command(command, "billing.RequestPayment", {
            **factories.request_payment(command, budget.budget_id).payload, "description": "Troca de óleo " * 40})
        payment = handlers.request_payment(message)
        assert payment.requested_at is not None and len(payment.description) == 250
        assert len(fake.published("billing.PaymentRequested")) == 1

    def test_mercado_pago_unavailable_leaves_the_payment_pending_and_unrequested(self, fake, approved_budget):
        fake.mercadopago.fail_next = MercadoPagoUnavailable("Mercado Pago timed out.")
        with pytest.raises(MercadoPagoUnavailable):
            request(approved_budget)
        (payment,) = fake.deps.payments.items.values()
        assert payment.status == PaymentStatus.PENDING and payment.requested_at is None
        assert fake.published("billing.PaymentRequested") == []
        # The retry uses the same key and finishes the job.
        _, payment = request(approved_budget)
        assert payment.requested_at is not None
        assert {key for _, key in fake.mercadopago.calls} == {f"payment-{payment.payment_id}"}

    def test_mercado_pago_refusing_fails_the_payment_with_the_reason(self, fake, approved_budget):
        fake.mercadopago.fail_next = MercadoPagoRefused("Mercado Pago answered 400: payer.email invalid",
                                                        status=400)
        _, payment = request(approved_budget)
        assert payment.status == PaymentStatus.REJECTED
        (failed,) = fake.published("billing.PaymentFailed")
        assert "payer.email invalid" in failed.payload["reason"]
        assert failed.payload["status"] == "REJECTED"

    def test_no_payment_for_a_budget_not_approved(self, fake):
        command = factories.create_budget()
        budget = handlers.create_budget(command)
        with pytest.raises(InvalidTransition, match="has not approved"):
            handlers.request_payment(factories.request_payment(command, budget.budget_id))
        assert fake.deps.payments.items == {} and fake.mercadopago.calls == []

    def test_unknown_budget_or_bad_payload(self, fake, approved_budget):
        command, budget = approved_budget
        with pytest.raises(NotFound):
            handlers.request_payment(factories.request_payment(command, budget.budget_id, version=2))
        with pytest.raises(ValidationFailed, match="method"):
            handlers.request_payment(factories.request_payment(command, budget.budget_id, method="cash"))
        with pytest.raises(ValidationFailed, match="amount_cents"):
            handlers.request_payment(factories.request_payment(command, budget.budget_id, amount_cents=0))
        assert fake.deps.payments.items == {}


class TestMercadoPagoNews:
    def test_approved_once_however_often_told(self, fake, approved_budget):
        _, payment = request(approved_budget)
        fake.mercadopago.set_status(payment.mercadopago_payment_id, "approved")
        for _ in range(5):
            services.payment_sync_from_mercadopago(mercadopago_payment_id=payment.mercadopago_payment_id)
        (approved,) = fake.published("billing.PaymentApproved")
        assert approved.payload["status"] == "APPROVED"
        assert fake.deps.payments.get(payment.payment_id).status == PaymentStatus.APPROVED

    def test_an_unknown_mercado_pago_payment(self, fake):
        with pytest.raises(MercadoPagoNotFound):
            services.payment_sync_from_mercadopago(mercadopago_payment_id="404")
        assert fake.published() == []

    def test_a_payment_of_someone_else_is_ignored(self, fake):
        stray = fake.mercadopago.create_pix_payment(
            idempotency_key="k", amount_cents=100, description="", payer_email="a@b.c",
            external_reference="not-ours", notification_url="")
        assert services.payment_sync_from_mercadopago(mercadopago_payment_id=stray.id) is None
        assert fake.published() == []

    def test_checkout_found_by_external_reference(self, fake, approved_budget):
        _, payment = request(approved_budget, method="checkout")
        failed_try = fake.mercadopago.pay_checkout(payment.preference_id, "rejected")
        services.payment_sync_from_mercadopago(mercadopago_payment_id=failed_try.id)
        assert fake.deps.payments.get(payment.payment_id).status == PaymentStatus.PENDING
        paid = fake.mercadopago.pay_checkout(payment.preference_id, "approved")
        services.payment_sync_from_mercadopago(mercadopago_payment_id=paid.id)
        stored = fake.deps.payments.get(payment.payment_id)
        assert stored.status == PaymentStatus.APPROVED and stored.mercadopago_payment_id == paid.id
        assert fake.published("billing.PaymentFailed") == []

    def test_money_arriving_after_we_gave_up_is_given_back(self, fake, approved_budget):
        command, _ = approved_budget
        _, payment = request(approved_budget, method="checkout")
        handlers.cancel_payment(factories.command(command, "billing.CancelPayment",
                                                          {"payment_id": payment.payment_id, "reason": "x"}))
        late = fake.mercadopago.pay_checkout(payment.preference_id, "approved")
        services.payment_sync_from_mercadopago(mercadopago_payment_id=late.id)
        assert fake.mercadopago.payments[late.id].status == "refunded"
        assert fake.deps.payments.get(payment.payment_id).status == PaymentStatus.CANCELLED
        assert fake.published("billing.PaymentApproved") == []


class TestNewsOnTheCopy:
    """Mercado Pago's news of a payment this worker asked it for is applied on the copy it wrote,
    unread; every guarantee the read gave still holds (dependencies.RecentPayments)."""

    def reads(self, fake, monkeypatch) -> list[str]:
        reads: list[str] = []
        for name in ("get", "find_by_mercadopago_id"):
            original = getattr(fake.deps.payments, name)
            monkeypatch.setattr(fake.deps.payments, name,
                                lambda key, original=original, name=name: reads.append(name) or original(key))
        return reads

    @pytest.mark.parametrize("copies, expected", [(2048, []), (0, ["get"])])
    def test_the_approval_of_a_payment_this_worker_asked_for_reads_nothing(self, fake, approved_budget, monkeypatch,
                                                                           copies, expected):
        fake.deps.recent_payments = RecentPayments(size=copies)
        _, payment = request(approved_budget)
        reads = self.reads(fake, monkeypatch)
        fake.mercadopago.set_status(payment.mercadopago_payment_id, "approved")
        services.payment_sync_from_mercadopago(mercadopago_payment_id=payment.mercadopago_payment_id)
        assert reads == expected
        (approved,) = fake.published("billing.PaymentApproved")
        assert approved.payload["status"] == "APPROVED"
        assert fake.deps.payments.get(payment.payment_id).status == PaymentStatus.APPROVED
        told = len(reads)
        services.payment_sync_from_mercadopago(mercadopago_payment_id=payment.mercadopago_payment_id)  # told again
        assert reads[told:] == ["get"]  # nothing to change on the copy: decided on the payment as read
        assert len(fake.published("billing.PaymentApproved")) == 1

    def test_a_copy_gone_stale_fails_its_write_and_the_money_goes_back(self, fake, approved_budget, monkeypatch):
        command, _ = approved_budget
        _, payment = request(approved_budget, method="checkout")  # the copy: PENDING
        elsewhere = fake.deps.recent_payments
        fake.deps.recent_payments = RecentPayments()  # the cancellation, in another process
        handlers.cancel_payment(factories.command(command, "billing.CancelPayment",
                                                  {"payment_id": payment.payment_id, "reason": "x"}))
        fake.deps.recent_payments = elsewhere
        reads = self.reads(fake, monkeypatch)
        late = fake.mercadopago.pay_checkout(payment.preference_id, "approved")
        services.payment_sync_from_mercadopago(mercadopago_payment_id=late.id)
        assert reads == ["get"]  # the approval written on the PENDING copy failed its condition
        assert fake.mercadopago.payments[late.id].status == "refunded"
        assert fake.deps.payments.get(payment.payment_id).status == PaymentStatus.CANCELLED
        assert fake.published("billing.PaymentApproved") == []
        assert fake.deps.recent_payments.get(payment.payment_id) is None

    def test_money_to_give_back_is_never_decided_on_a_copy(self, fake, approved_budget, monkeypatch):
        payment, first, second = TestPaidTwice().paid_twice(fake, approved_budget)
        assert fake.deps.recent_payments.get(payment.payment_id).status == PaymentStatus.APPROVED
        reads = self.reads(fake, monkeypatch)
        services.payment_sync_from_mercadopago(mercadopago_payment_id=second.id)
        assert reads == ["get"]
        assert fake.mercadopago.payments[second.id].status == "refunded"


class TestPaidTwice:
    """Checkout Pro lets a customer pay one preference twice: the second payment goes back, once."""

    def paid_twice(self, fake, approved_budget):
        _, payment = request(approved_budget, method="checkout")
        first = fake.mercadopago.pay_checkout(payment.preference_id, "approved")
        services.payment_sync_from_mercadopago(mercadopago_payment_id=first.id)
        return payment, first, fake.mercadopago.pay_checkout(payment.preference_id, "approved")

    def test_the_second_payment_is_refunded_and_the_saga_told_once(self, fake, approved_budget):
        payment, first, second = self.paid_twice(fake, approved_budget)
        for _ in range(3):  # Mercado Pago's notification of the second payment, repeated
            services.payment_sync_from_mercadopago(mercadopago_payment_id=second.id)
        assert fake.mercadopago.payments[second.id].status == "refunded"
        assert fake.mercadopago.payments[first.id].status == "approved"
        assert list(fake.mercadopago.refunds) == [f"refund-stray-{second.id}"]
        stored = fake.deps.payments.get(payment.payment_id)
        assert (stored.status, stored.mercadopago_payment_id) == (PaymentStatus.APPROVED, first.id)
        (refunded,) = fake.published("billing.PaymentRefunded")
        assert refunded.payload == {"payment_id": payment.payment_id, "mercadopago_payment_id": second.id,
                                    "amount_cents": 12200, "status": "REFUNDED", "duplicate": True,
                                    "reason": "second payment for the same order"}
        assert refunded.message_id == str(uuid.uuid5(ID_NAMESPACE, f"mercadopago:{second.id}:billing.PaymentRefunded"))
        assert len(fake.published("billing.PaymentApproved")) == 1
        # News of the first payment, or of the second's refund, changes nothing more.
        services.payment_sync_from_mercadopago(mercadopago_payment_id=first.id)
        services.payment_sync_from_mercadopago(mercadopago_payment_id=second.id)
        assert len(fake.published()) == len(set(e.message_id for e in fake.published()))
        assert fake.deps.payments.get(payment.payment_id).status == PaymentStatus.APPROVED

    def test_a_refund_made_before_a_crash_is_told_without_refunding_again(self, fake, approved_budget):
        payment, _, second = self.paid_twice(fake, approved_budget)
        fake.mercadopago.refund_payment(second.id, idempotency_key=f"refund-stray-{second.id}")  # then the crash
        services.payment_sync_from_mercadopago(mercadopago_payment_id=second.id)
        services.payment_sync_from_mercadopago(mercadopago_payment_id=second.id)
        assert len(fake.mercadopago.refunds) == 1
        (refunded,) = fake.published("billing.PaymentRefunded")
        assert refunded.payload["duplicate"] is True and refunded.payload["mercadopago_payment_id"] == second.id

    def test_a_second_payment_after_a_refund_of_the_first_is_given_back_too(self, fake, approved_budget):
        command, _ = approved_budget
        payment, first, second = self.paid_twice(fake, approved_budget)
        handlers.refund_payment(factories.command(command, "billing.RefundPayment",
                                                          {"payment_id": payment.payment_id}))
        services.payment_sync_from_mercadopago(mercadopago_payment_id=second.id)
        assert fake.mercadopago.payments[second.id].status == "refunded"
        assert fake.mercadopago.payments[first.id].status == "refunded"
        assert [e.payload.get("duplicate", False) for e in fake.published("billing.PaymentRefunded")] == [False, True]

    def test_reconciliation_finds_both_payments(self, fake, approved_budget):
        _, payment = request(approved_budget, method="checkout")
        fake.mercadopago.pay_checkout(payment.preference_id, "approved")
        fake.mercadopago.pay_checkout(payment.preference_id, "approved")
        fake.clock.advance(seconds=300)
        services.payments_reconcile()
        assert sorted(p.status for p in fake.mercadopago.payments.values()) == ["approved", "refunded"]
        assert fake.deps.payments.get(payment.payment_id).status == PaymentStatus.APPROVED
        assert len(fake.published("billing.PaymentApproved")) == 1
        assert [e.payload["duplicate"] for e in fake.published("billing.PaymentRefunded")] == [True]


class TestCompensations:
    def cancel(self, approved_budget, payment, kind="billing.CancelPayment"):
        command, _ = approved_budget
        return handlers.cancel_payment(factories.command(
            command, kind, {"payment_id": payment.payment_id, "reason": "saga compensating"}))

    def test_cancel_a_pending_pix(self, fake, approved_budget):
        _, payment = request(approved_budget)
        cancelled = self.cancel(approved_budget, payment)
        assert cancelled.status == PaymentStatus.CANCELLED
        assert fake.mercadopago.payments[payment.mercadopago_payment_id].status == "cancelled"
        assert ("cancel_payment", f"cancel-{payment.payment_id}") in fake.mercadopago.calls
        assert [e.payload for e in fake.published("billing.PaymentCancelled")] == [{"payment_id": payment.payment_id}]
        assert fake.published("billing.PaymentFailed") == []

    def test_cancel_an_approved_payment_refunds_it(self, fake, approved_budget):
        _, payment = request(approved_budget)
        fake.mercadopago.set_status(payment.mercadopago_payment_id, "approved")
        services.payment_sync_from_mercadopago(mercadopago_payment_id=payment.mercadopago_payment_id)
        refunded = self.cancel(approved_budget, payment)
        assert refunded.status == PaymentStatus.REFUNDED
        assert ("refund_payment", f"refund-{payment.payment_id}") in fake.mercadopago.calls
        (event,) = fake.published("billing.PaymentRefunded")
        assert event.payload == {"payment_id": payment.payment_id,
                                 "mercadopago_payment_id": payment.mercadopago_payment_id, "amount_cents": 12200}

    def test_cancel_when_the_customer_paid_just_before(self, fake, approved_budget):
        _, payment = request(approved_budget)
        fake.mercadopago.set_status(payment.mercadopago_payment_id, "approved")  # we have not heard yet
        undone = self.cancel(approved_budget, payment)
        assert undone.status == PaymentStatus.REFUNDED
        assert [e.type for e in fake.published() if e.type.startswith("billing.Payment")] == [
            "billing.PaymentRequested", "billing.PaymentApproved", "billing.PaymentRefunded"]

    def test_refund_twice_refunds_once_and_answers_twice(self, fake, approved_budget):
        command, _ = approved_budget
        _, payment = request(approved_budget)
        fake.mercadopago.set_status(payment.mercadopago_payment_id, "approved")
        services.payment_sync_from_mercadopago(mercadopago_payment_id=payment.mercadopago_payment_id)
        refund = factories.command(command, "billing.RefundPayment", {"payment_id": payment.payment_id})
        handlers.refund_payment(refund)
        handlers.refund_payment(refund)
        assert len(fake.mercadopago.refunds) == 1
        first, again = fake.published("billing.PaymentRefunded")
        assert again.message_id == first.message_id

    def test_refund_of_a_pending_payment_cancels_it(self, fake, approved_budget):
        command, _ = approved_budget
        _, payment = request(approved_budget)
        result = handlers.refund_payment(factories.command(
            command, "billing.RefundPayment", {"payment_id": payment.payment_id}))
        assert result.status == PaymentStatus.CANCELLED
        again = handlers.refund_payment(factories.command(
            command, "billing.RefundPayment", {"payment_id": payment.payment_id}))
        assert again.status == PaymentStatus.CANCELLED
        assert len(fake.published("billing.PaymentCancelled")) == 2

    def test_cancel_a_checkout_nobody_paid(self, fake, approved_budget):
        _, payment = request(approved_budget, method="checkout")
        assert self.cancel(approved_budget, payment).status == PaymentStatus.CANCELLED

    def test_cancel_a_checkout_already_paid_refunds(self, fake, approved_budget):
        _, payment = request(approved_budget, method="checkout")
        fake.mercadopago.pay_checkout(payment.preference_id, "approved")
        assert self.cancel(approved_budget, payment).status == PaymentStatus.REFUNDED

    def test_a_long_reason_still_cancels_and_refunds(self, fake, approved_budget):
        command, _ = approved_budget
        _, payment = request(approved_budget)
        fake.mercadopago.set_status(payment.mercadopago_payment_id, "approved")
        services.payment_sync_from_mercadopago(mercadopago_payment_id=payment.mercadopago_payment_id)
        refunded = handlers.refund_payment(factories.command(
            command, "billing.RefundPayment", {"payment_id": payment.payment_id, "reason": LONG_REASON}))
        assert refunded.status == PaymentStatus.REFUNDED
        assert fake.mercadopago.payments[payment.mercadopago_payment_id].status == "refunded"
        assert len(fake.published("billing.PaymentRefunded")) == 1

    def test_a_long_reason_still_cancels_a_pending_payment(self, fake, approved_budget):
        command, _ = approved_budget
        _, payment = request(approved_budget)
        cancelled = handlers.cancel_payment(factories.command(
            command, "billing.CancelPayment", {"payment_id": payment.payment_id, "reason": LONG_REASON}))
        assert cancelled.status == PaymentStatus.CANCELLED
        assert len(cancelled.cancel_reason) == TEXT_LIMIT and cancelled.cancel_reason.endswith("…")
        assert fake.mercadopago.payments[payment.mercadopago_payment_id].status == "cancelled"

    def test_unknown_payment(self, fake, approved_budget):
        command, _ = approved_budget
        with pytest.raises(NotFound):
            handlers.cancel_payment(factories.command(command, "billing.CancelPayment", {"payment_id": "x"}))


class TestBlindCancel:
    """The saga gave up waiting for RequestPayment's reply: it names the budget version, not the payment."""

    def cancel(self, approved_budget, kind="billing.CancelPayment"):
        command, budget = approved_budget
        message = factories.command(command, kind, {"budget_id": budget.budget_id, "version": 1, "reason": "gave up"})
        return message, handlers.cancel_payment(message)

    def test_a_payment_not_yet_requested_is_recorded_cancelled_and_never_charged(self, fake, approved_budget):
        command, budget = approved_budget
        message, cancelled = self.cancel(approved_budget)
        payment_id = payment_id_for(command.saga_id, budget.budget_id, 1)
        assert (cancelled.payment_id, cancelled.status) == (payment_id, PaymentStatus.CANCELLED)
        (reply,) = fake.published("billing.PaymentCancelled")
        assert reply.payload == {"payment_id": payment_id}
        # The RequestPayment that was on its way arrives: nobody is charged, the saga hears why.
        _, payment = request(approved_budget)
        assert payment.status == PaymentStatus.CANCELLED and fake.mercadopago.calls == []
        (failed,) = fake.published("billing.PaymentFailed")
        assert failed.payload["payment_id"] == payment_id
        assert failed.payload["reason"] == "cancelled before it was requested"
        assert fake.published("billing.PaymentRequested") == []
        # The cancellation again: the same answer, the same id.
        handlers.cancel_payment(message)
        assert fake.published("billing.PaymentCancelled")[-1].message_id == reply.message_id
        assert len(fake.deps.payments.items) == 1

    def test_a_pending_payment_is_cancelled_at_mercado_pago(self, fake, approved_budget):
        _, payment = request(approved_budget)
        _, cancelled = self.cancel(approved_budget)
        assert cancelled.payment_id == payment.payment_id and cancelled.status == PaymentStatus.CANCELLED
        assert fake.mercadopago.payments[payment.mercadopago_payment_id].status == "cancelled"

    def test_an_approved_payment_is_refunded(self, fake, approved_budget):
        _, payment = request(approved_budget)
        fake.mercadopago.set_status(payment.mercadopago_payment_id, "approved")
        services.payment_sync_from_mercadopago(mercadopago_payment_id=payment.mercadopago_payment_id)
        _, refunded = self.cancel(approved_budget, kind="billing.RefundPayment")
        assert refunded.status == PaymentStatus.REFUNDED and len(fake.mercadopago.refunds) == 1

    def test_an_unknown_budget_version(self, fake, approved_budget):
        command, budget = approved_budget
        with pytest.raises(NotFound, match="version 2"):
            handlers.cancel_payment(factories.command(command, "billing.CancelPayment",
                                                              {"budget_id": budget.budget_id, "version": 2}))
        with pytest.raises(ValidationFailed, match="version"):
            handlers.cancel_payment(factories.command(command, "billing.CancelPayment",
                                                              {"budget_id": budget.budget_id}))
        assert fake.deps.payments.items == {}

    def test_a_request_retried_after_its_payment_was_cancelled_charges_nobody(self, fake, approved_budget):
        command, _ = approved_budget
        fake.mercadopago.fail_next = MercadoPagoUnavailable("Mercado Pago timed out.")
        with pytest.raises(MercadoPagoUnavailable):
            request(approved_budget)
        (payment,) = fake.deps.payments.items.values()
        handlers.cancel_payment(factories.command(command, "billing.CancelPayment",
                                                          {"payment_id": payment.payment_id}))
        _, retried = request(approved_budget)
        assert retried.status == PaymentStatus.CANCELLED
        assert [call for call, _ in fake.mercadopago.calls] == ["create_pix_payment"]  # only the failed try
        (failed,) = fake.published("billing.PaymentFailed")
        assert failed.payload["reason"] == "cancelled before it was requested"


class TestReconciliation:
    def test_pending_payments_whose_webhook_never_came(self, fake, approved_budget, settings):
        settings.PAYMENT_RECONCILE_AFTER_SECONDS = 120
        _, payment = request(approved_budget)
        fake.mercadopago.set_status(payment.mercadopago_payment_id, "approved")
        assert services.payments_reconcile() == 0  # too young
        fake.clock.advance(seconds=121)
        assert services.payments_reconcile() == 1
        assert fake.deps.payments.get(payment.payment_id).status == PaymentStatus.APPROVED
        assert services.payments_reconcile() == 0
        assert len(fake.published("billing.PaymentApproved")) == 1

    def test_a_payment_never_created_at_mercado_pago_is_requested_again(self, fake, approved_budget):
        fake.mercadopago.fail_next = MercadoPagoUnavailable("down")
        with pytest.raises(MercadoPagoUnavailable):
            request(approved_budget)
        fake.clock.advance(seconds=300)
        assert services.payments_reconcile() == 1
        (payment,) = fake.deps.payments.items.values()
        assert payment.requested_at is not None and payment.mercadopago_payment_id
        assert len(fake.published("billing.PaymentRequested")) == 1

    def test_checkout_paid_without_a_webhook(self, fake, approved_budget):
        _, payment = request(approved_budget, method="checkout")
        fake.mercadopago.pay_checkout(payment.preference_id, "rejected")
        paid = fake.mercadopago.pay_checkout(payment.preference_id, "approved")
        fake.clock.advance(seconds=300)
        services.payments_reconcile()
        stored = fake.deps.payments.get(payment.payment_id)
        assert stored.status == PaymentStatus.APPROVED and stored.mercadopago_payment_id == paid.id

    @staticmethod
    def pending_payments(fake, count):
        """``count`` Pix payments Mercado Pago keeps pending, requested a second apart."""
        payments = []
        for _ in range(count):
            command = factories.create_budget()
            budget = handlers.create_budget(command)
            services.budget_decide(budget_id=budget.budget_id, version=1, decision="approve",
                                   actor=Actor.customer("42"))
            payments.append(handlers.request_payment(factories.request_payment(command, budget.budget_id)))
            fake.clock.advance(seconds=1)
        fake.clock.advance(seconds=300)
        return payments

    @staticmethod
    def run(fake, limit):
        """One run of the reconciliation: the Mercado Pago payments it asked about."""
        fake.mercadopago.calls.clear()
        services.payments_reconcile(limit=limit)
        return {key for call, key in fake.mercadopago.calls if call == "get_payment"}

    def test_stuck_payments_never_starve_the_others(self, fake):
        payments = self.pending_payments(fake, 5)
        runs = [self.run(fake, limit=2) for _ in range(3)]  # ceil(5 / 2)
        assert [len(run) for run in runs] == [2, 2, 1]
        assert set().union(*runs) == {p.mercadopago_payment_id for p in payments}
        assert self.run(fake, limit=2) == runs[0]  # the walk starts again from the oldest

    def test_a_walk_ending_on_a_full_page_starts_again_at_once(self, fake):
        payments = self.pending_payments(fake, 4)
        runs = [self.run(fake, limit=2) for _ in range(3)]
        assert set().union(*runs[:2]) == {p.mercadopago_payment_id for p in payments}
        assert runs[2] == runs[0]  # not an empty run

    def test_a_payment_settled_meanwhile_does_not_lose_the_place(self, fake):
        payments = self.pending_payments(fake, 5)
        first = self.run(fake, limit=2)
        for payment in payments[:2]:  # the page just looked at is paid and leaves the walk
            fake.mercadopago.set_status(payment.mercadopago_payment_id, "approved")
            services.payment_sync_from_mercadopago(mercadopago_payment_id=payment.mercadopago_payment_id)
        assert self.run(fake, limit=2) == {p.mercadopago_payment_id for p in payments[2:4]}
        assert first == {p.mercadopago_payment_id for p in payments[:2]}

    def test_mercado_pago_down_postpones_without_failing(self, fake, approved_budget):
        _, payment = request(approved_budget)
        fake.clock.advance(seconds=300)
        fake.mercadopago.fail_next = MercadoPagoUnavailable("down")
        assert services.payments_reconcile() == 0
        assert fake.deps.payments.get(payment.payment_id).status == PaymentStatus.PENDING
