"""oficina_saga_finished_total: each saga counted once, when it ends, with why it ended."""
from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from execution import services
from execution.domain import queue_id_for

from ..factories import budget_created, diagnosis_completed
from ..saga_support import SagaScenario
from .test_services import reply, run_to_execution


def finished(outcome: str, reason: str) -> float:
    return REGISTRY.get_sample_value("oficina_saga_finished_total", {"outcome": outcome, "reason": reason}) or 0


def test_a_completed_saga_is_counted_once_with_no_reason(deps):
    event = diagnosis_completed()
    run_to_execution(deps, event)
    before = finished("completed", "none")
    services.message_handle(reply(event, "execution.WorkCompleted", queue_id=queue_id_for(event.saga_id),
                                  notes="Trocado"), deps=deps)
    assert finished("completed", "none") == before  # still consuming the parts
    parts = [{"catalog_id": "7", "quantity": 2}]
    services.message_handle(reply(event, "os.PartsConsumed", parts=parts), deps=deps)
    assert deps.executions.sagas[event.saga_id].status == "COMPLETED"
    assert finished("completed", "none") == before + 1

    services.message_handle(reply(event, "os.PartsConsumed", parts=parts), deps=deps)  # a late duplicate
    assert finished("completed", "none") == before + 1


def test_a_budget_the_customer_rejects_counts_as_compensated_budget_rejected(deps):
    event = diagnosis_completed()
    before = finished("compensated", "budget_rejected")
    services.message_handle(event.to_dict(), deps=deps)
    services.message_handle(reply(event, "billing.BudgetCreated", **budget_created()), deps=deps)
    assert finished("compensated", "budget_rejected") == before
    services.message_handle(reply(event, "billing.BudgetRejected", budget_id="b-1", version=1, total_cents=1,
                                  reason="muito caro", decided_by="customer"), deps=deps)
    assert deps.executions.sagas[event.saga_id].status == "COMPENSATED"
    assert finished("compensated", "budget_rejected") == before + 1


def test_parts_never_confirmed_consumed_count_as_failed_by_timeout(deps, clock):
    event = diagnosis_completed()
    run_to_execution(deps, event)
    services.message_handle(reply(event, "execution.WorkCompleted", queue_id=queue_id_for(event.saga_id),
                                  notes=""), deps=deps)
    before = finished("failed", "timeout")
    for _ in range(3):
        clock.now += timedelta(seconds=61)
        services.saga_sweep(deps=deps)
    assert deps.executions.sagas[event.saga_id].status == "FAILED"
    assert finished("failed", "timeout") == before + 1


def _unconfirmed_cancellation() -> SagaScenario:
    scenario = SagaScenario().awaiting_approval()
    scenario.receive("os.OrderCancelled", reason="x", cancelled_by="a")
    for _ in range(3):
        scenario.later(seconds=61).sweep()
    assert scenario.status == "FAILED"
    return scenario


@pytest.mark.parametrize(("ending", "reason"), [
    (lambda s: s.awaiting_approval().receive("billing.BudgetExpired", budget_id="b-1", version=1),
     "budget_expired"),
    (lambda s: s.awaiting_approval()
     .receive("billing.BudgetApproved", budget_id="b-1", version=1, total_cents=1, decided_by="c")
     .receive("os.PartsReservationFailed", parts=[], missing=[], reason="insufficient stock"), "parts_unavailable"),
    (lambda s: s.awaiting_payment().receive("billing.PaymentFailed", payment_id="p-1", budget_id="b-1",
                                            mercadopago_payment_id="9", status="rejected", reason="cc_rejected"),
     "payment_failed"),
    (lambda s: s.awaiting_payment().later(hours=25).sweep(), "payment_expired"),
    (lambda s: s.in_execution().receive("execution.WorkFailed", queue_id=s.saga.queue_id, reason="motor"),
     "work_failed"),
    (lambda s: s.in_execution().receive("os.OrderCancelled", reason="desistiu", cancelled_by="attendant"),
     "cancelled_by_staff"),
    (lambda s: s.start().later(seconds=61).sweep().later(seconds=61).sweep().later(seconds=61).sweep(), "timeout"),
    (lambda s: _unconfirmed_cancellation(), "cancelled_by_staff"),
])
def test_each_way_a_saga_turns_back_has_its_own_reason(ending, reason):
    """Each way back records its reason with its cause: rewording a cause changes no metric."""
    assert services.saga_finish_reason(ending(SagaScenario()).saga) == reason
