import re
from dataclasses import replace
from datetime import timedelta

import pytest
from django.core import mail

from billing import handlers, selectors, services, tasks
from billing.domain import Actor, BudgetStatus, Decision, budget_id_for_saga, hash_approval_token
from billing.emails import brl
from billing.tests import factories
from oficina_common.errors import ConcurrencyConflict, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from oficina_common.messages import TEXT_LIMIT

LINK = re.compile(r"/budgets/review/([A-Za-z0-9_-]+)/")
LONG_REASON = "o cliente desistiu do conserto depois de muita conversa " * 15  # 840 characters


def link_token(message) -> str:
    return LINK.search(message.body).group(1)


class TestCreateBudget:
    def test_creates_version_1_and_replies_budget_created(self, fake):
        command = factories.create_budget()
        budget = handlers.create_budget(command)
        assert budget.budget_id == budget_id_for_saga(command.saga_id)
        assert (budget.version, budget.status, budget.total_cents) == (1, BudgetStatus.PENDING_APPROVAL, 12200)
        (created,) = fake.published()
        assert created.type == "billing.BudgetCreated"
        assert (created.saga_id, created.service_order_id) == (command.saga_id, command.service_order_id)
        assert created.payload == {"budget_id": budget.budget_id, "version": 1, "total_cents": 12200,
                                   "expires_at": created.payload["expires_at"], "revision": False}

    def test_expires_after_the_configured_hours(self, fake, settings):
        settings.BUDGET_APPROVAL_TTL_HOURS = 2
        budget = handlers.create_budget(factories.create_budget())
        assert budget.expires_at - budget.created_at == timedelta(hours=2)

    def test_a_redelivered_command_makes_no_second_budget(self, fake):
        command = factories.create_budget()
        first = handlers.create_budget(command)
        again = handlers.create_budget(command)
        assert again.budget_id == first.budget_id
        assert len(fake.deps.budgets.items) == 1
        # Answered again with the same message id: the saga takes one BudgetCreated.
        assert {(e.type, e.message_id) for e in fake.published()} == {("billing.BudgetCreated",
                                                                      fake.published()[0].message_id)}
        assert len(fake.published()) == 2
        assert len(mail.outbox) == 1

    def test_a_retried_step_for_the_same_saga_gets_its_answer_again(self, fake):
        command = factories.create_budget()
        handlers.create_budget(command)
        retry = factories.command(command, "billing.CreateBudget", command.payload)
        handlers.create_budget(retry)
        assert len(fake.deps.budgets.items) == 1
        replies = fake.published("billing.BudgetCreated")
        assert len(replies) == 2 and replies[0].payload == replies[1].payload

    def test_a_repeat_after_a_revision_is_answered_with_version_1(self, fake):
        command = factories.create_budget()
        budget = handlers.create_budget(command)
        services.budget_revise(budget_id=budget.budget_id, items=factories.EXTRA_ITEMS)
        handlers.create_budget(command)
        first, revision, again = fake.published("billing.BudgetCreated")
        assert again.message_id == first.message_id and again.payload == first.payload
        assert again.payload["version"] == 1 and revision.payload["version"] == 2
        assert len(fake.deps.budgets.versions(budget.budget_id)) == 2

    def test_a_create_racing_the_sagas_cancel_finds_it_and_opens_nothing(self, fake):
        """No read before the conditional create: its AlreadyExists tells a repeat apart."""
        command = factories.create_budget()
        handlers.cancel_budget(factories.command(command, "billing.CancelBudget", {}))
        budget = handlers.create_budget(command)
        assert budget.status == BudgetStatus.CANCELLED and budget.lines == ()
        assert [e.type for e in fake.published()] == ["billing.BudgetCancelled", "billing.BudgetCancelled"]
        assert mail.outbox == [] and fake.scheduled_emails == []

    def test_a_worker_lost_before_the_email_leaves_the_link_to_the_redeliverys_task(self, fake, monkeypatch):
        """The version is created claimed by the worker that sends its link. If that worker is lost
        before sending, the redelivery hands the link to the task, which is retried while the claim
        is fresh (its sender may still be at it), then takes the stale claim and sends it once."""
        class WorkerLost(BaseException):
            pass

        def lost(budget, *, claimed_at):
            raise WorkerLost

        command = factories.create_budget()
        monkeypatch.setattr(services, "_email_approval_link_now", lost)
        with pytest.raises(WorkerLost):
            handlers.create_budget(command)
        monkeypatch.undo()
        budget = handlers.create_budget(command)  # the broker delivers it again
        assert fake.scheduled_emails == [(budget.budget_id, 1)] and mail.outbox == []
        with pytest.raises(ConcurrencyConflict) as held:
            services.budget_send_approval_link(budget_id=budget.budget_id, version=1)
        assert tasks.is_transient(held.value)  # the task tries again later
        fake.clock.advance(seconds=services.LINK_CLAIM_STALE_AFTER.total_seconds() + 1)
        assert services.budget_send_approval_link(budget_id=budget.budget_id, version=1)
        assert not services.budget_send_approval_link(budget_id=budget.budget_id, version=1)
        assert len(mail.outbox) == 1
        first, again = fake.published("billing.BudgetCreated")
        assert first.message_id == again.message_id

    def test_a_redelivery_while_the_creator_sends_sends_nothing_twice(self, fake):
        command = factories.create_budget()
        budget = handlers.create_budget(command)
        fake.deps.budgets.items[(budget.budget_id, 1)] = replace(budget, link_sent_at=None)  # still sending
        handlers.create_budget(command)
        assert len(mail.outbox) == 1  # the redelivery's task found the link claimed

    def test_jobs_and_optional_parts_come_with_the_items(self, fake):
        items = [{**factories.ITEMS[0], "job": 2, "optional": True}, {**factories.ITEMS[1], "job": 2, "optional": True}]
        budget = handlers.create_budget(factories.create_budget(items=items))
        # A service marked optional is taken as required, never a reason to refuse the command.
        assert [(line.line_id, line.job, line.optional) for line in budget.lines] == [(1, 2, False), (2, 2, True)]
        services.budget_revise(budget_id=budget.budget_id, items=[{**factories.EXTRA_ITEMS[0], "job": 1}])
        revised = fake.deps.budgets.latest(budget.budget_id)
        assert [(line.line_id, line.job) for line in revised.additional_lines] == [(3, 3)]

    def test_bad_items_are_refused(self, fake):
        with pytest.raises(ValidationFailed, match="items"):
            handlers.create_budget(factories.create_budget(items=[]))
        assert fake.published() == []

    @pytest.mark.parametrize("change, field", [
        ({"description": " "}, "description"),
        ({"quantity": 10_001}, "quantity"),
        ({"unit_price_cents": 100_000_001}, "unit_price_cents"),
        ({"job": 101}, "job"),
        ({"quantity": "2"}, "quantity"),
    ])
    def test_billing_holds_the_lines_of_a_command_to_its_own_rules(self, fake, change, field):
        """Stricter than the item line's contract: a line Billing cannot put in a budget is refused."""
        with pytest.raises(ValidationFailed, match=rf"items\[0\]\.{field}"):
            handlers.create_budget(factories.create_budget(items=[{**factories.ITEMS[0], **change}]))
        assert fake.published() == []

    def test_a_line_without_its_price_is_refused(self, fake):
        unpriced = {key: value for key, value in factories.ITEMS[0].items() if key != "unit_price_cents"}
        with pytest.raises(ValidationFailed, match=r"items\[0\]\.unit_price_cents"):
            handlers.create_budget(factories.create_budget(items=[unpriced]))

    def test_a_long_line_description_is_cut_not_refused(self, fake):
        long_name = {**factories.ITEMS[0], "description": "ó" * 400}
        budget = handlers.create_budget(factories.create_budget(items=[long_name]))
        assert len(budget.lines[0].description) == 300

    def test_the_customer_gets_an_email_with_a_single_use_link(self, fake, settings):
        settings.PUBLIC_BASE_URL = "https://oficina.example"
        budget = handlers.create_budget(factories.create_budget())
        (message,) = mail.outbox
        assert message.to == [factories.CUSTOMER_EMAIL]
        assert "OS-2024-0042" in message.subject
        assert "R$ 122,00" in message.body and "Troca de óleo" in message.body
        assert "https://oficina.example/budgets/review/" in message.body
        token = link_token(message)
        assert len(token) >= 43
        # Only the hash is kept, bound to the version.
        (stored,) = fake.deps.approval_tokens.items.values()
        assert stored.token_hash == hash_approval_token(token) != token
        assert (stored.budget_id, stored.version, stored.expires_at) == (budget.budget_id, 1, budget.expires_at)
        assert token not in repr(fake.deps.approval_tokens.items)

    def test_no_second_email_once_the_link_was_sent(self, fake):
        budget = handlers.create_budget(factories.create_budget())
        assert not services.budget_send_approval_link(budget_id=budget.budget_id, version=1)
        assert len(mail.outbox) == 1

    def test_no_email_without_an_address_or_for_an_unknown_budget(self, fake):
        handlers.create_budget(factories.create_budget(customer_email=""))
        assert mail.outbox == []
        assert not services.budget_send_approval_link(budget_id="nope", version=1)


