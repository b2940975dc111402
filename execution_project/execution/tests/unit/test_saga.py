"""The saga as a pure function: given a saga and a reply, expect the next commands (no broker, no I/O)."""
from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from execution import saga
from execution.domain import iso
from execution.saga import SAGA_STEPS, CheckWork, EnqueueWork, InvalidSagaMessage, SagaConfig, WithdrawWork
from oficina_common.messages import Envelope

from ..factories import (
    OIL_CHANGE,
    OIL_FILTERS,
    TOTAL_CENTS,
    budget_approved,
    budget_created,
    payment_approved,
    payment_page,
    payment_requested,
)
from ..saga_support import COMPENSATED, COMPLETED, CONFIG, FAILED, PENDING, RUNNING, T0, SagaScenario

EXTRA_FILTER = {"kind": "part", "catalog_id": "7", "description": "Filtro de óleo", "quantity": 1,
                "unit_price_cents": 3550, "job": 1, "optional": False}


@pytest.fixture
def scenario() -> SagaScenario:
    return SagaScenario()


def test_the_steps_are_declared_as_data_in_the_contract_order():
    assert [(s.number, s.name) for s in SAGA_STEPS] == [
        (1, "create_budget"), (2, "await_approval"), (3, "reserve_parts"), (4, "request_payment"),
        (5, "await_payment"), (6, "enqueue_work"), (7, "complete_work")]
    compensated = {s.name for s in SAGA_STEPS if s.compensation}
    assert compensated == {"create_budget", "reserve_parts", "request_payment", "enqueue_work"}
    assert {s.name: s.timeout for s in SAGA_STEPS}["await_approval"] == "approval_timeout"


# --- the happy path ----------------------------------------------------------------------------
def test_a_completed_diagnosis_starts_the_saga_by_asking_billing_for_a_budget(scenario):
    scenario.start(priority=4).expect("billing.CreateBudget")
    payload = scenario.command("billing.CreateBudget")
    assert payload["customer_email"] == "maria@example.com"
    assert payload["order_number"] == "OS-2026-0001"
    assert payload["items"] == [OIL_CHANGE, OIL_FILTERS]
    assert scenario.status == "PENDING"
    assert scenario.step_statuses() == [RUNNING] + [PENDING] * 6
    assert scenario.step(1).attempts == 1
    assert scenario.saga.deadline == iso(T0 + CONFIG.step_timeout)
    assert scenario.saga.order.priority == 4


def test_the_new_budget_moves_the_order_to_awaiting_approval_with_its_summary(scenario):
    scenario.start().receive("billing.BudgetCreated", **budget_created()).expect("os.ChangeStatus")
    change = scenario.change_status()
    assert change["to"] == "AWAITING_APPROVAL"
    assert change["summary"]["budget"] == {"budget_id": "b-1", "version": 1, "status": "PENDING_APPROVAL",
                                           "total_cents": TOTAL_CENTS}
    assert change["summary"]["execution"] == {"execution_id": scenario.saga.execution_id, "status": "IN_PROGRESS",
                                              "current_step": "await_approval"}
    assert "payment" not in change["summary"]
    assert scenario.step_statuses()[:3] == [COMPLETED, RUNNING, PENDING]


def test_approval_waits_as_long_as_configured_or_until_the_budget_expires(scenario):
    scenario.start()
    received_at = scenario.now
    scenario.receive("billing.BudgetCreated", **budget_created())
    assert scenario.saga.deadline == iso(received_at + CONFIG.approval_timeout)

    other = SagaScenario().start()
    other.receive("billing.BudgetCreated", **budget_created(expires_at="2026-03-02T13:00:00Z"))
    assert other.saga.deadline == "2026-03-02T13:01:00.000Z"


def test_an_approved_budget_reserves_its_parts(scenario):
    scenario.awaiting_approval().receive("billing.BudgetApproved", budget_id="b-1", version=1,
                                         total_cents=TOTAL_CENTS, decided_by="customer")
    scenario.expect("os.ReserveParts")
    assert scenario.command("os.ReserveParts") == {"parts": [{"catalog_id": "7", "quantity": 2}]}
    assert scenario.step_statuses()[:4] == [COMPLETED, COMPLETED, RUNNING, PENDING]


def test_reserved_parts_ask_for_the_pix_payment_and_move_the_order_to_awaiting_payment(scenario):
    """The order moves as the payment is asked for, not once Mercado Pago has made the Pix: the move
    carries the page the customer pays on, which shows the Pix as soon as it exists."""
    (scenario.awaiting_approval()
     .receive("billing.BudgetApproved", **budget_approved(total_cents=TOTAL_CENTS, decided_by="customer"))
     .receive("os.PartsReserved", parts=[{"catalog_id": "7", "quantity": 2}]))
    scenario.expect("billing.RequestPayment", "os.ChangeStatus")
    assert scenario.command("billing.RequestPayment") == {
        "budget_id": "b-1", "version": 1, "amount_cents": TOTAL_CENTS, "method": "pix",
        "payer_email": "maria@example.com", "description": "Ordem de serviço OS-2026-0001"}
    assert scenario.saga.reserved_parts == [{"catalog_id": "7", "quantity": 2}]
    change = scenario.change_status()
    assert change["to"] == "AWAITING_PAYMENT" and change["reason"] == "Budget approved; waiting for the payment"
    assert change["summary"]["payment"] == {"status": "REQUESTED", "amount_cents": TOTAL_CENTS,
                                            "payment_url": payment_page()}
    assert scenario.step_statuses()[2:4] == [COMPLETED, RUNNING]


