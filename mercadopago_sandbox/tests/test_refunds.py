"""POST/GET /v1/payments/{id}/refunds."""

from __future__ import annotations

import pytest

from .helpers import assert_mp_error


@pytest.fixture
def approved(mp):
    payment = mp.create_pix(transaction_amount=100)
    mp.post(f"/sandbox/payments/{payment['id']}/approve")
    return payment


def test_full_refund_refunds_the_payment(mp, approved):
    response = mp.post(f"/v1/payments/{approved['id']}/refunds")
    assert response.status_code == 201
    refund = response.json()
    assert refund["payment_id"] == approved["id"]
    assert refund["amount"] == 100.0
    assert refund["status"] == "approved"
    assert isinstance(refund["id"], int) and refund["date_created"]

    payment = mp.get(f"/v1/payments/{approved['id']}").json()
    assert payment["status"] == "refunded"
    assert payment["status_detail"] == "refunded"
    assert payment["transaction_amount_refunded"] == 100.0
    assert payment["refunds"] == [refund]


def test_partial_refunds_until_nothing_is_left(mp, approved):
    first = mp.post(f"/v1/payments/{approved['id']}/refunds", json={"amount": 30}).json()
    payment = mp.get(f"/v1/payments/{approved['id']}").json()
    assert payment["status"] == "approved"
    assert payment["status_detail"] == "partially_refunded"
    assert payment["transaction_amount_refunded"] == 30.0

    too_much = mp.post(f"/v1/payments/{approved['id']}/refunds", json={"amount": 70.01})
    assert_mp_error(too_much, 400, "bad_request")

    rest = mp.post(f"/v1/payments/{approved['id']}/refunds", json={}).json()
    assert rest["amount"] == 70.0
    assert mp.get(f"/v1/payments/{approved['id']}").json()["status"] == "refunded"

    listed = mp.get(f"/v1/payments/{approved['id']}/refunds")
    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()] == [first["id"], rest["id"]]
    one = mp.get(f"/v1/payments/{approved['id']}/refunds/{first['id']}")
    assert one.json() == first


def test_refund_idempotency_key(mp, approved):
    headers = {"X-Idempotency-Key": "refund-budget-1"}
    first = mp.post(f"/v1/payments/{approved['id']}/refunds", json={"amount": 10}, headers=headers).json()
    again = mp.post(f"/v1/payments/{approved['id']}/refunds", json={"amount": 10}, headers=headers)
    assert again.status_code == 201
    assert again.json() == first
    assert len(mp.get(f"/v1/payments/{approved['id']}/refunds").json()) == 1


@pytest.mark.parametrize("status", ["pending", "rejected", "cancelled", "in_process"])
def test_only_approved_payments_can_be_refunded(mp, status):
    payment = mp.create_pix()
    mp.post(f"/sandbox/payments/{payment['id']}/status", json={"status": status})
    response = mp.post(f"/v1/payments/{payment['id']}/refunds")
    assert_mp_error(response, 400, "bad_request")
    assert mp.get(f"/v1/payments/{payment['id']}").json()["status"] == status


def test_refunding_a_refunded_payment_is_400(mp, approved):
    mp.post(f"/v1/payments/{approved['id']}/refunds")
    assert_mp_error(mp.post(f"/v1/payments/{approved['id']}/refunds"), 400, "bad_request")


@pytest.mark.parametrize("amount", [0, -5, "abc", True])
def test_invalid_refund_amount_is_400(mp, approved, amount):
    response = mp.post(f"/v1/payments/{approved['id']}/refunds", json={"amount": amount})
    assert_mp_error(response, 400, "bad_request")


def test_unknown_refunds_are_404(mp, approved):
    assert_mp_error(mp.post("/v1/payments/42/refunds"), 404, "not_found")
    assert_mp_error(mp.get("/v1/payments/42/refunds"), 404, "not_found")
    assert_mp_error(mp.get(f"/v1/payments/{approved['id']}/refunds/1"), 404, "not_found")
    assert_mp_error(mp.get(f"/v1/payments/{approved['id']}/refunds/x"), 404, "not_found")
