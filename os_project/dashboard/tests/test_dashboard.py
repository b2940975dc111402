from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalog.models import Part
from catalog.services import part_create
from dashboard import selectors
from oficina_common.html_testing import by_testid, one
from service_orders.models import ServiceOrder, StatusHistory
from service_orders.services import service_order_create

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/dashboard/"


def open_order(customer, vehicle, *, status="RECEIVED", created_at=None):
    order = service_order_create(customer_id=customer.pk, vehicle_id=vehicle.pk, complaint="x", by="ana")
    ServiceOrder.objects.filter(pk=order.pk).update(status=status, created_at=created_at or timezone.now())
    return order


def history(order, steps, start):
    StatusHistory.objects.filter(service_order=order).delete()
    StatusHistory.objects.bulk_create(
        StatusHistory(service_order=order, to_status=status, at=start + timedelta(seconds=seconds), by="test")
        for status, seconds in steps)


def part(sku, *, stock, reserved=0, minimum=0, active=True):
    created = part_create(sku=sku, name=f"Peça {sku}", unit_price=Decimal("10.00"), quantity_in_stock=stock,
                          minimum_stock=minimum)
    Part.objects.filter(pk=created.pk).update(quantity_reserved=reserved, active=active)
    return created


@pytest.fixture
def workshop(customer, vehicle):
    """Known data: 7 orders in four statuses, two timed histories, four parts of which two are low."""
    now = timezone.now()
    for status, days_ago in [("RECEIVED", 0), ("RECEIVED", 0), ("RECEIVED", 1), ("IN_EXECUTION", 10),
                             ("IN_EXECUTION", 29), ("DELIVERED", 30), ("CANCELLED", 45)]:
        open_order(customer, vehicle, status=status, created_at=now - timedelta(days=days_ago))
    timed = list(ServiceOrder.objects.filter(status="IN_EXECUTION"))
    start = now - timedelta(days=2)
    history(timed[0], [("RECEIVED", 0), ("IN_DIAGNOSIS", 600), ("AWAITING_APPROVAL", 4200), ("IN_EXECUTION", 4500)],
            start)
    history(timed[1], [("RECEIVED", 0), ("IN_DIAGNOSIS", 1800)], start)
    part("PASTILHA", stock=5, reserved=4, minimum=1)      # free 1 = minimum: low
    part("VELA", stock=2, reserved=2, minimum=3)          # free 0: low, and the emptiest
    part("OLEO", stock=20, minimum=5)                     # plenty
    part("ANTIGA", stock=0, minimum=2, active=False)      # no longer sold: not on the dashboard
    return now


def test_the_numbers_are_right_for_known_data(workshop):
    data = selectors.dashboard(now=workshop)
    assert data.per_status == {"RECEIVED": 3, "IN_DIAGNOSIS": 0, "AWAITING_APPROVAL": 0, "AWAITING_PAYMENT": 0,
                               "IN_EXECUTION": 2, "FINISHED": 0, "DELIVERED": 1, "CANCELLED": 1}
    assert data.active_orders == 5
    days = dict(data.opened_per_day)
    assert len(days) == 30 and sum(days.values()) == data.opened_in_window == 5  # 30 and 45 days ago are out
    today = timezone.localtime(workshop, timezone=selectors.ZoneInfo("America/Sao_Paulo")).date()
    assert (days[today], days[today - timedelta(days=1)], days[today - timedelta(days=10)],
            days[today - timedelta(days=29)]) == (2, 1, 1, 1)
    assert {row["status"]: row["average_seconds"] for row in data.time_in_status} == {
        "RECEIVED": 1200.0, "IN_DIAGNOSIS": 3600.0, "AWAITING_APPROVAL": 300.0}
    assert [(p.sku, p.free, p.minimum) for p in data.low_stock] == [("VELA", 0, 3), ("PASTILHA", 1, 1)]
    assert data.more_low_stock is False