def test_the_pix_made_tells_the_os_nothing_the_payment_page_shows_it(scenario):
    scenario.awaiting_payment().expect()
    assert scenario.step_statuses()[3:5] == [COMPLETED, RUNNING]
    assert scenario.saga.payments[0].qr_code == "00020126PIX"
    # What the OS is told next (the payment confirmed, or a check while it waits) names the Pix.
    scenario.later(seconds=CONFIG.payment_check_interval.total_seconds() + 1).sweep()
    assert scenario.change_status()["summary"]["payment"] == {
        "payment_id": "p-1", "status": "PENDING", "amount_cents": TOTAL_CENTS, "qr_code": "00020126PIX",
        "init_point": None, "payment_url": payment_page()}


def test_an_approval_that_names_no_payment_page_gets_the_pix_code_to_the_os(scenario):
    """BudgetApproved from a Billing older than the payment page in it: the order moves at the
    reservation all the same, and the Pix code follows it (one summary more), as the customer has
    nowhere else to find it."""
    approved = {key: value for key, value in budget_approved().items() if key != "payment_url"}
    (scenario.awaiting_approval()
     .receive("billing.BudgetApproved", **approved)
     .receive("os.PartsReserved", parts=[{"catalog_id": "7", "quantity": 2}]))
    assert scenario.change_status()["summary"]["payment"] == {"status": "REQUESTED", "amount_cents": 19100,
                                                              "payment_url": ""}
    scenario.receive("billing.PaymentRequested", **payment_requested()).expect("os.ChangeStatus")
    change = scenario.change_status()
    assert change["to"] == "AWAITING_PAYMENT" and change["summary"]["payment"]["qr_code"] == "00020126PIX"


def test_the_approved_payment_moves_the_order_to_execution_and_queues_the_job(scenario):
    scenario.awaiting_payment().receive("billing.PaymentApproved", **payment_approved())
    scenario.expect("os.ChangeStatus")
    assert scenario.change_status()["to"] == "IN_EXECUTION"
    assert scenario.last.effects == [EnqueueWork(scenario.saga.queue_id)]
    assert scenario.step_statuses()[4:] == [COMPLETED, RUNNING, PENDING]

    scenario.enqueued().expect()
    assert scenario.step_statuses()[5:] == [COMPLETED, RUNNING]
    # A job takes what it takes; the saga only looks at it now and then (its news may be lost).
    assert scenario.saga.deadline == iso(scenario.now - timedelta(seconds=1) + CONFIG.job_check_interval)


def test_completed_work_consumes_the_parts_then_the_order_is_finished(scenario):
    scenario.in_execution().receive("execution.WorkCompleted", queue_id=scenario.saga.queue_id, notes="Trocado")
    scenario.expect("os.ConsumeParts")
    assert scenario.command("os.ConsumeParts") == {"parts": [{"catalog_id": "7", "quantity": 2}]}

    scenario.receive("os.PartsConsumed", parts=[{"catalog_id": "7", "quantity": 2}]).expect("os.ChangeStatus")
    change = scenario.change_status()
    assert change["to"] == "FINISHED"
    assert "Trocado" in change["reason"]
    assert change["summary"]["execution"]["status"] == "COMPLETED"
    assert scenario.status == "COMPLETED"
    assert scenario.step_statuses() == [COMPLETED] * 7


def test_an_order_without_parts_skips_reservation_and_consumption():
    scenario = SagaScenario().awaiting_approval(items=[OIL_CHANGE])
    scenario.receive("billing.BudgetApproved", **budget_approved(total_cents=12000))
    scenario.expect("billing.RequestPayment", "os.ChangeStatus")
    assert scenario.change_status()["to"] == "AWAITING_PAYMENT"
    scenario.receive("billing.PaymentRequested", **payment_requested(amount_cents=12000)).expect()
    (scenario
     .receive("billing.PaymentApproved", **payment_approved(amount_cents=12000)).enqueued()
     .receive("execution.WorkCompleted", queue_id=scenario.saga.queue_id, notes=""))
    scenario.expect("os.ChangeStatus")
    assert scenario.change_status()["to"] == "FINISHED"
    assert scenario.step_statuses() == [COMPLETED] * 7


def test_the_payment_method_is_configurable():
    scenario = SagaScenario(SagaConfig(payment_method="checkout")).awaiting_approval(items=[OIL_CHANGE])
    scenario.receive("billing.BudgetApproved", budget_id="b-1", version=1, total_cents=12000, decided_by="c")
    assert scenario.command("billing.RequestPayment")["method"] == "checkout"


# --- compensations -----------------------------------------------------------------------------
def test_a_rejected_budget_cancels_the_order_with_the_customers_reason(scenario):
    scenario.awaiting_approval().receive("billing.BudgetRejected", budget_id="b-1", version=1,
                                         total_cents=TOTAL_CENTS, reason="muito caro", decided_by="customer")
    scenario.expect("os.ChangeStatus")  # nothing else was done: nothing else to undo
    change = scenario.change_status()
    assert change["to"] == "CANCELLED"
    assert "muito caro" in change["reason"]
    assert change["summary"]["execution"]["status"] == "COMPENSATED"
    assert change["summary"]["budget"]["status"] == "REJECTED"
    assert scenario.status == "COMPENSATED"
    assert scenario.step_statuses()[:3] == [COMPENSATED, FAILED, PENDING]


def test_an_expired_budget_cancels_the_order(scenario):
    scenario.awaiting_approval().receive("billing.BudgetExpired", budget_id="b-1", version=1)
    scenario.expect("os.ChangeStatus")
    assert scenario.change_status()["to"] == "CANCELLED"
    assert "expired" in scenario.change_status()["reason"]
    assert scenario.status == "COMPENSATED"


def test_no_decision_before_the_approval_timeout_compensates_as_an_expiry(scenario):
    scenario.awaiting_approval()
    scenario.later(hours=71).sweep().expect_ignored()
    scenario.later(hours=2).sweep().expect("billing.CancelBudget", "os.ChangeStatus")
    assert scenario.command("billing.CancelBudget")["budget_id"] == "b-1"
    assert "expired" in scenario.change_status()["reason"]
    assert scenario.status == "COMPENSATING"
    assert scenario.step(2).status == FAILED

    scenario.receive("billing.BudgetCancelled", budget_id="b-1", version=1).expect("os.ChangeStatus")
    assert scenario.status == "COMPENSATED"
    assert scenario.change_status()["to"] == "CANCELLED"  # summary only: the OS is cancelled already
    assert scenario.change_status()["summary"]["execution"]["status"] == "COMPENSATED"
    assert scenario.step(1).status == COMPENSATED


