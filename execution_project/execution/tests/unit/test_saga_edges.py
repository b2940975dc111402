"""The edges workshops hit every week, on the pure saga: long reasons, revisions made by staff,
replies that overtake each other, late replies to steps the saga gave up on, payments made twice."""
from __future__ import annotations

from execution.domain import FAR_FUTURE
from oficina_common.messages import TEXT_LIMIT

from ..factories import OIL_CHANGE, OIL_FILTERS, TOTAL_CENTS, budget_created, payment_approved, payment_requested
from ..saga_support import FAILED, SagaScenario

EXTRA_PADS = {"kind": "part", "catalog_id": "9", "description": "Pastilha de freio", "quantity": 1,
              "unit_price_cents": 8000, "job": 1, "optional": False}
BRAKE_JOB = {"kind": "service", "catalog_id": "3", "description": "Troca de pastilhas", "quantity": 1,
             "unit_price_cents": 5000, "job": 1, "optional": False}


def _approved(scenario: SagaScenario, version: int = 1, total_cents: int = TOTAL_CENTS) -> SagaScenario:
    return scenario.receive("billing.BudgetApproved", budget_id="b-1", version=version, total_cents=total_cents,
                            decided_by="customer")


def _staff_revision(scenario: SagaScenario, *items: dict, version: int = 2) -> SagaScenario:
    extra = sum(i["quantity"] * i["unit_price_cents"] for i in items)
    return scenario.receive("billing.BudgetCreated", **budget_created(
        version=version, total_cents=TOTAL_CENTS + extra, revision=True, origin="staff",
        additional_total_cents=extra, items=list(items), lines=[OIL_CHANGE, OIL_FILTERS, *items]))


# --- a compensation is never refused for a cosmetic field ------------------------------------
def test_a_paid_order_cancelled_with_a_900_character_reason_is_refunded_with_a_reason_billing_stores():
    scenario = SagaScenario().in_execution()
    scenario.receive("os.OrderCancelled", reason="O cliente desistiu. " * 45, cancelled_by="attendant")
    refund = scenario.command("billing.RefundPayment")
    assert refund["payment_id"] == "p-1"
    assert len(refund["reason"]) <= TEXT_LIMIT and refund["reason"].startswith("Service order cancelled: O cliente")
    assert len(scenario.saga.cause) > 900  # the saga and the OS keep the whole reason


def test_a_job_failed_with_a_2000_character_reason_is_refunded_with_a_reason_billing_stores():
    scenario = SagaScenario().in_execution()
    scenario.receive("execution.WorkFailed", queue_id=scenario.saga.queue_id, reason="x" * 2000)
    assert len(scenario.command("billing.RefundPayment")["reason"]) <= TEXT_LIMIT
    assert len(scenario.command("os.ReleaseParts")["parts"]) == 1


# --- a budget version created anywhere reaches the saga --------------------------------------
def test_a_staff_revision_while_the_customer_decides_becomes_the_version_awaited_and_is_charged_whole():
    scenario = SagaScenario().awaiting_approval()
    _staff_revision(scenario, EXTRA_PADS).expect("os.ChangeStatus")
    assert scenario.saga.budget.version == 2
    assert "v2" in scenario.change_status()["reason"]
    _approved(scenario, version=1).expect_ignored()  # the superseded version decides nothing
    _approved(scenario, version=2, total_cents=TOTAL_CENTS + 8000).expect("os.ReserveParts")
    assert scenario.command("os.ReserveParts") == {"parts": [{"catalog_id": "7", "quantity": 2},
                                                             {"catalog_id": "9", "quantity": 1}]}
    scenario.receive("os.PartsReserved", parts=[{"catalog_id": "7", "quantity": 2}, {"catalog_id": "9", "quantity": 1}])
    request = scenario.command("billing.RequestPayment")
    assert (request["version"], request["amount_cents"]) == (2, TOTAL_CENTS + 8000)


def test_a_staff_revision_during_the_work_awaits_the_customer_and_charges_the_difference():
    scenario = SagaScenario().in_execution()
    _staff_revision(scenario, BRAKE_JOB, EXTRA_PADS).expect("os.ChangeStatus")
    revision = scenario.saga.active_revision
    assert (revision.status, revision.budget_version, revision.additional_total_cents) == ("PENDING_APPROVAL", 2, 13000)
    _approved(scenario, version=2, total_cents=TOTAL_CENTS + 13000)
    scenario.expect("os.ReserveParts", "billing.RequestPayment", "os.ChangeStatus")
    assert scenario.command("os.ReserveParts") == {"parts": [{"catalog_id": "9", "quantity": 1}]}
    assert scenario.command("billing.RequestPayment")["amount_cents"] == 13000


