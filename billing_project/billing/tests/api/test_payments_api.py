import uuid

import pytest

from billing import handlers, services
from billing.domain import Actor
from billing.tests import factories


@pytest.fixture
def payment(real):
    command = factories.create_budget(customer_id="42")
    budget = handlers.create_budget(command)
    services.budget_decide(budget_id=budget.budget_id, version=1, decision="approve", actor=Actor.customer("42"))
    return handlers.request_payment(factories.request_payment(command, budget.budget_id))


def test_the_customer_sees_how_to_pay(customer, payment):
    response = customer.get(f"/api/v1/payments/{payment.payment_id}/")
    assert response.status_code == 200
    body = response.json()
    assert body["payment_id"] == payment.payment_id and body["budget_id"] == payment.budget_id
    assert body["status"] == "PENDING" and body["amount_cents"] == factories.ITEMS_TOTAL
    assert body["method"] == "pix" and body["qr_code"] and body["qr_code_base64"]
    assert body["mercadopago_payment_id"] == payment.mercadopago_payment_id
    assert body["init_point"] == ""


def test_someone_elses_payment_does_not_exist(other_customer, client, payment):
    assert other_customer.get(f"/api/v1/payments/{payment.payment_id}/").status_code == 404
    assert client.get(f"/api/v1/payments/{payment.payment_id}/").status_code == 401
    listed = other_customer.get("/api/v1/payments/", {"service_order_id": payment.service_order_id})
    assert listed.status_code == 200 and listed.json()["results"] == []


def test_list_by_service_order(staff, customer, payment):
    for client in (staff, customer):
        response = client.get("/api/v1/payments/", {"service_order_id": payment.service_order_id})
        assert response.status_code == 200
        assert [p["payment_id"] for p in response.json()["results"]] == [payment.payment_id]
        assert response.json()["next_page_token"] is None


@pytest.mark.parametrize("params", [{}, {"service_order_id": "x" * 65}, {"service_order_id": "a", "limit": 0},
                                    {"service_order_id": "a", "page_token": "%%%"},
                                    {"service_order_id": "a", "page_token": "eyJwYXltZW50SWQiOiAxfQ"}])
def test_bad_filters_are_400(staff, real, params):
    response = staff.get("/api/v1/payments/", params)
    assert response.status_code == 400


@pytest.mark.parametrize("payment_id", [str(uuid.uuid4()), "123"])
def test_unknown_payment(staff, real, payment_id):
    assert staff.get(f"/api/v1/payments/{payment_id}/").status_code == 404