def test_parts_out_of_stock_cancel_the_budget_and_the_order(scenario):
    scenario.awaiting_approval().receive("billing.BudgetApproved", budget_id="b-1", version=1,
                                         total_cents=TOTAL_CENTS, decided_by="c")
    scenario.receive("os.PartsReservationFailed", parts=[{"catalog_id": "7", "quantity": 9}],
                     missing=[{"catalog_id": "7", "requested": 9, "available": 5}], reason="insufficient stock")
    scenario.expect("billing.CancelBudget", "os.ChangeStatus")
    assert scenario.change_status()["to"] == "CANCELLED"
    assert "stock" in scenario.change_status()["reason"]
    assert scenario.step(3).status == FAILED
    assert "requested 9, available 5" in scenario.step(3).error

    scenario.receive("billing.BudgetCancelled", budget_id="b-1", version=1)
    assert scenario.status == "COMPENSATED"
    assert scenario.step_statuses()[:3] == [COMPENSATED, COMPENSATED, FAILED]


def test_a_failed_payment_releases_the_parts_and_cancels_the_budget_newest_first(scenario):
    scenario.awaiting_payment().receive("billing.PaymentFailed", payment_id="p-1", budget_id="b-1",
                                        mercadopago_payment_id="9001", status="rejected", reason="cc_rejected")
    scenario.expect("os.ReleaseParts", "billing.CancelBudget", "os.ChangeStatus")
    assert scenario.command("os.ReleaseParts") == {"parts": [{"catalog_id": "7", "quantity": 2}]}
    assert "Payment" in scenario.change_status()["reason"]
    assert scenario.step(5).status == FAILED
    assert scenario.status == "COMPENSATING"

    scenario.receive("os.PartsReleased", parts=[{"catalog_id": "7", "quantity": 2}])
    assert scenario.status == "COMPENSATING"
    assert scenario.step(3).status == COMPENSATED
    scenario.receive("billing.BudgetCancelled", budget_id="b-1", version=1)
    assert scenario.status == "COMPENSATED"
    assert scenario.step_statuses() == [COMPENSATED, COMPENSATED, COMPENSATED, COMPENSATED, FAILED, PENDING, PENDING]


def test_a_payment_refused_at_request_time_fails_the_request_step(scenario):
    (scenario.awaiting_approval()
     .receive("billing.BudgetApproved", budget_id="b-1", version=1, total_cents=TOTAL_CENTS, decided_by="c")
     .receive("os.PartsReserved", parts=[{"catalog_id": "7", "quantity": 2}])
     .receive("billing.PaymentFailed", payment_id="p-1", budget_id="b-1", mercadopago_payment_id=None,
              status="rejected", reason="Mercado Pago refused the request"))
    scenario.expect("os.ReleaseParts", "billing.CancelBudget", "os.ChangeStatus")
    assert scenario.step(4).status == FAILED


def test_failed_work_refunds_and_releases_but_keeps_the_paid_budget(scenario):
    scenario.in_execution().receive("execution.WorkFailed", queue_id=scenario.saga.queue_id,
                                    reason="motor fundido, sem conserto")
    scenario.expect("billing.RefundPayment", "os.ReleaseParts", "os.ChangeStatus")
    assert scenario.command("billing.RefundPayment") == {"payment_id": "p-1",
                                                         "reason": "Work failed: motor fundido, sem conserto"}
    assert "motor fundido" in scenario.change_status()["reason"]
    assert scenario.last.effects == []  # the mechanic closed the job already
    assert scenario.step(7).status == FAILED

    scenario.receive("billing.PaymentRefunded", payment_id="p-1", mercadopago_payment_id="9001",
                     amount_cents=TOTAL_CENTS)
    scenario.receive("os.PartsReleased", parts=[{"catalog_id": "7", "quantity": 2}])
    assert scenario.status == "COMPENSATED"
    assert scenario.saga.payments[0].status == "REFUNDED"
    assert scenario.change_status()["summary"]["payment"]["status"] == "REFUNDED"


@pytest.mark.parametrize(("point", "undo"), [
    ("awaiting_approval", ["billing.CancelBudget"]),
    ("awaiting_payment", ["billing.CancelPayment", "os.ReleaseParts", "billing.CancelBudget"]),
    ("in_execution", ["billing.RefundPayment", "os.ReleaseParts"]),
])
def test_staff_cancellation_undoes_what_was_done_and_never_tells_the_os_back(point, undo):
    scenario = getattr(SagaScenario(), point)()
    scenario.receive("os.OrderCancelled", reason="cliente desistiu", cancelled_by="attendant")
    scenario.expect(*undo)
    assert scenario.status == "COMPENSATING"
    assert scenario.saga.cause == "Service order cancelled: cliente desistiu"
    if point == "in_execution":
        assert scenario.last.effects == [WithdrawWork(scenario.saga.queue_id, 3, scenario.saga.cause)]
    replies = {
        "billing.CancelBudget": ("billing.BudgetCancelled", {"budget_id": "b-1", "version": 1}),
        "billing.CancelPayment": ("billing.PaymentCancelled", {"payment_id": "p-1"}),
        "billing.RefundPayment": ("billing.PaymentRefunded", {"payment_id": "p-1", "mercadopago_payment_id": "9001",
                                                              "amount_cents": TOTAL_CENTS}),
        "os.ReleaseParts": ("os.PartsReleased", {"parts": [{"catalog_id": "7", "quantity": 2}]}),
    }
    for command in undo:
        reply, payload = replies[command]
        scenario.receive(reply, **payload)
    assert scenario.status == "COMPENSATED"
    assert all(c.payload["to"] != "CANCELLED" for c in scenario.sent if c.type == "os.ChangeStatus")