def test_a_staff_revision_while_the_payment_is_under_way_is_cancelled_and_its_decision_ignored():
    scenario = SagaScenario().awaiting_payment()
    _staff_revision(scenario, EXTRA_PADS).expect("billing.CancelBudget")
    assert scenario.command("billing.CancelBudget")["budget_id"] == "b-1"
    assert scenario.saga.budget.version == 1
    _approved(scenario, version=2).expect_ignored()
    scenario.receive("billing.BudgetCancelled", budget_id="b-1", version=2).expect_ignored()
    assert scenario.saga.budget.status == "APPROVED"


# --- replies in any order ----------------------------------------------------------------------
def test_an_approval_that_overtakes_its_budget_is_handled_again_later_not_dropped():
    scenario = SagaScenario().start()
    _approved(scenario)
    assert scenario.last.deferred and not scenario.last.changed and not scenario.commands
    scenario.receive("billing.BudgetCreated", **budget_created())
    _approved(scenario).expect("os.ReserveParts")


def test_a_decision_on_a_revision_not_heard_of_yet_is_deferred():
    scenario = SagaScenario().awaiting_approval()
    scenario.receive("billing.BudgetRejected", budget_id="b-1", version=2, reason="caro", decided_by="c")
    assert scenario.last.deferred
    assert scenario.status == "IN_PROGRESS"


def test_news_of_the_job_before_the_saga_recorded_it_is_deferred():
    scenario = SagaScenario().awaiting_payment().receive("billing.PaymentApproved", **payment_approved())
    scenario.receive("execution.WorkCompleted", queue_id=scenario.saga.queue_id, notes="ok")
    assert scenario.last.deferred
    scenario.enqueued().receive("execution.WorkCompleted", queue_id=scenario.saga.queue_id, notes="ok")
    scenario.expect("os.ConsumeParts")


# --- a late reply to a timed-out or compensated step is undone ----------------------------------
def _reserving(scenario: SagaScenario) -> SagaScenario:
    return _approved(scenario.awaiting_approval())


def _time_out_reservation(scenario: SagaScenario) -> SagaScenario:
    for _ in range(3):
        scenario.later(seconds=61).sweep()
    assert scenario.status == "COMPENSATING" and scenario.step(3).status == FAILED
    return scenario


def test_parts_reserved_after_the_reservation_timed_out_are_released():
    scenario = _time_out_reservation(_reserving(SagaScenario()))
    scenario.receive("billing.BudgetCancelled", budget_id="b-1", version=1)
    assert scenario.status == "COMPENSATING"  # the reservation is still awaited, to undo it
    scenario.receive("os.PartsReserved", parts=[{"catalog_id": "7", "quantity": 2}]).expect("os.ReleaseParts")
    assert scenario.command("os.ReleaseParts") == {"parts": [{"catalog_id": "7", "quantity": 2}]}
    scenario.receive("os.PartsReleased", parts=[{"catalog_id": "7", "quantity": 2}])
    assert scenario.status == "COMPENSATED"
    assert scenario.saga.reserved_parts == []


def test_a_reservation_never_answered_is_released_blindly_and_a_later_one_too():
    scenario = _time_out_reservation(_reserving(SagaScenario()))
    scenario.receive("billing.BudgetCancelled", budget_id="b-1", version=1)
    scenario.later(seconds=61).sweep().expect("os.ReleaseParts")
    scenario.receive("os.PartsReleased", parts=[])
    assert scenario.status == "COMPENSATED"
    # The reservation landed after the blind release: it is given back too.
    scenario.receive("os.PartsReserved", parts=[{"catalog_id": "7", "quantity": 2}]).expect("os.ReleaseParts")