class TestDecide:
    def test_customer_approves_with_the_emailed_link_once(self, fake):
        budget = handlers.create_budget(factories.create_budget())
        token = link_token(mail.outbox[0])
        outcome = services.budget_decide(budget_id=budget.budget_id, version=1, decision="approve",
                                         actor=Actor.approval_link(token))
        assert outcome.changed and outcome.budget.status == BudgetStatus.APPROVED
        (approved,) = fake.published("billing.BudgetApproved")
        payload = dict(approved.payload)
        assert f"/budgets/{budget.budget_id}/v1/payment/?t=" in payload.pop("payment_url")
        assert payload == {"budget_id": budget.budget_id, "version": 1, "total_cents": 12200,
                           "decided_by": "customer", "lines": factories.as_lines(factories.ITEMS, status="APPROVED"),
                           "declined_total_cents": 0}
        # A double click is a no-op; the link cannot be turned into a rejection.
        assert not services.budget_decide(budget_id=budget.budget_id, version=1, decision="approve",
                                          actor=Actor.approval_link(token)).changed
        with pytest.raises(InvalidTransition, match="already used to approve"):
            services.budget_decide(budget_id=budget.budget_id, version=1, decision="reject",
                                   actor=Actor.approval_link(token))
        assert len(fake.published("billing.BudgetApproved")) == 1

    def test_a_wrong_or_expired_link_finds_nothing(self, fake):
        budget = handlers.create_budget(factories.create_budget())
        token = link_token(mail.outbox[0])
        with pytest.raises(NotFound):
            services.budget_decide(budget_id=budget.budget_id, version=1, decision="approve",
                                   actor=Actor.approval_link("forged-token"))
        other = handlers.create_budget(factories.create_budget())
        with pytest.raises(NotFound):
            services.budget_decide(budget_id=other.budget_id, version=1, decision="approve",
                                   actor=Actor.approval_link(token))
        fake.clock.advance(hours=73)
        with pytest.raises(NotFound, match="expired"):
            services.budget_decide(budget_id=budget.budget_id, version=1, decision="approve",
                                   actor=Actor.approval_link(token))
        assert fake.published("billing.BudgetApproved") == []

    def test_the_customer_may_decide_only_their_own_budget(self, fake):
        budget = handlers.create_budget(factories.create_budget(customer_id="42"))
        with pytest.raises(NotFound):
            services.budget_decide(budget_id=budget.budget_id, version=1, decision="approve",
                                   actor=Actor.customer("43"))
        outcome = services.budget_decide(budget_id=budget.budget_id, version=1, decision="reject",
                                         actor=Actor.customer("42"), reason="caro")
        assert outcome.budget.status == BudgetStatus.REJECTED
        (rejected,) = fake.published("billing.BudgetRejected")
        assert rejected.payload["reason"] == "caro"

    @pytest.mark.parametrize("role", ["attendant", "admin"])
    def test_staff_decisions_record_who_and_why(self, fake, role):
        budget = handlers.create_budget(factories.create_budget())
        outcome = services.budget_decide(budget_id=budget.budget_id, version=1, decision=Decision.REJECT,
                                         actor=Actor.staff("ana", role), reason="cliente desistiu por telefone")
        assert outcome.budget.decided_by == f"{role}:ana"
        assert outcome.budget.decision_reason == "cliente desistiu por telefone"
        (rejected,) = fake.published("billing.BudgetRejected")
        assert rejected.payload["decided_by"] == f"{role}:ana"
        assert rejected.payload["reason"] == "cliente desistiu por telefone"

    @pytest.mark.parametrize("decision", ["approve", "reject"])
    def test_a_mechanic_decides_nothing(self, fake, decision):
        budget = handlers.create_budget(factories.create_budget())
        with pytest.raises(PermissionDenied, match="Only the customer, an attendant or an admin"):
            services.budget_decide(budget_id=budget.budget_id, version=1, decision=decision,
                                   actor=Actor.staff("mario", "mechanic"), reason="eu mesmo aprovo")
        assert fake.deps.budgets.get(budget.budget_id, 1).status == BudgetStatus.PENDING_APPROVAL
        assert fake.published("billing.BudgetApproved") == fake.published("billing.BudgetRejected") == []

    @pytest.mark.parametrize("decision", ["approve", "reject"])
    def test_staff_must_say_why(self, fake, decision):
        budget = handlers.create_budget(factories.create_budget())
        with pytest.raises(ValidationFailed, match="reason") as refused:
            services.budget_decide(budget_id=budget.budget_id, version=1, decision=decision,
                                   actor=factories.ATTENDANT, reason="  ")
        assert refused.value.code == "reason_required"
        assert fake.deps.budgets.get(budget.budget_id, 1).status == BudgetStatus.PENDING_APPROVAL

    def test_the_customer_needs_no_reason_to_approve(self, fake):
        budget = handlers.create_budget(factories.create_budget())
        outcome = services.budget_decide(budget_id=budget.budget_id, version=1, decision="approve",
                                         actor=Actor.customer(factories.CUSTOMER_ID))
        assert outcome.budget.decided_by == "customer" and outcome.budget.decision_reason == ""

    def test_unknown_decisions_and_versions(self, fake):
        budget = handlers.create_budget(factories.create_budget())
        with pytest.raises(ValidationFailed):
            services.budget_decide(budget_id=budget.budget_id, version=1, decision="maybe",
                                   actor=factories.ATTENDANT, reason=factories.STAFF_REASON)
        with pytest.raises(NotFound):
            services.budget_decide(budget_id=budget.budget_id, version=9, decision="approve",
                                   actor=factories.ATTENDANT, reason=factories.STAFF_REASON)

    def test_a_decision_on_a_stale_version_names_the_latest_from_its_one_read(self, fake):
        budget = handlers.create_budget(factories.create_budget())
        services.budget_revise(budget_id=budget.budget_id, items=factories.EXTRA_ITEMS)
        services.budget_revise(budget_id=budget.budget_id, items=factories.EXTRA_ITEMS)
        with pytest.raises(InvalidTransition) as stale:
            services.budget_decide(budget_id=budget.budget_id, version=2, decision="approve",
                                   actor=Actor.customer("42"))
        assert stale.value.code == "stale_version" and stale.value.extra == {"version": 2, "latest_version": 3}
        outcome = services.budget_decide(budget_id=budget.budget_id, version=3, decision="approve",
                                         actor=Actor.customer("42"))
        assert outcome.changed and outcome.budget.status == BudgetStatus.APPROVED

    def test_a_link_for_version_1_cannot_decide_version_2(self, fake):
        command = factories.create_budget()
        budget = handlers.create_budget(command)
        token = link_token(mail.outbox[0])
        services.budget_revise(budget_id=budget.budget_id, items=factories.EXTRA_ITEMS)
        with pytest.raises(InvalidTransition, match="for version 1"):
            services.budget_decide(budget_id=budget.budget_id, version=2, decision="approve",
                                   actor=Actor.approval_link(token))
        with pytest.raises(InvalidTransition, match="stale"):
            services.budget_decide(budget_id=budget.budget_id, version=1, decision="approve",
                                   actor=Actor.approval_link(token))

    def test_the_review_page_finds_the_budget_of_a_link(self, fake):
        budget = handlers.create_budget(factories.create_budget())
        token = link_token(mail.outbox[0])
        assert selectors.approval_link_view(token).budget.budget_id == budget.budget_id
        assert selectors.approval_link_view("nope").state == selectors.LinkState.UNKNOWN