def test_days_are_the_workshops_calendar_days(customer, vehicle):
    # 01:30 UTC on 11 March is still 10 March in São Paulo (UTC-3).
    open_order(customer, vehicle, created_at=datetime(2025, 3, 11, 1, 30, tzinfo=UTC))
    open_order(customer, vehicle, created_at=datetime(2025, 3, 11, 3, 30, tzinfo=UTC))
    days = dict(selectors.orders_opened_per_day(today=date(2025, 3, 11), days=3))
    assert days == {date(2025, 3, 9): 0, date(2025, 3, 10): 1, date(2025, 3, 11): 1}


def test_only_the_emptiest_low_stock_parts_are_listed(db):
    for n in range(4):
        part(f"P{n}", stock=n, minimum=5)
    parts, more = selectors.low_stock_parts(limit=3)
    assert [p.sku for p in parts] == ["P0", "P1", "P2"] and more is True


@pytest.fixture
def staff_client(client, make_user):
    def login(role="attendant", **extra):
        client.force_login(make_user(f"user-{role or 'none'}", role, is_staff=True, **extra))
        return client
    return login


def test_the_dashboard_draws_the_numbers(staff_client, workshop):
    response = staff_client("attendant").get(DASHBOARD)
    assert response.status_code == 200
    html = response.content.decode()
    assert one(html, "kpi-active").text == "5" and one(html, "kpi-opened").text == "5"
    assert one(html, "kpi-low-stock").text == "2"
    bars = {bar["data-status"]: bar for bar in by_testid(html)["status-bar"]}
    assert {status: int(bar["data-value"]) for status, bar in bars.items()}["RECEIVED"] == 3
    assert "Recebida" in bars["RECEIVED"].text and "width: 100.0%" in html  # the longest bar
    columns = by_testid(html)["day-column"]
    assert len(columns) == 30 and sum(int(c["data-value"]) for c in columns) == 5
    assert columns[-1]["data-value"] == "2" and "2 ordens" in columns[-1].text
    assert '<svg class="columns"' in html and "<script" not in one(html, "dashboard").text
    times = {bar["data-status"]: bar.text for bar in by_testid(html)["time-bar"]}
    assert "1 h 00 min · 1 passagem" in times["IN_DIAGNOSIS"] and "20 min · 2 passagens" in times["RECEIVED"]
    assert [p["data-sku"] for p in by_testid(html)["low-stock-part"]] == ["VELA", "PASTILHA"]
    assert "cdn" not in html.lower()


def test_the_dashboard_costs_the_same_few_queries_however_much_data(staff_client, customer, vehicle, workshop,
                                                                   django_assert_max_num_queries):
    client = staff_client("", is_superuser=True)
    with CaptureQueriesContext(connection) as before:
        assert client.get(DASHBOARD).status_code == 200
    for n in range(15):
        order = open_order(customer, vehicle, status="IN_EXECUTION", created_at=workshop - timedelta(days=n))
        history(order, [("RECEIVED", 0), ("IN_DIAGNOSIS", 60 * n)], workshop - timedelta(days=3))
        part(f"LOW{n}", stock=1, minimum=3)
    # session, user, then one query per chart (two for the execution-time report, one for declined work)
    with django_assert_max_num_queries(8):
        response = client.get(DASHBOARD)
    assert response.status_code == 200 and one(response.content, "kpi-active").text == "20"
    with CaptureQueriesContext(connection) as after:
        client.get(DASHBOARD)
    assert len(after) == len(before)


def test_the_admin_index_links_to_the_dashboard(staff_client):
    html = staff_client("admin").get(reverse("admin:index")).content.decode()
    assert one(html, "dashboard-link")["href"] == DASHBOARD


@pytest.mark.parametrize("role", ["admin", "attendant", "mechanic"])
def test_every_staff_role_sees_the_dashboard(staff_client, role):
    response = staff_client(role).get(DASHBOARD)
    assert response.status_code == 200 and one(response.content, "low-stock-none")


def test_others_do_not_see_the_dashboard(client, make_user):
    assert client.get(DASHBOARD).status_code == 302  # to the admin login
    client.force_login(make_user("former", "", is_staff=True))  # staff flag but no role
    assert client.get(DASHBOARD).status_code == 403
    client.force_login(make_user("desk", "attendant", is_staff=False))  # a role, but no admin access
    response = client.get(DASHBOARD)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