def _time_out_payment_request(scenario: SagaScenario) -> SagaScenario:
    _reserving(scenario).receive("os.PartsReserved", parts=[{"catalog_id": "7", "quantity": 2}])
    for _ in range(3):
        scenario.later(seconds=61).sweep()
    assert scenario.status == "COMPENSATING"
    scenario.receive("os.PartsReleased", parts=[{"catalog_id": "7", "quantity": 2}])
    scenario.receive("billing.BudgetCancelled", budget_id="b-1", version=1)
    assert scenario.status == "COMPENSATING"  # the payment request is still awaited
    return scenario


def test_a_payment_requested_after_the_request_timed_out_is_cancelled():
    scenario = _time_out_payment_request(SagaScenario())
    scenario.receive("billing.PaymentRequested", **payment_requested()).expect("billing.CancelPayment")
    scenario.receive("billing.PaymentCancelled", payment_id="p-1")
    assert scenario.status == "COMPENSATED"


def test_a_payment_approved_after_the_request_timed_out_is_refunded():
    scenario = _time_out_payment_request(SagaScenario())
    scenario.receive("billing.PaymentApproved", **payment_approved()).expect("billing.RefundPayment")
    scenario.receive("billing.PaymentRefunded", payment_id="p-1", mercadopago_payment_id="9001",
                     amount_cents=TOTAL_CENTS)
    assert scenario.status == "COMPENSATED"
    assert scenario.saga.payment("p-1").status == "REFUNDED"


def test_a_payment_request_never_answered_is_cancelled_blindly_by_budget_and_version():
    scenario = _time_out_payment_request(SagaScenario())
    scenario.later(seconds=61).sweep().expect("billing.CancelPayment")
    assert scenario.command("billing.CancelPayment")["budget_id"] == "b-1"
    assert scenario.command("billing.CancelPayment")["version"] == 1
    # Billing had made the payment and the customer paid it: Billing refunds it and says so.
    scenario.receive("billing.PaymentRefunded", payment_id="p-7", mercadopago_payment_id="9007",
                     amount_cents=TOTAL_CENTS)
    assert scenario.status == "COMPENSATED"
    assert scenario.saga.payment("p-7").status == "REFUNDED"
    assert scenario.saga.deadline != FAR_FUTURE or scenario.saga.is_terminal


def test_a_payment_that_appears_while_compensating_is_cancelled_and_awaited():
    scenario = _time_out_payment_request(SagaScenario())
    scenario.later(seconds=61).sweep().expect("billing.CancelPayment")
    scenario.receive("billing.PaymentRequested", **payment_requested("p-3")).expect("billing.CancelPayment")
    scenario.receive("billing.PaymentCancelled", payment_id="p-3")
    assert scenario.status == "COMPENSATING"  # the blind cancellation is still unanswered
    scenario.receive("billing.PaymentFailed", payment_id="p-3", status="CANCELLED",
                     reason="cancelled before it was requested")
    assert scenario.status == "COMPENSATED"


# --- a second approved payment for one preference -------------------------------------------
def test_a_second_payment_for_the_same_order_refunded_by_billing_is_recorded_and_shown():
    scenario = SagaScenario().in_execution()
    scenario.receive("billing.PaymentRefunded", payment_id="p-1", mercadopago_payment_id="9555",
                     amount_cents=TOTAL_CENTS, status="REFUNDED", duplicate=True,
                     reason="second payment for the same order").expect("os.ChangeStatus")
    summary = scenario.change_status()["summary"]
    assert summary["payment"]["status"] == "APPROVED"  # the order's own payment stands
    assert summary["duplicate_payments_refunded"] == [{"mercadopago_payment_id": "9555",
                                                       "amount_cents": TOTAL_CENTS}]
    assert scenario.status == "IN_PROGRESS"
    scenario.receive("billing.PaymentRefunded", payment_id="p-1", mercadopago_payment_id="9555",
                     amount_cents=TOTAL_CENTS, duplicate=True).expect_ignored()


# --- what the model check found (test_saga_model.py), each as a plain regression test ---------
def test_a_cancellation_answered_by_a_refund_is_an_answer():
    """Found: a staff cancel asked to cancel a Pix the customer had paid meanwhile (its approval
    was lost); Billing refunded it, and the saga waited for a cancellation for ever."""
    scenario = SagaScenario().awaiting_payment()
    scenario.receive("os.OrderCancelled", reason="desistiu", cancelled_by="a")
    assert scenario.command("billing.CancelPayment")["payment_id"] == "p-1"
    scenario.receive("os.PartsReleased", parts=[{"catalog_id": "7", "quantity": 2}])
    scenario.receive("billing.BudgetCancelled", budget_id="b-1", version=1)
    scenario.receive("billing.PaymentRefunded", payment_id="p-1", mercadopago_payment_id="9001",
                     amount_cents=TOTAL_CENTS)
    assert scenario.status == "COMPENSATED"