class TestRevise:
    def test_revision_supersedes_the_previous_version_and_emails_a_new_link(self, fake):
        command = factories.create_budget()
        budget = handlers.create_budget(command)
        services.budget_decide(budget_id=budget.budget_id, version=1, decision="approve",
                               actor=factories.ATTENDANT, reason=factories.STAFF_REASON)
        revise = factories.command(command, "billing.ReviseBudget",
                                   {"budget_id": budget.budget_id, "items": factories.EXTRA_ITEMS, "reason": "freio"})
        revised = services.budget_revise(budget_id=budget.budget_id, items=factories.EXTRA_ITEMS, reason="freio",
                                         command=revise)
        assert revised.version == 2 and len(revised.lines) == 3
        assert fake.deps.budgets.get(budget.budget_id, 1).status == BudgetStatus.SUPERSEDED
        created = fake.published("billing.BudgetCreated")[-1]
        assert created.message_id != revise.message_id and created.saga_id == command.saga_id
        assert created.payload["revision"] is True
        assert created.payload["additional_total_cents"] == factories.EXTRA_TOTAL
        assert created.payload["items"] == factories.as_lines(factories.EXTRA_ITEMS, first_id=3, job_offset=1)
        assert created.payload["origin"] == "saga"
        assert len(mail.outbox) == 2 and "adicional" in mail.outbox[1].subject
        # The same command again changes nothing, and is answered again with the same message id.
        again = services.budget_revise(budget_id=budget.budget_id, items=factories.EXTRA_ITEMS, command=revise)
        assert again.version == 2 and len(fake.deps.budgets.versions(budget.budget_id)) == 2
        answer = fake.published("billing.BudgetCreated")[-1]
        assert answer.message_id == created.message_id and answer.payload == created.payload
        assert len(mail.outbox) == 2

    def test_a_staff_revision_reaches_the_saga_with_its_items(self, fake):
        command = factories.create_budget()
        budget = handlers.create_budget(command)
        services.budget_revise(budget_id=budget.budget_id, items=factories.EXTRA_ITEMS, reason="freio")
        created = fake.published("billing.BudgetCreated")[-1]
        assert created.saga_id == command.saga_id and created.payload["version"] == 2
        assert created.payload["origin"] == "staff"
        assert created.payload["items"] == factories.as_lines(factories.EXTRA_ITEMS, first_id=3, job_offset=1)
        assert created.payload["additional_total_cents"] == factories.EXTRA_TOTAL

    def test_a_repeat_after_a_staff_revision_makes_no_third_version(self, fake):
        command = factories.create_budget()
        budget = handlers.create_budget(command)
        revise = factories.command(command, "billing.ReviseBudget",
                                   {"budget_id": budget.budget_id, "items": factories.EXTRA_ITEMS})
        services.budget_revise(budget_id=budget.budget_id, items=factories.EXTRA_ITEMS, command=revise)
        services.budget_revise(budget_id=budget.budget_id, items=factories.ITEMS[:1])  # staff: version 3
        again = services.budget_revise(budget_id=budget.budget_id, items=factories.EXTRA_ITEMS, command=revise)
        assert again.version == 2
        assert [b.version for b in fake.deps.budgets.versions(budget.budget_id)] == [1, 2, 3]
        first, staff, answer = fake.published("billing.BudgetCreated")[1:]
        assert answer.message_id == first.message_id and answer.payload["version"] == 2

    def test_a_revision_for_another_saga_or_budget_finds_nothing(self, fake):
        command = factories.create_budget()
        budget = handlers.create_budget(command)
        stranger = factories.create_budget()
        with pytest.raises(NotFound):
            services.budget_revise(budget_id=budget.budget_id, items=factories.EXTRA_ITEMS,
                                   command=factories.command(stranger, "billing.ReviseBudget", {}))
        with pytest.raises(NotFound):
            services.budget_revise(budget_id="missing", items=factories.EXTRA_ITEMS)


