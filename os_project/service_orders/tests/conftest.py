"""An order diagnosed as two jobs, and the saga summaries of its budget decided line by line."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from catalog.services import part_create, service_create
from service_orders.services import service_order_start_diagnosis, service_order_submit_diagnosis

BUDGET_ID = "0f6d2b7e-2d4c-4b8e-9a57-7f3c1d2e4a10"


@pytest.fixture
def alignment(db: Any) -> Any:
    return service_create(name="Alinhamento", price=Decimal("90.00"), estimated_minutes=30)


@pytest.fixture
def wiper(db: Any) -> Any:
    return part_create(sku="PALHETA", name="Palheta do limpador", unit_price=Decimal("45.00"), quantity_in_stock=4,
                       may_decline_alone=True)


@pytest.fixture
def two_jobs(order: Any, oil_change: Any, oil_filter: Any, alignment: Any, wiper: Any) -> Any:
    """Lines 1-2 are job 1 (oil change, its filter); lines 3-4 job 2 (alignment, a wiper blade that may be
    declined alone)."""
    service_order_start_diagnosis(service_order_id=order.pk, by="mario")
    return service_order_submit_diagnosis(
        service_order_id=order.pk, notes="Revisão", by="mario",
        items=[{"kind": "service", "catalog_id": oil_change.pk, "quantity": 1, "job": 1},
               {"kind": "part", "catalog_id": oil_filter.pk, "quantity": 1, "job": 1},
               {"kind": "service", "catalog_id": alignment.pk, "quantity": 1, "job": 2},
               {"kind": "part", "catalog_id": wiper.pk, "quantity": 2, "job": 2}])


def declined_line(order: Any, line_id: int) -> dict[str, Any]:
    item = order.items.get(line_id=line_id)
    return {"line_id": line_id, "kind": item.kind, "catalog_id": str(item.catalog_id),
            "description": item.description, "quantity": item.quantity, "unit_price_cents": item.unit_price_cents,
            "job": item.job, "optional": item.optional}


def budget_summary(order: Any, *, status: str = "APPROVED", version: int = 1, declined: tuple[int, ...] = (),
                   extra_lines: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    """The ``budget`` of the saga's summary after the customer declined lines ``declined``."""
    lines = [declined_line(order, line_id) for line_id in declined] + list(extra_lines)
    declined_total = sum(line["quantity"] * line["unit_price_cents"] for line in lines)
    quoted = sum(item.total_cents for item in order.items.all())
    budget = {"budget_id": BUDGET_ID, "version": version, "status": status, "total_cents": quoted - declined_total}
    if lines:
        budget.update(quoted_total_cents=quoted, declined_total_cents=declined_total, declined_lines=lines)
    return budget