def test_a_cancel_answering_the_latest_version_answers_the_awaited_cancellation():
    """Found: Billing cancels a budget's latest version; when that was a staff revision the
    saga had set aside, the answer was ignored and the compensation never ended."""
    scenario = SagaScenario().start()
    scenario.receive("os.OrderCancelled", reason="desistiu", cancelled_by="a")
    scenario.receive("billing.BudgetCreated", **budget_created()).expect("billing.CancelBudget")
    _staff_revision(scenario, EXTRA_PADS).expect("billing.CancelBudget")
    scenario.receive("billing.BudgetCancelled", budget_id="b-1", version=2)
    assert scenario.status == "COMPENSATED"


def test_a_failed_saga_that_hears_the_confirmation_after_all_ends_compensated():
    """Found: a cancellation confirmed after the saga had given up waiting left it FAILED for good."""
    scenario = SagaScenario().awaiting_payment()
    scenario.receive("os.OrderCancelled", reason="desistiu", cancelled_by="a")
    scenario.receive("os.PartsReleased", parts=[{"catalog_id": "7", "quantity": 2}])
    scenario.receive("billing.BudgetCancelled", budget_id="b-1", version=1)
    for _ in range(3):
        scenario.later(seconds=61).sweep()
    assert scenario.status == "FAILED"
    scenario.receive("billing.PaymentFailed", payment_id="p-1", status="REJECTED", reason="recusado")
    assert scenario.status == "COMPENSATED"


def test_a_cancel_that_races_the_end_of_the_work_refunds_the_customer():
    """Found: the OS cancelled the order while the saga finished the work: the order was
    CANCELLED and the customer's money kept. The saga compensates the payments."""
    scenario = SagaScenario().in_execution()
    scenario.receive("execution.WorkCompleted", queue_id=scenario.saga.queue_id, notes="ok")
    scenario.receive("os.PartsConsumed", parts=[{"catalog_id": "7", "quantity": 2}])
    assert scenario.status == "COMPLETED"
    scenario.receive("os.OrderCancelled", reason="desistiu", cancelled_by="a").expect("billing.RefundPayment")
    assert scenario.status == "COMPENSATING"
    scenario.later(seconds=61).sweep().expect("billing.RefundPayment")  # a lost refund is sent again
    scenario.receive("billing.PaymentRefunded", payment_id="p-1", mercadopago_payment_id="9001",
                     amount_cents=TOTAL_CENTS)
    assert scenario.status == "COMPENSATED"


def test_a_revision_approved_after_the_work_was_finished_is_cancelled_not_charged():
    """Found: the customer approved additional repairs while the mechanic closed the job; the
    extra parts were reserved for good and a payment asked for work never done."""
    scenario = SagaScenario().in_execution()
    _staff_revision(scenario, EXTRA_PADS)
    scenario.receive("execution.WorkCompleted", queue_id=scenario.saga.queue_id, notes="ok")
    scenario.expect("billing.CancelBudget", "os.ConsumeParts")
    assert scenario.saga.active_revision.status == "FAILED"
    _approved(scenario, version=2, total_cents=TOTAL_CENTS + 8000).expect_ignored()
    scenario.receive("os.PartsConsumed", parts=[{"catalog_id": "7", "quantity": 2}])
    assert scenario.status == "COMPLETED"


def test_a_late_payment_after_the_saga_is_over_is_refunded_and_awaited_until_confirmed():
    """Found: the refund of a payment approved after the saga was over went out once; lost by the
    broker, the money stayed. The saga compensates again until the refund is confirmed."""
    scenario = SagaScenario().awaiting_approval()
    scenario.receive("billing.BudgetRejected", budget_id="b-1", version=1, reason="não", decided_by="c")
    scenario.receive("billing.BudgetCancelled", budget_id="b-1", version=1)
    assert scenario.status == "COMPENSATED"
    scenario.receive("billing.PaymentApproved", **payment_approved("p-8")).expect("billing.RefundPayment")
    assert scenario.status == "COMPENSATING"
    scenario.later(seconds=61).sweep().expect("billing.RefundPayment")
    scenario.receive("billing.PaymentRefunded", payment_id="p-8", mercadopago_payment_id="9001",
                     amount_cents=TOTAL_CENTS)
    assert scenario.status == "COMPENSATED"