def test_cancelled_before_the_budget_exists_waits_for_it_to_cancel_it(scenario):
    scenario.start().receive("os.OrderCancelled", reason="desistiu", cancelled_by="attendant").expect()
    assert scenario.status == "COMPENSATING"
    scenario.receive("billing.BudgetCreated", **budget_created()).expect("billing.CancelBudget")
    scenario.receive("billing.BudgetCancelled", budget_id="b-1", version=1).expect()
    assert scenario.status == "COMPENSATED"


def test_a_payment_approved_while_being_cancelled_is_refunded(scenario):
    scenario.awaiting_payment().receive("os.OrderCancelled", reason="desistiu", cancelled_by="attendant")
    scenario.receive("billing.PaymentApproved", **payment_approved()).expect("billing.RefundPayment")
    scenario.receive("os.PartsReleased", parts=[{"catalog_id": "7", "quantity": 2}])
    scenario.receive("billing.BudgetCancelled", budget_id="b-1", version=1)
    assert scenario.status == "COMPENSATING"
    scenario.receive("billing.PaymentRefunded", payment_id="p-1", mercadopago_payment_id="9001", amount_cents=1)
    assert scenario.status == "COMPENSATED"


def test_a_reservation_answered_after_the_saga_turned_back_is_released(scenario):
    scenario.awaiting_approval().receive("billing.BudgetApproved", budget_id="b-1", version=1,
                                         total_cents=TOTAL_CENTS, decided_by="c")
    scenario.receive("os.OrderCancelled", reason="desistiu", cancelled_by="attendant")
    scenario.expect("billing.CancelBudget")
    scenario.receive("os.PartsReserved", parts=[{"catalog_id": "7", "quantity": 2}]).expect("os.ReleaseParts")
    scenario.receive("billing.BudgetCancelled", budget_id="b-1", version=1)
    assert scenario.status == "COMPENSATING"
    scenario.receive("os.PartsReleased", parts=[{"catalog_id": "7", "quantity": 2}])
    assert scenario.status == "COMPENSATED"


def test_a_job_queued_after_the_saga_turned_back_is_withdrawn(scenario):
    scenario.awaiting_payment().receive("billing.PaymentApproved", **payment_approved())
    queued = copy.deepcopy(scenario.saga)
    scenario.receive("os.OrderCancelled", reason="desistiu", cancelled_by="attendant")
    decision = saga.work_enqueued(scenario.saga, queued.queue_id, now=scenario.now, config=CONFIG)
    assert decision.effects == [WithdrawWork(queued.queue_id, 3, scenario.saga.cause)]


# --- additional repairs ------------------------------------------------------------------------
def _report_extra(scenario: SagaScenario) -> SagaScenario:
    return scenario.reports(EXTRA_FILTER, notes="Filtro extra necessário")


def test_additional_repairs_revise_the_budget_and_the_approved_difference_is_reserved_and_charged(scenario):
    _report_extra(scenario.in_execution()).expect("billing.ReviseBudget")
    assert scenario.command("billing.ReviseBudget") == {"budget_id": "b-1", "items": [EXTRA_FILTER],
                                                        "reason": "Filtro extra necessário"}
    scenario.receive("billing.BudgetCreated", **budget_created(version=2, total_cents=TOTAL_CENTS + 3550,
                                                                revision=True, additional_total_cents=3550))
    scenario.expect("os.ChangeStatus")
    change = scenario.change_status()
    assert change["to"] == "IN_EXECUTION"
    assert change["summary"]["budget"] == {"budget_id": "b-1", "version": 2, "status": "PENDING_APPROVAL",
                                           "total_cents": TOTAL_CENTS + 3550}

    scenario.receive("billing.BudgetApproved", budget_id="b-1", version=2, total_cents=TOTAL_CENTS + 3550,
                     decided_by="customer")
    scenario.expect("os.ReserveParts", "billing.RequestPayment", "os.ChangeStatus")
    assert scenario.command("os.ReserveParts") == {"parts": [{"catalog_id": "7", "quantity": 1}]}
    request = scenario.command("billing.RequestPayment")
    assert (request["version"], request["amount_cents"]) == (2, 3550)

    (scenario.receive("os.PartsReserved", parts=[{"catalog_id": "7", "quantity": 1}])
     .receive("billing.PaymentRequested", **payment_requested("p-2", 3550))
     .receive("billing.PaymentApproved", **payment_approved("p-2", 3550)))
    assert scenario.status == "IN_PROGRESS"
    scenario.receive("execution.WorkCompleted", queue_id=scenario.saga.queue_id, notes="ok")
    assert scenario.command("os.ConsumeParts") == {"parts": [{"catalog_id": "7", "quantity": 3}]}


def test_a_rejected_revision_lets_the_work_go_on_with_what_was_approved(scenario):
    _report_extra(scenario.in_execution())
    scenario.receive("billing.BudgetCreated", **budget_created(version=2, total_cents=TOTAL_CENTS + 3550,
                                                                revision=True, additional_total_cents=3550))
    scenario.receive("billing.BudgetRejected", budget_id="b-1", version=2, total_cents=TOTAL_CENTS + 3550,
                     reason="só o combinado", decided_by="customer")
    scenario.expect("os.ChangeStatus")
    assert scenario.change_status()["to"] == "IN_EXECUTION"
    assert scenario.status == "IN_PROGRESS"
    assert scenario.saga.active_revision.status == "REJECTED"
    scenario.receive("execution.WorkCompleted", queue_id=scenario.saga.queue_id, notes="ok")
    assert scenario.command("os.ConsumeParts") == {"parts": [{"catalog_id": "7", "quantity": 2}]}


def test_a_second_report_waits_for_the_first_revision(scenario):
    _report_extra(_report_extra(scenario.in_execution())).expect_ignored()