class TestCancelAndExpire:
    def test_cancel_is_idempotent_and_always_answers(self, fake):
        command = factories.create_budget()
        budget = handlers.create_budget(command)
        cancel = factories.command(command, "billing.CancelBudget", {"budget_id": budget.budget_id, "reason": "x"})
        assert handlers.cancel_budget(cancel).status == BudgetStatus.CANCELLED
        assert handlers.cancel_budget(cancel).status == BudgetStatus.CANCELLED
        replies = fake.published("billing.BudgetCancelled")
        assert len(replies) == 2 and replies[0].message_id == replies[1].message_id
        assert replies[0].payload == {"budget_id": budget.budget_id, "version": 1, "status": "CANCELLED"}

    def test_cancel_of_an_unknown_budget(self, fake):
        command = factories.create_budget()
        with pytest.raises(NotFound):
            handlers.cancel_budget(factories.command(command, "billing.CancelBudget", {"budget_id": "x"}))

    def test_a_closed_budget_is_answered_with_its_status(self, fake):
        command = factories.create_budget()
        budget = handlers.create_budget(command)
        services.budget_decide(budget_id=budget.budget_id, version=1, decision="reject",
                               actor=factories.ATTENDANT, reason=factories.STAFF_REASON)
        handlers.cancel_budget(factories.command(command, "billing.CancelBudget",
                                                         {"budget_id": budget.budget_id}))
        (reply,) = fake.published("billing.BudgetCancelled")
        assert reply.payload == {"budget_id": budget.budget_id, "version": 1, "status": "REJECTED"}


