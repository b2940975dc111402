"""Customers approve a budget job by job: the saga carries only the approved lines into the parts,
the payment and the work, and tells the OS what was declined (it keeps it per vehicle)."""
from __future__ import annotations

from typing import Any

from ..factories import OIL_CHANGE, OIL_FILTERS, TOTAL_CENTS, budget_created
from ..saga_support import SagaScenario

# Three jobs: the oil change with its filters (job 1), the brakes (job 2), the tyres (job 3).
BRAKES = {"kind": "service", "catalog_id": "3", "description": "Troca de pastilhas", "quantity": 1,
          "unit_price_cents": 5000, "job": 2}
PADS = {"kind": "part", "catalog_id": "9", "description": "Pastilha de freio", "quantity": 1,
        "unit_price_cents": 8000, "job": 2}
TYRES = {"kind": "part", "catalog_id": "11", "description": "Pneu 175/65 R14", "quantity": 4,
         "unit_price_cents": 30000, "job": 3}
ITEMS = [{**OIL_CHANGE, "job": 1}, {**OIL_FILTERS, "job": 1}, BRAKES, PADS, TYRES]
QUOTED = TOTAL_CENTS + 5000 + 8000 + 4 * 30000


def _lines(items: list[dict[str, Any]], declined_jobs: set[int] = frozenset(), first: int = 1) -> list[dict]:
    return [{**item, "line_id": n, "optional": False,
             "status": "DECLINED" if item["job"] in declined_jobs else "APPROVED"}
            for n, item in enumerate(items, start=first)]


def _tyres_declined() -> SagaScenario:
    scenario = SagaScenario().start(items=ITEMS).receive("billing.BudgetCreated",
                                                         **budget_created(total_cents=QUOTED))
    approved = QUOTED - 4 * 30000
    return scenario.receive("billing.BudgetApproved", budget_id="b-1", version=1, total_cents=approved,
                            decided_by="customer", declined_total_cents=4 * 30000,
                            lines=_lines(ITEMS, declined_jobs={3}))


def test_the_budget_carries_each_line_s_job_and_whether_it_may_be_declined_alone():
    scenario = SagaScenario().start(items=[*ITEMS[:4], {**TYRES, "optional": True}, {**BRAKES, "optional": True}])
    lines = scenario.command("billing.CreateBudget")["items"]
    assert [line["job"] for line in lines] == [1, 1, 2, 2, 3, 2]
    assert [line["optional"] for line in lines] == [False, False, False, False, True, False]  # never a service


def test_items_of_an_older_diagnosis_are_one_job():
    scenario = SagaScenario().start()
    assert {line["job"] for line in scenario.command("billing.CreateBudget")["items"]} == {1}


def test_declined_tyres_are_neither_reserved_nor_charged_nor_queued():
    scenario = _tyres_declined()
    assert scenario.command("os.ReserveParts") == {"parts": [{"catalog_id": "7", "quantity": 2},
                                                             {"catalog_id": "9", "quantity": 1}]}
    scenario.receive("os.PartsReserved", parts=scenario.command("os.ReserveParts")["parts"])
    assert scenario.command("billing.RequestPayment")["amount_cents"] == QUOTED - 4 * 30000
    assert [item["catalog_id"] for item in scenario.saga.order.items] == ["1", "7", "3", "9"]  # the job's work


def test_the_os_is_told_what_was_approved_and_what_was_declined():
    scenario = _tyres_declined()
    scenario.receive("os.PartsReserved", parts=scenario.command("os.ReserveParts")["parts"])
    change = scenario.change_status()  # the move at the reservation
    assert change["to"] == "AWAITING_PAYMENT"
    assert "approved in part" in change["reason"] and "R$ 1.200,00 declined" in change["reason"]
    budget = change["summary"]["budget"]
    assert (budget["total_cents"], budget["declined_total_cents"], budget["quoted_total_cents"]) == (
        QUOTED - 120000, 120000, QUOTED)
    assert [(line["line_id"], line["catalog_id"], line["quantity"]) for line in budget["declined_lines"]] == [
        (5, "11", 4)]


def test_a_budget_approved_whole_tells_the_os_nothing_declined():
    scenario = SagaScenario().start(items=ITEMS).receive("billing.BudgetCreated", **budget_created(total_cents=QUOTED))
    scenario.receive("billing.BudgetApproved", budget_id="b-1", version=1, total_cents=QUOTED,
                     decided_by="customer", lines=_lines(ITEMS))
    scenario.receive("os.PartsReserved", parts=scenario.command("os.ReserveParts")["parts"])
    assert "declined_lines" not in scenario.change_status()["summary"]["budget"]
    assert scenario.change_status()["reason"] == "Budget approved; waiting for the payment"


def test_a_redelivered_partial_approval_changes_nothing_twice():
    scenario = _tyres_declined()
    scenario.receive("billing.BudgetApproved", budget_id="b-1", version=1, total_cents=QUOTED - 120000,
                     decided_by="customer", declined_total_cents=120000,
                     lines=_lines(ITEMS, declined_jobs={3})).expect_ignored()
    assert len(scenario.saga.declined_lines) == 1


def test_additional_repairs_approved_in_part_reserve_and_charge_only_what_was_approved():
    scenario = SagaScenario().in_execution()
    wiper = {"kind": "service", "catalog_id": "21", "description": "Troca de palhetas", "quantity": 1,
             "unit_price_cents": 4000, "job": 1}
    blades = {"kind": "part", "catalog_id": "22", "description": "Palheta", "quantity": 2,
              "unit_price_cents": 2500, "job": 1}
    bulb = {"kind": "part", "catalog_id": "23", "description": "Lâmpada H4", "quantity": 1,
            "unit_price_cents": 3000, "job": 2}
    scenario.reports({**wiper, "optional": False}, {**blades, "optional": False}, {**bulb, "optional": False},
                     notes="Palhetas gastas, farol queimado")
    assert [i["job"] for i in scenario.command("billing.ReviseBudget")["items"]] == [1, 1, 2]
    added = 4000 + 5000 + 3000
    scenario.receive("billing.BudgetCreated", **budget_created(version=2, total_cents=TOTAL_CENTS + added,
                                                               revision=True, additional_total_cents=added))
    # Billing renumbers the revision's jobs after the version's own; the customer declines the bulb.
    lines = [*_lines([{**OIL_CHANGE, "job": 1}, {**OIL_FILTERS, "job": 1}]),
             *_lines([{**wiper, "job": 2}, {**blades, "job": 2}, {**bulb, "job": 3}], declined_jobs={3}, first=3)]
    scenario.receive("billing.BudgetApproved", budget_id="b-1", version=2, total_cents=TOTAL_CENTS + 9000,
                     decided_by="customer", additional_total_cents=9000, declined_total_cents=3000, lines=lines)
    assert scenario.command("os.ReserveParts") == {"parts": [{"catalog_id": "22", "quantity": 2}]}
    assert scenario.command("billing.RequestPayment")["amount_cents"] == 9000
    assert [line["catalog_id"] for line in scenario.saga.declined_lines] == ["23"]
    assert scenario.saga.budget.declined_total_cents == 3000