def test_consumption_waits_for_an_extra_reservation_still_on_its_way(scenario):
    _report_extra(scenario.in_execution())
    scenario.receive("billing.BudgetCreated", **budget_created(version=2, revision=True, additional_total_cents=3550))
    scenario.receive("billing.BudgetApproved", budget_id="b-1", version=2, total_cents=1, decided_by="c")
    scenario.receive("execution.WorkCompleted", queue_id=scenario.saga.queue_id, notes="ok").expect()
    scenario.receive("os.PartsReserved", parts=[{"catalog_id": "7", "quantity": 1}]).expect("os.ConsumeParts")
    assert scenario.command("os.ConsumeParts") == {"parts": [{"catalog_id": "7", "quantity": 3}]}


# --- idempotency and order ---------------------------------------------------------------------
def test_a_redelivered_reply_changes_nothing_twice(scenario):
    scenario.awaiting_approval()
    scenario.receive("billing.BudgetCreated", **budget_created()).expect_ignored()
    scenario.receive("billing.BudgetApproved", budget_id="b-1", version=1, total_cents=1, decided_by="c")
    scenario.receive("billing.BudgetApproved", budget_id="b-1", version=1, total_cents=1, decided_by="c")
    scenario.expect_ignored()


def test_a_decision_on_another_budget_version_is_ignored(scenario):
    scenario.awaiting_approval().receive("billing.BudgetApproved", budget_id="b-1", version=7, total_cents=1,
                                         decided_by="c").expect_ignored()
    scenario.receive("billing.BudgetRejected", budget_id="other", version=1, total_cents=1, reason="x",
                     decided_by="c").expect_ignored()


def test_an_approval_that_overtakes_the_payment_request_still_advances(scenario):
    (scenario.awaiting_approval()
     .receive("billing.BudgetApproved", budget_id="b-1", version=1, total_cents=TOTAL_CENTS, decided_by="c")
     .receive("os.PartsReserved", parts=[{"catalog_id": "7", "quantity": 2}])
     .receive("billing.PaymentApproved", **payment_approved()))
    assert scenario.change_status()["to"] == "IN_EXECUTION"
    assert scenario.step_statuses()[3:6] == [COMPLETED, COMPLETED, RUNNING]
    scenario.receive("billing.PaymentRequested", **payment_requested()).expect()
    assert scenario.saga.payments[0].status == "APPROVED"
    assert scenario.saga.payments[0].qr_code == "00020126PIX"


def test_work_reports_for_another_job_or_a_finished_saga_are_ignored(scenario):
    scenario.in_execution().receive("execution.WorkCompleted", queue_id="someone-else", notes="").expect_ignored()
    scenario.receive("execution.WorkFailed", queue_id="someone-else", reason="x").expect_ignored()
    scenario.receive("execution.WorkCompleted", queue_id=scenario.saga.queue_id, notes="")
    scenario.receive("execution.WorkFailed", queue_id=scenario.saga.queue_id, reason="x").expect_ignored()


def test_the_function_is_pure_and_its_message_ids_are_deterministic(scenario):
    scenario.awaiting_approval()
    before = copy.deepcopy(scenario.saga)
    reply = Envelope(type="billing.BudgetApproved", saga_id=before.execution_id,
                     service_order_id=before.service_order_id,
                     payload={"budget_id": "b-1", "version": 1, "total_cents": 1, "decided_by": "c"})
    first = saga.handle(scenario.saga, reply, now=T0, config=CONFIG)
    second = saga.handle(scenario.saga, reply, now=T0, config=CONFIG)
    assert scenario.saga == before
    assert [c.message_id for c in first.commands] == [c.message_id for c in second.commands]
    assert first.saga == second.saga


def test_every_outgoing_message_carries_the_saga_id_as_correlation(scenario):
    scenario.in_execution()
    assert {c.saga_id for c in scenario.sent} == {scenario.saga.execution_id}
    assert len({c.message_id for c in scenario.sent}) == len(scenario.sent)


def test_replies_the_saga_cannot_use_are_refused_loudly(scenario):
    scenario.awaiting_approval()
    with pytest.raises(InvalidSagaMessage):
        scenario.receive("billing.BudgetApproved", version=1)
    with pytest.raises(InvalidSagaMessage):
        SagaScenario().start(items=[{"kind": "tire", "catalog_id": "1", "quantity": 1}])
    with pytest.raises(InvalidSagaMessage):
        SagaScenario().start(items=[])
    scenario.receive("os.DiagnosisCompleted").expect_ignored()


# --- timeouts ----------------------------------------------------------------------------------
def test_an_unanswered_command_is_sent_again_then_compensated_and_undone_blindly(scenario):
    scenario.start()
    first = scenario.commands[0]
    scenario.later(seconds=30).sweep().expect_ignored()
    scenario.later(seconds=40).sweep().expect("billing.CreateBudget")
    again = scenario.commands[0]
    # The same message again: a receiver that handled the first copy does not act twice, it answers
    # again with the outcome it recorded (the first reply may be what was lost).
    assert again.payload == first.payload and again.message_id == first.message_id
    assert scenario.step(1).attempts == 2
    scenario.later(seconds=61).sweep().expect("billing.CreateBudget")
    assert scenario.step(1).attempts == 3
    scenario.later(seconds=61).sweep().expect("os.ChangeStatus")
    assert scenario.change_status()["to"] == "CANCELLED"
    assert scenario.step(1).status == FAILED
    assert "after 3 attempts" in scenario.step(1).error
    # Billing may have made the budget without the saga hearing of it: it is still awaited, then
    # cancelled blindly (by the saga's id), and the saga is over once Billing confirms.
    assert scenario.status == "COMPENSATING"
    scenario.later(seconds=61).sweep().expect("billing.CancelBudget")
    assert scenario.command("billing.CancelBudget") == {"reason": scenario.saga.cause[:500]}
    scenario.receive("billing.BudgetCancelled", budget_id="b-1", version=1)
    assert scenario.status == "COMPENSATED"


