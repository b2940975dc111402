"""Celery entry points run eagerly (``apply``) on a real DynamoDB endpoint: retries, drops, duplicates."""
import logging

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from billing import handlers, services, tasks
from billing.domain import PaymentStatus, budget_id_for_saga
from billing.mercadopago import MercadoPagoUnavailable
from billing.tests import factories
from oficina_common.errors import InvalidTransition, UpstreamUnavailable


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "Query")


@pytest.mark.parametrize("error, transient", [
    (UpstreamUnavailable("mp down"), True),
    (EndpointConnectionError(endpoint_url="http://x"), True),
    (client_error("ProvisionedThroughputExceededException"), True),
    (client_error("InternalServerError", 500), True),
    (ConnectionError("redis"), True),
    (client_error("ValidationException"), False),
    (InvalidTransition("no"), False),
    (ValueError("bug"), False),
])
def test_what_is_worth_retrying(error, transient):
    assert tasks.is_transient(error) is transient


def test_a_repeated_command_makes_one_budget_and_is_answered_again(real):
    command = factories.create_budget()
    assert tasks.handle_message.apply(args=[command.to_dict()]).get() == "handled"
    assert tasks.handle_message.apply(args=[command.to_dict()]).get() == "handled"
    (budget,) = real.deps.budgets.versions(budget_id_for_saga(command.saga_id))
    replies = real.published("billing.BudgetCreated")
    # The reply went out again, with the id the saga's inbox already knows: it is taken once.
    assert len(replies) == 2 and replies[0].message_id == replies[1].message_id
    assert replies[1].payload["budget_id"] == budget.budget_id


def test_malformed_and_unknown_messages_are_dropped(real):
    assert tasks.handle_message.apply(args=[{"type": "billing.CreateBudget"}]).get() == "malformed"
    assert tasks.handle_message.apply(args=["not even a dict"]).get() == "malformed"


def test_a_domain_error_is_logged_and_dropped(real, caplog):
    cause = factories.create_budget()
    cancel = factories.command(cause, "billing.CancelBudget", {"budget_id": "missing"}).to_dict()
    with caplog.at_level(logging.ERROR):
        result = tasks.handle_message.apply(args=[cancel])
    assert result.successful() and result.get() is None
    assert "billing.CancelBudget dropped: Budget missing does not exist." in caplog.text


def test_mercado_pago_down_is_retried_with_the_same_idempotency_key(real):
    command = factories.create_budget()
    budget = handlers.create_budget(command)
    services.budget_decide(budget_id=budget.budget_id, version=1, decision="approve",
                           actor=factories.ATTENDANT, reason=factories.STAFF_REASON)
    real.mercadopago.fail_next = MercadoPagoUnavailable("Mercado Pago timed out.")
    result = tasks.handle_message.apply(args=[factories.request_payment(command, budget.budget_id).to_dict()])
    assert result.get() == "handled"  # eagerly, the retry runs at once
    (payment,) = [p for p in real.mercadopago.payments.values() if p.external_reference]
    calls = [key for call, key in real.mercadopago.calls if call == "create_pix_payment"]
    assert len(calls) == 2 and len(set(calls)) == 1
    assert len(real.published("billing.PaymentRequested")) == 1


def test_a_notification_task_applies_mercado_pagos_state(real):
    command = factories.create_budget()
    budget = handlers.create_budget(command)
    services.budget_decide(budget_id=budget.budget_id, version=1, decision="approve",
                           actor=factories.ATTENDANT, reason=factories.STAFF_REASON)
    payment = handlers.request_payment(factories.request_payment(command, budget.budget_id))
    real.mercadopago.set_status(payment.mercadopago_payment_id, "approved")
    result = tasks.process_mercadopago_notification.apply(args=[payment.mercadopago_payment_id, "req-1"])
    assert result.get() == PaymentStatus.APPROVED.value
    assert tasks.process_mercadopago_notification.apply(args=["404404", "req-2"]).get() is None


def test_beat_tasks_do_not_retry_but_wait_for_their_next_run(real, caplog):
    # (the tables are shared by the session: other tests' leftovers may be expired or reconciled here)
    for task in (tasks.expire_budgets, tasks.sweep_outbox, tasks.reconcile_pending_payments):
        assert isinstance(task.apply().get(), int)
    real.deps.budgets.due_for_expiry = lambda *a, **k: (_ for _ in ()).throw(EndpointConnectionError(endpoint_url="x"))
    with caplog.at_level(logging.WARNING):
        assert tasks.expire_budgets.apply().get() is None
    assert "the next run tries again" in caplog.text


def test_the_worker_that_creates_the_budget_emails_the_link_and_the_task_is_the_fallback(real, monkeypatch):
    from django.core import mail

    scheduled = []
    real.deps.schedule_approval_email = lambda *args: scheduled.append(args)
    budget = handlers.create_budget(factories.create_budget())
    assert len(mail.outbox) == 1 and scheduled == []  # sent with the budget in hand: no task
    assert tasks.send_budget_approval_link.apply(args=[budget.budget_id, 1]).get() is False  # once

    def refuse(*args):
        raise OSError("mail server gone")

    monkeypatch.setattr(services, "send_approval_email", refuse)
    other = handlers.create_budget(factories.create_budget())
    assert scheduled == [(other.budget_id, 1)]  # the task retries it
    monkeypatch.undo()
    assert tasks.send_budget_approval_link.apply(args=[other.budget_id, 1]).get() is True
    assert len(mail.outbox) == 2


def test_an_unexpected_bug_fails_the_task_loudly(real, caplog):
    real.deps.budgets.due_for_expiry = lambda *a, **k: 1 / 0
    with caplog.at_level(logging.ERROR):
        result = tasks.expire_budgets.apply()
    assert result.failed()
    assert "budget expiry failed" in caplog.text


def test_every_beat_entry_expires_before_the_next_is_due():
    from config.celery import app

    assert len(app.conf.beat_schedule) == 3
    for name, entry in app.conf.beat_schedule.items():
        assert 0 < entry["options"]["expires"] <= entry["schedule"], name