def test_staff_revisions_that_arrive_out_of_order_leave_the_saga_awaiting_the_newest_version_whole():
    """Found by the model check: v3 reached the saga before v2; the pads v2 added were charged in
    v3's total but never reserved. The saga takes a version's whole lines."""
    scenario = SagaScenario().awaiting_approval()
    scenario.receive("billing.BudgetCreated", **budget_created(
        version=3, total_cents=TOTAL_CENTS + 13000, revision=True, origin="staff", additional_total_cents=5000,
        items=[BRAKE_JOB], lines=[OIL_CHANGE, OIL_FILTERS, EXTRA_PADS, BRAKE_JOB]))
    _staff_revision(scenario, EXTRA_PADS).expect_ignored()  # v2, older than what is awaited
    _approved(scenario, version=3, total_cents=TOTAL_CENTS + 13000)
    assert scenario.command("os.ReserveParts") == {"parts": [{"catalog_id": "7", "quantity": 2},
                                                             {"catalog_id": "9", "quantity": 1}]}


def test_a_staff_revision_during_the_work_adds_what_its_lines_add_to_what_was_approved():
    scenario = SagaScenario().in_execution()
    scenario.receive("billing.BudgetCreated", **budget_created(
        version=3, total_cents=TOTAL_CENTS + 13000, revision=True, origin="staff", additional_total_cents=5000,
        items=[BRAKE_JOB], lines=[OIL_CHANGE, OIL_FILTERS, EXTRA_PADS, BRAKE_JOB]))
    revision = scenario.saga.active_revision
    assert revision.items == [EXTRA_PADS, BRAKE_JOB] and revision.additional_total_cents == 13000


def test_a_consumption_confirmed_after_the_saga_failed_for_a_person_completes_it():
    """Found: PartsConsumed came after the saga had given up waiting (FAILED for a person); it was
    ignored, and a staff cancel then left the order CANCELLED with the customer's money kept."""
    scenario = SagaScenario().in_execution()
    scenario.receive("execution.WorkCompleted", queue_id=scenario.saga.queue_id, notes="ok")
    for _ in range(3):
        scenario.later(seconds=61).sweep()
    assert scenario.status == "FAILED"
    scenario.receive("os.PartsConsumed", parts=[{"catalog_id": "7", "quantity": 2}])
    assert scenario.status == "COMPLETED"


def test_a_staff_cancel_of_a_failed_saga_keeps_the_refund_for_the_retry():
    scenario = SagaScenario().in_execution()
    scenario.receive("execution.WorkCompleted", queue_id=scenario.saga.queue_id, notes="ok")
    for _ in range(3):
        scenario.later(seconds=61).sweep()
    scenario.receive("os.OrderCancelled", reason="desistiu", cancelled_by="a").expect("billing.RefundPayment")
    assert [p.type for p in scenario.saga.stuck] == ["os.ConsumeParts", "billing.RefundPayment"]
    scenario.retry().expect("os.ConsumeParts", "billing.RefundPayment", "os.ChangeStatus")


def test_undoing_a_late_revision_in_a_saga_that_goes_on_compensates_no_step():
    """Found: the cancelled late revision marked the job's step COMPENSATED; the saga never completed."""
    scenario = SagaScenario().in_execution()
    scenario.reports(EXTRA_PADS, notes="pastilhas")
    scenario.receive("execution.WorkCompleted", queue_id=scenario.saga.queue_id, notes="ok")
    scenario.receive("billing.BudgetCreated", **budget_created(version=2, total_cents=TOTAL_CENTS + 8000,
                                                                revision=True, origin="saga",
                                                                additional_total_cents=8000))
    scenario.expect("billing.CancelBudget")
    scenario.receive("os.PartsConsumed", parts=[{"catalog_id": "7", "quantity": 2}])
    assert scenario.status == "IN_PROGRESS"  # it completes once the cancellation is confirmed
    scenario.receive("billing.BudgetCancelled", budget_id="b-1", version=2)
    assert scenario.status == "COMPLETED" and scenario.step("complete_work").status == "COMPLETED"