def test_an_unpaid_payment_expires_and_compensates(scenario):
    scenario.awaiting_payment().later(hours=25).sweep()
    scenario.expect("billing.CancelPayment", "os.ReleaseParts", "billing.CancelBudget", "os.ChangeStatus")
    assert "Payment expired" in scenario.change_status()["reason"]
    assert scenario.step(5).status == FAILED


def test_an_unconfirmed_compensation_is_retried_then_the_saga_fails_for_a_person(scenario):
    scenario.awaiting_approval().receive("billing.BudgetExpired", budget_id="b-2", version=1).expect_ignored()
    scenario.receive("os.OrderCancelled", reason="x", cancelled_by="a").expect("billing.CancelBudget")
    scenario.later(seconds=61).sweep().expect("billing.CancelBudget")
    scenario.later(seconds=61).sweep().expect("billing.CancelBudget")
    scenario.later(seconds=61).sweep().expect()
    assert scenario.status == "FAILED"
    assert "not confirmed" in scenario.step(1).error


def test_the_job_is_queued_again_when_the_first_try_was_lost(scenario):
    scenario.awaiting_payment().receive("billing.PaymentApproved", **payment_approved())
    scenario.later(seconds=61).sweep()
    assert scenario.last.effects == [EnqueueWork(scenario.saga.queue_id)]
    assert scenario.step(6).attempts == 2


def test_unconfirmed_consumption_fails_the_saga_without_undoing_finished_work(scenario):
    scenario.in_execution().receive("execution.WorkCompleted", queue_id=scenario.saga.queue_id, notes="")
    for _ in range(2):
        scenario.later(seconds=61).sweep().expect("os.ConsumeParts")
    scenario.later(seconds=61).sweep().expect()
    assert scenario.status == "FAILED"
    assert scenario.step(7).status == FAILED


def test_a_saga_that_is_over_or_not_due_is_left_alone(scenario):
    scenario.awaiting_approval().sweep().expect_ignored()
    scenario.receive("billing.BudgetRejected", budget_id="b-1", version=1, total_cents=1, reason="", decided_by="c")
    scenario.later(days=30).sweep().expect_ignored()
    scenario.receive("os.OrderCancelled", reason="", cancelled_by="a").expect_ignored()


# --- late and crossing replies -----------------------------------------------------------------
def test_a_budget_created_after_the_saga_gave_up_is_cancelled_too(scenario):
    scenario.start()
    for _ in range(3):
        scenario.later(seconds=61).sweep()
    assert scenario.status == "COMPENSATING"  # the CreateBudget is still awaited, to undo it
    scenario.receive("billing.BudgetCreated", **budget_created()).expect("billing.CancelBudget")
    assert scenario.command("billing.CancelBudget")["budget_id"] == "b-1"
    scenario.receive("billing.BudgetCancelled", budget_id="b-1", version=1)
    assert scenario.status == "COMPENSATED"
    scenario.receive("billing.BudgetCreated", **budget_created()).expect_ignored()


def test_a_budget_created_after_the_blind_cancellation_is_cancelled_again():
    over = SagaScenario().start()
    for _ in range(4):
        over.later(seconds=61).sweep()
    over.expect("billing.CancelBudget").receive("billing.BudgetCancelled", budget_id="b-1", version=0)
    assert over.status == "COMPENSATED"
    over.receive("billing.BudgetCreated", **budget_created()).expect("billing.CancelBudget")
    assert over.command("billing.CancelBudget")["budget_id"] == "b-1"


def test_payments_that_appear_after_the_saga_is_over_are_cancelled_or_refunded():
    over = SagaScenario().awaiting_approval().receive("billing.BudgetRejected", budget_id="b-1", version=1,
                                                      total_cents=1, reason="não", decided_by="c")
    over.receive("billing.PaymentRequested", **payment_requested("p-9")).expect("billing.CancelPayment")
    over.receive("billing.PaymentApproved", **payment_approved("p-8")).expect("billing.RefundPayment")


def test_a_payment_requested_while_compensating_is_cancelled_and_awaited(scenario):
    (scenario.awaiting_approval()
     .receive("billing.BudgetApproved", budget_id="b-1", version=1, total_cents=TOTAL_CENTS, decided_by="c")
     .receive("os.PartsReserved", parts=[{"catalog_id": "7", "quantity": 2}])
     .receive("os.OrderCancelled", reason="desistiu", cancelled_by="attendant"))
    scenario.expect("os.ReleaseParts", "billing.CancelBudget")
    scenario.receive("billing.PaymentRequested", **payment_requested()).expect("billing.CancelPayment")
    scenario.receive("os.PartsReleased", parts=[]).receive("billing.BudgetCancelled", budget_id="b-1", version=1)
    assert scenario.status == "COMPENSATING"
    scenario.receive("billing.PaymentCancelled", payment_id="p-1").expect()
    assert scenario.status == "COMPENSATED"


def test_a_payment_failing_while_it_is_being_cancelled_needs_no_cancellation(scenario):
    (scenario.awaiting_approval()
     .receive("billing.BudgetApproved", budget_id="b-1", version=1, total_cents=TOTAL_CENTS, decided_by="c")
     .receive("os.PartsReserved", parts=[{"catalog_id": "7", "quantity": 2}])
     .receive("os.OrderCancelled", reason="desistiu", cancelled_by="attendant")
     .receive("os.PartsReleased", parts=[]).receive("billing.BudgetCancelled", budget_id="b-1", version=1))
    scenario.receive("billing.PaymentFailed", payment_id="p-1", budget_id="b-1", mercadopago_payment_id=None,
                     status="rejected", reason="x").expect()
    assert scenario.status == "COMPENSATED"