class TestBlindCancel:
    """The saga gave up waiting for CreateBudget's reply: it cancels without knowing the budget."""

    def test_without_a_budget_id_the_sagas_budget_is_cancelled(self, fake):
        command = factories.create_budget()
        budget = handlers.create_budget(command)
        handlers.cancel_budget(factories.command(command, "billing.CancelBudget", {"reason": "gave up"}))
        assert fake.deps.budgets.get(budget.budget_id, 1).status == BudgetStatus.CANCELLED
        (reply,) = fake.published("billing.BudgetCancelled")
        assert reply.payload == {"budget_id": budget.budget_id, "version": 1, "status": "CANCELLED"}

    def test_before_the_budget_exists_it_is_answered_and_never_opened(self, fake):
        create = factories.create_budget()
        cancel = factories.command(create, "billing.CancelBudget", {"reason": "gave up"})
        handlers.cancel_budget(cancel)
        budget_id = budget_id_for_saga(create.saga_id)
        (reply,) = fake.published("billing.BudgetCancelled")
        assert reply.payload == {"budget_id": budget_id, "version": 1, "status": "CANCELLED"}
        # The CreateBudget that was on its way arrives: the customer is asked nothing.
        budget = handlers.create_budget(create)
        assert budget.status == BudgetStatus.CANCELLED and budget.lines == ()
        assert fake.published("billing.BudgetCreated") == [] and mail.outbox == []
        answer = fake.published("billing.BudgetCancelled")[-1]
        assert answer.payload == reply.payload and answer.message_id != reply.message_id
        with pytest.raises(InvalidTransition):
            services.budget_decide(budget_id=budget_id, version=1, decision="approve",
                                   actor=factories.ATTENDANT, reason=factories.STAFF_REASON)
        # The cancellation again: the same answer, the same id.
        handlers.cancel_budget(cancel)
        assert fake.published("billing.BudgetCancelled")[-1].message_id == reply.message_id
        assert len(fake.deps.budgets.versions(budget_id)) == 1

    def test_an_explicit_budget_id_of_another_budget_is_still_not_found(self, fake):
        command = factories.create_budget()
        with pytest.raises(NotFound):
            handlers.cancel_budget(factories.command(command, "billing.CancelBudget",
                                                             {"budget_id": budget_id_for_saga("another saga")}))
        assert fake.deps.budgets.items == {}

    def test_pending_versions_past_their_expiry_expire_once(self, fake):
        budget = handlers.create_budget(factories.create_budget())
        decided = handlers.create_budget(factories.create_budget())
        services.budget_decide(budget_id=decided.budget_id, version=1, decision="approve",
                               actor=factories.ATTENDANT, reason=factories.STAFF_REASON)
        assert services.budgets_expire() == 0
        fake.clock.advance(hours=72, seconds=1)
        assert services.budgets_expire() == 1
        assert services.budgets_expire() == 0
        (expired,) = fake.published("billing.BudgetExpired")
        assert expired.payload == {"budget_id": budget.budget_id, "version": 1}
        assert fake.deps.budgets.get(decided.budget_id, 1).status == BudgetStatus.APPROVED


