"""Additional repairs are reported by catalog item and quantity; the OS catalogue prices them,
never the mechanic (who would otherwise set the price of his own charge)."""
from __future__ import annotations

from ..factories import TOTAL_CENTS, budget_created
from ..saga_support import SagaScenario

PADS = {"kind": "part", "catalog_id": "9", "quantity": 2, "job": 1}
PRICED_PADS = {**PADS, "description": "Pastilha de freio", "unit_price_cents": 8000, "optional": False}


def _reported(**extra) -> SagaScenario:
    scenario = SagaScenario().in_execution()
    return scenario.receive("execution.AdditionalRepairReported", queue_id=scenario.saga.queue_id,
                            items=[{**PADS, **extra}], notes="Pastilhas gastas")


def test_a_report_is_priced_by_the_os_before_billing_hears_of_it():
    scenario = _reported().expect("os.PriceItems")
    assert scenario.command("os.PriceItems") == {"items": [PADS]}
    assert scenario.saga.active_revision.status == "REQUESTED"
    scenario.receive("os.ItemsPriced", items=[PRICED_PADS]).expect("billing.ReviseBudget")
    assert scenario.command("billing.ReviseBudget")["items"] == [PRICED_PADS]


def test_a_price_in_the_report_never_reaches_the_budget():
    scenario = _reported(unit_price_cents=1, description="de graça")
    assert scenario.command("os.PriceItems") == {"items": [PADS]}
    scenario.receive("os.ItemsPriced", items=[PRICED_PADS])
    scenario.receive("billing.BudgetCreated", **budget_created(version=2, total_cents=TOTAL_CENTS + 16000,
                                                                revision=True, additional_total_cents=16000))
    assert scenario.saga.active_revision.additional_total_cents == 16000


def test_items_the_catalogue_cannot_price_end_the_revision_and_the_work_goes_on():
    scenario = _reported()
    scenario.receive("os.ItemsPricingFailed", items=[PADS], reason="items[0]: there is no active part with id 9.")
    revision = scenario.saga.active_revision
    assert revision.status == "FAILED" and "no active part" in revision.error
    scenario.receive("execution.WorkCompleted", queue_id=scenario.saga.queue_id, notes="ok").expect("os.ConsumeParts")


def test_pricing_never_answered_is_given_up_and_a_late_answer_ignored():
    scenario = _reported()
    for _ in range(4):
        scenario.later(seconds=61).sweep()
    assert scenario.saga.active_revision.status == "FAILED"
    scenario.receive("os.ItemsPriced", items=[PRICED_PADS]).expect_ignored()


def test_a_second_report_while_the_first_is_priced_is_ignored():
    scenario = _reported()
    scenario.receive("execution.AdditionalRepairReported", queue_id=scenario.saga.queue_id, items=[PADS],
                     notes="de novo").expect_ignored()