def test_a_pending_payment_failing_during_compensation_ends_its_cancellation(scenario):
    scenario.awaiting_payment().receive("os.OrderCancelled", reason="desistiu", cancelled_by="attendant")
    scenario.receive("os.PartsReleased", parts=[]).receive("billing.BudgetCancelled", budget_id="b-1", version=1)
    scenario.receive("billing.PaymentFailed", payment_id="p-1", budget_id="b-1", mercadopago_payment_id="9001",
                     status="cancelled", reason="expired")
    assert scenario.status == "COMPENSATED"
    scenario.receive("billing.PaymentCancelled", payment_id="p-1").expect_ignored()


def test_an_unanswered_reservation_is_released_blindly_when_the_saga_stops_waiting(scenario):
    scenario.awaiting_approval().receive("billing.BudgetApproved", budget_id="b-1", version=1,
                                         total_cents=TOTAL_CENTS, decided_by="c")
    scenario.receive("os.OrderCancelled", reason="desistiu", cancelled_by="attendant")
    scenario.receive("billing.BudgetCancelled", budget_id="b-1", version=1)
    assert scenario.status == "COMPENSATING"  # still waiting to know whether parts were reserved
    scenario.later(seconds=61).sweep().expect()
    scenario.later(seconds=61).sweep().expect()
    scenario.later(seconds=61).sweep().expect("os.ReleaseParts")
    scenario.receive("os.PartsReleased", parts=[{"catalog_id": "7", "quantity": 2}])
    assert scenario.status == "COMPENSATED"


def test_staff_cancelling_during_a_compensation_silences_the_final_status_update(scenario):
    scenario.awaiting_payment().receive("billing.PaymentFailed", payment_id="p-1", budget_id="b-1",
                                        mercadopago_payment_id="9001", status="rejected", reason="x")
    scenario.receive("os.OrderCancelled", reason="desistiu", cancelled_by="attendant").expect()
    scenario.receive("os.PartsReleased", parts=[]).receive("billing.BudgetCancelled", budget_id="b-1", version=1)
    scenario.expect()
    assert scenario.status == "COMPENSATED"


def test_a_person_retries_a_failed_compensation_once_billing_is_back(scenario):
    scenario.awaiting_approval().receive("os.OrderCancelled", reason="x", cancelled_by="a")
    first = scenario.commands[0]
    for _ in range(3):
        scenario.later(seconds=61).sweep()
    assert scenario.status == "FAILED" and [p.type for p in scenario.saga.stuck] == ["billing.CancelBudget"]
    scenario.later(hours=2).sweep().expect_ignored()  # the sweeper leaves it to a person
    # A late answer to a command the saga gave up on changes nothing by itself.
    scenario.receive("os.PartsReleased", parts=[]).expect_ignored()

    scenario.retry(by="ana").expect("billing.CancelBudget", "os.ChangeStatus")
    again = scenario.commands[0]
    assert again.payload == first.payload and again.message_id != first.message_id  # a new message: answered
    assert scenario.status == "COMPENSATING" and scenario.saga.stuck == [] and scenario.saga.finished_at is None
    assert scenario.saga.pending[0].attempts == 1 and "Retried by ana" in scenario.change_status()["reason"]
    scenario.receive("billing.BudgetCancelled", budget_id="b-1", version=1)
    assert scenario.status == "COMPENSATED"
    scenario.retry().expect_ignored()


def test_a_person_retries_the_consumption_of_a_finished_job(scenario):
    scenario.in_execution().receive("execution.WorkCompleted", queue_id=scenario.saga.queue_id, notes="")
    for _ in range(3):
        scenario.later(seconds=61).sweep()
    assert scenario.status == "FAILED" and scenario.step(7).status == FAILED
    scenario.retry().expect("os.ConsumeParts", "os.ChangeStatus")
    assert scenario.status == "IN_PROGRESS" and scenario.step(7).status == RUNNING and scenario.step(7).error is None
    scenario.receive("os.PartsConsumed", parts=[{"catalog_id": "7", "quantity": 2}])
    assert scenario.status == "COMPLETED" and scenario.change_status()["to"] == "FINISHED"


def test_only_a_failed_saga_is_retried(scenario):
    scenario.awaiting_approval().retry().expect_ignored()


def test_a_failed_compensation_tells_the_os_what_is_left():
    scenario = SagaScenario().awaiting_payment()
    scenario.receive("billing.PaymentFailed", payment_id="p-1", budget_id="b-1", mercadopago_payment_id="9001",
                     status="rejected", reason="x")
    for _ in range(3):
        scenario.later(seconds=61).sweep()
    scenario.expect("os.ChangeStatus")
    assert scenario.status == "FAILED"
    assert "compensation not confirmed" in scenario.change_status()["reason"]


# --- additional repairs that do not work out ---------------------------------------------------
def _revision_approved(scenario: SagaScenario) -> SagaScenario:
    _report_extra(scenario.in_execution())
    scenario.receive("billing.BudgetCreated", **budget_created(version=2, revision=True, additional_total_cents=3550))
    return scenario.receive("billing.BudgetApproved", budget_id="b-1", version=2, total_cents=1, decided_by="c")


def test_extra_parts_out_of_stock_do_not_stop_the_work(scenario):
    _revision_approved(scenario).receive("os.PartsReservationFailed", parts=[{"catalog_id": "7", "quantity": 1}],
                                         missing=[], reason="out of stock")
    scenario.expect("os.ChangeStatus")
    assert scenario.status == "IN_PROGRESS"
    assert scenario.saga.active_revision.parts_status == "UNAVAILABLE"
    scenario.receive("execution.WorkCompleted", queue_id=scenario.saga.queue_id, notes="")
    assert scenario.command("os.ConsumeParts") == {"parts": [{"catalog_id": "7", "quantity": 2}]}


def test_a_failed_additional_payment_does_not_stop_the_work(scenario):
    _revision_approved(scenario).receive("billing.PaymentFailed", payment_id="p-2", budget_id="b-1",
                                         mercadopago_payment_id=None, status="rejected", reason="recusado")
    scenario.expect("os.ChangeStatus")
    assert scenario.status == "IN_PROGRESS"
    assert "recusado" in scenario.saga.active_revision.error


