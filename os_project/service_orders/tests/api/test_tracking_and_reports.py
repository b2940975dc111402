from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.services import service_create
from service_orders.models import ServiceOrder, StatusHistory
from service_orders.services import service_order_create

pytestmark = pytest.mark.django_db


def test_the_public_tracking_api_tells_progress_without_personal_data(anonymous_api, diagnosed_order):
    ServiceOrder.objects.filter(pk=diagnosed_order.pk).update(
        saga_summary={"budget": {"status": "PENDING_APPROVAL", "total_cents": 15850}, "payment": {}, "execution": {}})
    response = anonymous_api.get(f"/api/v1/tracking/{diagnosed_order.tracking_code}/")
    assert response.status_code == 200
    body = response.json()
    assert body["number"] == diagnosed_order.number and body["status"] == "IN_DIAGNOSIS"
    assert body["customer_first_name"] == "Maria"
    assert body["vehicle"] == {"brand": "Chevrolet", "model": "Onix", "year": 2020, "plate": "ABC••23"}
    assert [(h["to"], h["label"]) for h in body["status_history"]] == [("RECEIVED", "Recebida"),
                                                                       ("IN_DIAGNOSIS", "Em diagnóstico")]
    assert body["budget"]["status"] == "PENDING_APPROVAL"
    assert body["next_action"]["code"] == "wait"  # the budget waits, but the order is still in diagnosis
    assert body["updated_at"]
    text = response.content.decode()
    for private in ("da Silva", "52998224725", "maria@example.com", "99999", "mario", "Óleo vencido", "ABC1D23"):
        assert private not in text


def test_the_tracking_api_names_the_payment_page_the_page_sends_the_customer_to(anonymous_api, diagnosed_order):
    page_url = "https://billing.test/budgets/b-1/v1/payment/?t=signed.token"
    ServiceOrder.objects.filter(pk=diagnosed_order.pk).update(status="AWAITING_PAYMENT", saga_summary={
        "budget": {"status": "APPROVED"}, "payment": {"status": "REQUESTED", "amount_cents": 15550,
                                                      "payment_url": page_url}, "execution": {}})
    body = anonymous_api.get(f"/api/v1/tracking/{diagnosed_order.tracking_code}/").json()
    assert body["payment"] == {"status": "REQUESTED", "amount_cents": 15550, "payment_url": page_url}
    assert body["next_action"] == {"code": "pay_link", "text": (
        "Pague pelo botão “Pagar agora”, abaixo.")}


def test_the_tracking_page_and_the_detail_read_their_order_by_its_key_with_nothing_to_sort(
        anonymous_api, attendant_api, diagnosed_order, client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert anonymous_api.get(f"/api/v1/tracking/{diagnosed_order.tracking_code}/").status_code == 200
        assert client.get(f"/track/{diagnosed_order.tracking_code}/").status_code == 200
        assert attendant_api.get(f"/api/v1/service-orders/{diagnosed_order.pk}/").status_code == 200
    reads = [q["sql"] for q in queries
             if q["sql"].startswith("SELECT") and 'FROM "service_orders_serviceorder"' in q["sql"]]
    assert len(reads) == 3 and not [sql for sql in reads if "ORDER BY" in sql], reads


def test_a_well_formed_tracking_code_of_no_order_is_404(anonymous_api, diagnosed_order):
    unknown = diagnosed_order.tracking_code[::-1]
    assert not ServiceOrder.objects.filter(tracking_code=unknown).exists()
    response = anonymous_api.get(f"/api/v1/tracking/{unknown}/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_a_wrong_tracking_code_is_404_even_with_a_bad_token(anonymous_api):
    anonymous_api.credentials(HTTP_AUTHORIZATION="Bearer garbage")
    for code in ("nope", "a%00b", "x" * 65):
        response = anonymous_api.get(f"/api/v1/tracking/{code}/")
        assert response.status_code == 404 and response.json()["code"] == "not_found"


def _history(order, steps, start):
    StatusHistory.objects.filter(service_order=order).delete()
    previous = ""
    for status, seconds in steps:
        StatusHistory.objects.create(service_order=order, from_status=previous, to_status=status,
                                     at=start + timedelta(seconds=seconds), by="test")
        previous = status


@pytest.fixture
def timed_orders(customer, vehicle, oil_change):
    alignment = service_create(name="Alinhamento", price=Decimal("150.00"))
    start = timezone.now() - timedelta(days=1)
    first = service_order_create(customer_id=customer.pk, vehicle_id=vehicle.pk, complaint="a", by="ana",
                                 items=[{"kind": "service", "catalog_id": oil_change.pk, "quantity": 1}])
    second = service_order_create(customer_id=customer.pk, vehicle_id=vehicle.pk, complaint="b", by="ana",
                                  items=[{"kind": "service", "catalog_id": oil_change.pk, "quantity": 1},
                                         {"kind": "service", "catalog_id": alignment.pk, "quantity": 1}])
    still_open = service_order_create(customer_id=customer.pk, vehicle_id=vehicle.pk, complaint="c", by="ana",
                                      items=[{"kind": "service", "catalog_id": alignment.pk, "quantity": 1}])
    _history(first, [("RECEIVED", 0), ("IN_DIAGNOSIS", 100), ("AWAITING_APPROVAL", 300), ("AWAITING_PAYMENT", 400),
                     ("IN_EXECUTION", 500), ("FINISHED", 1100), ("DELIVERED", 1200)], start)
    _history(second, [("RECEIVED", 0), ("IN_DIAGNOSIS", 300), ("AWAITING_APPROVAL", 500), ("AWAITING_PAYMENT", 600),
                      ("IN_EXECUTION", 1000), ("FINISHED", 1200)], start)
    _history(still_open, [("RECEIVED", 0), ("IN_DIAGNOSIS", 50), ("AWAITING_APPROVAL", 60),
                          ("AWAITING_PAYMENT", 70), ("IN_EXECUTION", 80)], start)
    return oil_change, alignment


def test_the_report_averages_time_in_each_status_and_per_service(attendant_api, timed_orders,
                                                                 django_assert_max_num_queries):
    oil_change, alignment = timed_orders
    with django_assert_max_num_queries(3):  # the user, then one query per table of the report
        response = attendant_api.get("/api/v1/reports/execution-time/")
    assert response.status_code == 200
    body = response.json()
    per_status = {row["status"]: (row["average_seconds"], row["samples"]) for row in body["per_status"]}
    assert per_status == {
        "RECEIVED": (150.0, 3),             # 100, 300, 50
        "IN_DIAGNOSIS": (136.667, 3),       # 200, 200, 10
        "AWAITING_APPROVAL": (70.0, 3),     # 100, 100, 10
        "AWAITING_PAYMENT": (170.0, 3),     # 100, 400, 10
        "IN_EXECUTION": (400.0, 2),         # 600, 200; the open one is still running
        "FINISHED": (100.0, 1),
    }
    assert [row["status"] for row in body["per_status"]][:2] == ["RECEIVED", "IN_DIAGNOSIS"]
    assert body["per_service"] == [
        {"catalog_id": oil_change.pk, "name": "Troca de óleo", "average_execution_seconds": 400.0, "orders": 2},
        {"catalog_id": alignment.pk, "name": "Alinhamento", "average_execution_seconds": 200.0, "orders": 1},
    ]


def test_the_report_is_for_staff_only(mechanic_api, anonymous_api):
    assert mechanic_api.get("/api/v1/reports/execution-time/").json() == {"per_status": [], "per_service": []}
    assert anonymous_api.get("/api/v1/reports/execution-time/").status_code == 401
