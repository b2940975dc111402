"""The official ``mercadopago`` SDK (3.x), pointed at the sandbox, works unchanged."""

from __future__ import annotations

import warnings

import mercadopago
import pytest
from mercadopago.config import RequestOptions

from .conftest import TOKEN, BaseUrlHttpClient


@pytest.fixture
def sdk(mp) -> mercadopago.SDK:
    return mercadopago.SDK(TOKEN, http_client=BaseUrlHttpClient(mp.base_url))


def idempotent(key: str) -> RequestOptions:
    return RequestOptions(custom_headers={"x-idempotency-key": key})


PAYMENT = {
    "transaction_amount": 350.0,
    "description": "OS 42",
    "payment_method_id": "pix",
    "payer": {"email": "cliente@example.com"},
    "external_reference": "budget-42:v1",
}


def test_sdk_creates_and_reads_a_pix_payment(sdk, receiver):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        created = sdk.payment().create({**PAYMENT, "notification_url": receiver.url}, idempotent("budget-42-v1"))
    assert created["status"] == 201
    payment = created["response"]
    assert payment["status"] == "pending"
    assert payment["point_of_interaction"]["transaction_data"]["qr_code"]

    replay = sdk.payment().create(PAYMENT, idempotent("budget-42-v1"))
    assert replay["response"]["id"] == payment["id"]

    fetched = sdk.payment().get(payment["id"])
    assert fetched["status"] == 200
    assert fetched["response"]["id"] == payment["id"]
    assert fetched.is_success

    found = sdk.payment().search({"external_reference": "budget-42:v1"})
    assert found["status"] == 200
    assert [p["id"] for p in found["response"]["results"]] == [payment["id"]]
    assert list(sdk.payment().search_auto_paging_iter({"external_reference": "budget-42:v1"}))


def test_sdk_without_idempotency_header_still_deduplicates_nothing(sdk):
    first = sdk.payment().create(PAYMENT)["response"]
    second = sdk.payment().create(PAYMENT)["response"]
    assert first["id"] != second["id"]


def test_sdk_cancel_refund_and_errors(sdk, mp):
    pending = sdk.payment().create(PAYMENT)["response"]
    cancelled = sdk.payment().update(pending["id"], {"status": "cancelled"})
    assert cancelled["status"] == 200
    assert cancelled["response"]["status"] == "cancelled"

    paid = sdk.payment().create(PAYMENT)["response"]
    mp.post(f"/sandbox/payments/{paid['id']}/approve")
    refund = sdk.refund().create(paid["id"], {"amount": 50.0}, idempotent("refund-1"))
    assert refund["status"] == 201
    assert refund["response"]["amount"] == 50.0
    listed = sdk.refund().list_all(paid["id"])
    assert [r["id"] for r in listed["response"]] == [refund["response"]["id"]]
    assert sdk.refund().get(paid["id"], refund["response"]["id"])["status"] == 200

    missing = sdk.payment().get(999)
    assert missing["status"] == 404
    assert missing.error_message == "Payment not found"
    assert missing.error_causes and not missing.is_success

    bad = sdk.payment().update(paid["id"], {"status": "cancelled"})
    assert bad["status"] == 400


def test_sdk_creates_a_preference(sdk):
    created = sdk.preference().create(
        {
            "items": [{"title": "Alinhamento", "quantity": 1, "unit_price": 80.0}],
            "external_reference": "budget-7:v1",
        }
    )
    assert created["status"] == 201
    assert created["response"]["init_point"].endswith(f"/checkout/{created['response']['id']}")
    assert sdk.preference().get(created["response"]["id"])["status"] == 200


def test_sdk_with_empty_token_gets_401(mp):
    sdk = mercadopago.SDK("", http_client=BaseUrlHttpClient(mp.base_url))
    assert sdk.payment().get(1)["status"] == 401