class TestLongText:
    """Cosmetic fields are cut to what Billing keeps: a long text never stops a budget or its cancellation."""

    def test_a_long_cancel_reason_still_cancels(self, fake):
        command = factories.create_budget()
        budget = handlers.create_budget(command)
        cancel = factories.command(command, "billing.CancelBudget",
                                   {"budget_id": budget.budget_id, "reason": LONG_REASON})
        assert handlers.cancel_budget(cancel).status == BudgetStatus.CANCELLED
        stored = fake.deps.budgets.get(budget.budget_id, 1)
        assert len(stored.decision_reason) == TEXT_LIMIT and stored.decision_reason.endswith("…")
        assert len(fake.published("billing.BudgetCancelled")) == 1

    def test_long_names_and_descriptions_are_cut_and_an_overlong_link_left_out(self, fake):
        cause = factories.create_budget(items=[{**factories.ITEMS[0], "description": "Troca de óleo " * 40}])
        command = factories.command(cause, "billing.CreateBudget", {
            **cause.payload, "customer_name": "Maria " * 100, "order_number": "OS-" + "9" * 100,
            "tracking_url": "http://os.example/track/" + "A" * 1000})
        budget = handlers.create_budget(command)
        assert budget.status == BudgetStatus.PENDING_APPROVAL
        assert len(budget.customer_name) == TEXT_LIMIT
        assert len(budget.order_number) == 64
        assert len(budget.lines[0].description) == 300 and budget.lines[0].description.endswith("…")
        assert budget.tracking_url == ""  # a cut link would lead nowhere
        (message,) = mail.outbox
        assert message.subject.startswith("Seu orçamento da OS OS-999")
        assert len(fake.published("billing.BudgetCreated")) == 1

    def test_a_long_revision_reason_still_revises(self, fake):
        command = factories.create_budget()
        budget = handlers.create_budget(command)
        revise = factories.command(command, "billing.ReviseBudget",
                                   {"budget_id": budget.budget_id, "items": factories.EXTRA_ITEMS,
                                    "reason": LONG_REASON})
        revised = services.budget_revise(budget_id=budget.budget_id, items=factories.EXTRA_ITEMS,
                                         reason=LONG_REASON, command=revise)
        assert revised.version == 2 and len(revised.revision_reason) == TEXT_LIMIT

    def test_ids_are_still_refused_when_wrong(self, fake):
        command = factories.create_budget()
        handlers.create_budget(command)
        with pytest.raises(ValidationFailed, match="budget_id"):
            handlers.cancel_budget(factories.command(command, "billing.CancelBudget",
                                                             {"budget_id": "b" * 501, "reason": "x"}))


def test_brl_formatting():
    assert brl(12200) == "R$ 122,00"
    assert brl(123456789) == "R$ 1.234.567,89"
    assert brl(5) == "R$ 0,05"
    assert brl(-150) == "-R$ 1,50"