def test_an_additional_payment_approved_after_the_work_is_recorded(scenario):
    _revision_approved(scenario).receive("os.PartsReserved", parts=[{"catalog_id": "7", "quantity": 1}])
    scenario.receive("execution.WorkCompleted", queue_id=scenario.saga.queue_id, notes="")
    scenario.receive("os.PartsConsumed", parts=[])
    assert scenario.status == "COMPLETED"
    scenario.receive("billing.PaymentApproved", **payment_approved("p-2", 3550)).expect("os.ChangeStatus")
    assert scenario.saga.payments[-1].status == "APPROVED"
    assert scenario.saga.payments[-1].purpose == "revision"


def test_a_revision_created_after_the_order_was_cancelled_is_cancelled(scenario):
    _report_extra(scenario.in_execution()).receive("os.OrderCancelled", reason="desistiu", cancelled_by="a")
    scenario.expect("billing.RefundPayment", "os.ReleaseParts")
    scenario.receive("billing.BudgetCreated", **budget_created(version=2, revision=True, additional_total_cents=1))
    scenario.expect("billing.CancelBudget")


def test_an_unanswered_revision_is_given_up_and_the_work_goes_on(scenario):
    _report_extra(scenario.in_execution())
    for _ in range(2):
        scenario.later(seconds=61).sweep().expect("billing.ReviseBudget")
    scenario.later(seconds=61).sweep().expect()
    assert scenario.status == "IN_PROGRESS"
    assert "No reply to billing.ReviseBudget" in scenario.saga.active_revision.error
    assert scenario.saga.active_revision.status == "FAILED"
    # Billing is asked again (the same message) until it says what it did, so that exactly that is undone.
    scenario.later(seconds=61).sweep().expect("billing.ReviseBudget")
    assert scenario.status == "IN_PROGRESS"
    scenario.receive("billing.BudgetCreated", **budget_created(version=2, total_cents=TOTAL_CENTS + 3550,
                                                                revision=True, origin="saga",
                                                                additional_total_cents=3550))
    scenario.expect("billing.CancelBudget")
    scenario.receive("billing.BudgetCancelled", budget_id="b-1", version=2)
    assert scenario.saga.deadline == scenario.saga.check_due_at and scenario.status == "IN_PROGRESS"
    assert scenario.saga.budget.status == "APPROVED"  # the version approved and paid stands


def test_reports_that_are_empty_or_malformed_are_refused(scenario):
    scenario.in_execution()
    scenario.receive("execution.AdditionalRepairReported", queue_id=scenario.saga.queue_id, items=[],
                     notes="").expect_ignored()
    with pytest.raises(InvalidSagaMessage):
        scenario.receive("execution.AdditionalRepairReported", queue_id=scenario.saga.queue_id,
                         items=[{**EXTRA_FILTER, "quantity": 0}], notes="")


# --- the job's news lost on the way ---------------------------------------------------------------
def test_a_saga_waiting_on_a_mechanic_looks_at_the_job_now_and_then():
    scenario = SagaScenario().in_execution()
    queue_id = scenario.saga.queue_id
    scenario.later(seconds=CONFIG.job_check_interval.total_seconds() - 5).sweep()
    assert scenario.last.effects == []  # not yet
    scenario.later(seconds=10).sweep()
    assert scenario.last.effects == [CheckWork(queue_id)]
    assert scenario.saga.deadline == scenario.saga.check_due_at > iso(scenario.now)  # and again later
    scenario.receive("execution.WorkCompleted", queue_id=queue_id, notes="ok").expect("os.ConsumeParts")
    assert scenario.saga.check_due_at is None
    scenario.later(hours=1).sweep()
    assert scenario.last.effects == []  # the job is closed: nothing more to look at


def test_a_saga_waiting_for_the_payment_asks_billing_again_now_and_then():
    """A PaymentApproved the broker lost would end in the payment timeout and a refund: the saga
    asks again (the same request; Billing answers with what became of the payment)."""
    scenario = SagaScenario().awaiting_payment()
    first = next(c.payload for c in scenario.sent if c.type == "billing.RequestPayment")
    check = CONFIG.payment_check_interval.total_seconds() + 1
    scenario.later(seconds=check).sweep().expect("billing.RequestPayment", "os.ChangeStatus")
    assert scenario.command("billing.RequestPayment") == first
    scenario.receive("billing.PaymentRequested", **payment_requested()).expect_ignored()  # still pending
    scenario.later(seconds=check).sweep().expect("billing.RequestPayment", "os.ChangeStatus")
    scenario.receive("billing.PaymentApproved", **payment_approved()).expect("os.ChangeStatus")
    assert scenario.change_status()["to"] == "IN_EXECUTION"


def test_a_saga_waiting_for_the_payment_tells_the_os_again_what_to_pay():
    """Seen in the fault run: the broker lost os.ChangeStatus AWAITING_PAYMENT, the order stayed
    AWAITING_APPROVAL without its Pix, nobody paid and the payment expired. Each check tells the
    OS again (the same status, the payment in the summary)."""
    scenario = SagaScenario().awaiting_payment()
    scenario.later(seconds=CONFIG.payment_check_interval.total_seconds() + 1).sweep()
    told = scenario.change_status()
    assert told["to"] == "AWAITING_PAYMENT" and told["summary"]["payment"]["status"] == "PENDING"
    assert told["summary"]["payment"]["qr_code"] and told["summary"]["payment"]["payment_url"] == payment_page()


def test_an_expired_payment_is_not_asked_for_again_before_it_is_undone():
    scenario = SagaScenario().awaiting_payment()
    scenario.later(seconds=CONFIG.payment_timeout.total_seconds() + 1).sweep()
    assert "billing.RequestPayment" not in [c.type for c in scenario.last.commands]
    assert scenario.status == "COMPENSATING"
