"""The dashboard's declined revenue per month, and how much of it came back."""
from datetime import UTC, date, datetime

import pytest

from dashboard import selectors
from oficina_common.html_testing import by_testid
from service_orders.models import DeclinedWork

pytestmark = pytest.mark.django_db


def declined(order, line_id, cents, at, came_back_in=None):
    return DeclinedWork.objects.create(vehicle_id=order.vehicle_id, service_order=order, budget_id="b", version=1,
                                       line_id=line_id, kind="service", catalog_id=1, description="x", quantity=1,
                                       unit_price_cents=cents, declined_at=at, came_back_in=came_back_in)


def test_declined_revenue_per_month_and_what_came_back(order, customer, vehicle):
    from service_orders.services import service_order_create

    back = service_order_create(customer_id=customer.pk, vehicle_id=vehicle.pk, complaint="Retorno", by="x")
    declined(order, 1, 10000, datetime(2026, 11, 3, 12, tzinfo=UTC), came_back_in=back)
    declined(order, 2, 5000, datetime(2026, 11, 20, 12, tzinfo=UTC))
    # 02:00 UTC on 1 December is still 30 November in São Paulo
    declined(order, 3, 2500, datetime(2026, 12, 1, 2, tzinfo=UTC))
    declined(order, 4, 7000, datetime(2026, 12, 2, 12, tzinfo=UTC))
    declined(order, 5, 99900, datetime(2025, 12, 31, 12, tzinfo=UTC))  # 12 months ago: out of the window

    months = selectors.declined_per_month(today=date(2026, 12, 4))
    assert len(months) == 12 and months[0].month == date(2026, 1, 1) and months[-1].month == date(2026, 12, 1)
    november, december = months[-2], months[-1]
    assert (november.declined_cents, november.declined_lines, november.came_back_cents,
            november.came_back_lines) == (17500, 3, 10000, 1)
    assert (december.declined_cents, december.came_back_cents) == (7000, 0)
    assert sum(m.declined_cents for m in months[:-2]) == 0
    assert november.came_back_percent == 57.1


def test_the_dashboard_draws_declined_revenue(client, make_user, order):
    declined(order, 1, 12345, datetime.now(UTC))
    client.force_login(make_user("ana", "attendant", is_staff=True))
    html = client.get("/admin/dashboard/").content.decode()
    months = by_testid(html, "declined-month")
    assert len(months) == 12 and months[-1]["data-declined"] == "12345" and months[-1]["data-came-back"] == "0"
    assert by_testid(html, "declined-total")[0].text == "R$ 123,45"
