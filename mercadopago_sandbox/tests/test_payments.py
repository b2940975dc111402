"""The /v1/payments API over real HTTP."""

from __future__ import annotations

import base64
import io

import pytest
import requests
import zxingcpp
from PIL import Image

from mercadopago_sandbox.pix import crc16_ccitt

from .helpers import assert_mp_error

PIX_BODY = {
    "transaction_amount": 99.9,
    "payment_method_id": "pix",
    "payer": {"email": "cliente@example.com"},
}


def test_create_pix_payment_has_mercado_pago_shape(mp, receiver):
    payment = mp.create_pix(notification_url=receiver.url)

    assert isinstance(payment["id"], int)
    assert payment["status"] == "pending"
    assert payment["status_detail"] == "pending_waiting_transfer"
    assert payment["transaction_amount"] == 150.75
    assert payment["currency_id"] == "BRL"
    assert payment["payment_method_id"] == "pix"
    assert payment["payment_type_id"] == "bank_transfer"
    assert payment["external_reference"] == "budget-1:v1"
    assert payment["notification_url"] == receiver.url
    assert payment["metadata"] == {"service_order_id": "so-1"}
    assert payment["live_mode"] is False
    assert payment["date_created"] and payment["date_last_updated"]
    assert payment["date_approved"] is None
    assert payment["refunds"] == []


def test_pix_payment_carries_qr_code_png_and_ticket(mp):
    payment = mp.create_pix()
    data = payment["point_of_interaction"]["transaction_data"]

    code = data["qr_code"]
    assert code.startswith("000201") and "br.gov.bcb.pix" in code and "5303986" in code
    assert "5406150.75" in code
    assert code[-4:] == f"{crc16_ccitt(code[:-4].encode()):04X}"
    png = base64.b64decode(data["qr_code_base64"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    # A phone scanning the QR code reads the same copy-and-paste code.
    assert [found.text for found in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))] == [code]
    assert data["ticket_url"] == mp.url(f"/payments/{payment['id']}/ticket")

    page = requests.get(data["ticket_url"], timeout=5)
    assert page.status_code == 200
    assert code in page.text and "data:image/png;base64," in page.text


def test_get_payment_returns_the_same_payment(mp):
    payment = mp.create_pix()
    fetched = mp.get(f"/v1/payments/{payment['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == payment


def test_idempotency_key_returns_the_same_payment(mp):
    headers = {"X-Idempotency-Key": "budget-1-v1-payment"}
    body = {**PIX_BODY, "external_reference": "idem-1"}
    first = mp.post("/v1/payments", json=body, headers=headers)
    again = mp.post("/v1/payments", json={**body, "transaction_amount": 1}, headers=headers)
    other = mp.post("/v1/payments", json=body, headers={"X-Idempotency-Key": "other"})

    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["transaction_amount"] == 99.9
    assert other.json()["id"] != first.json()["id"]
    found = mp.get("/v1/payments/search", params={"external_reference": "idem-1"}).json()
    assert found["paging"]["total"] == 2


def test_without_idempotency_key_every_post_is_a_new_payment(mp):
    first = mp.post("/v1/payments", json=PIX_BODY).json()
    second = mp.post("/v1/payments", json=PIX_BODY).json()
    assert first["id"] != second["id"]


@pytest.mark.parametrize("authorization", [None, "", "Bearer ", "Basic abc", "Bearer"])
def test_missing_or_bad_token_is_401(mp, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = requests.post(mp.url("/v1/payments"), json=PIX_BODY, headers=headers, timeout=5)
    assert_mp_error(response, 401, "unauthorized")
    assert (
        assert_mp_error(
            requests.get(mp.url("/v1/payments/1"), headers=headers, timeout=5),
            401,
            "unauthorized",
        )["cause"]
        == []
    )


def test_unknown_payment_is_404_in_mp_shape(mp):
    body = assert_mp_error(mp.get("/v1/payments/123456789"), 404, "not_found")
    assert body["message"] == "Payment not found"
    assert_mp_error(mp.get("/v1/payments/not-a-number"), 404, "not_found")
    assert_mp_error(mp.get("/v1/nothing-here"), 404, "not_found")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({**PIX_BODY, "transaction_amount": None}, "transaction_amount"),
        ({**PIX_BODY, "transaction_amount": -1}, "transaction_amount"),
        ({**PIX_BODY, "transaction_amount": "abc"}, "transaction_amount"),
        ({**PIX_BODY, "transaction_amount": True}, "transaction_amount"),
        ({**PIX_BODY, "transaction_amount": "NaN"}, "transaction_amount"),
        ({**PIX_BODY, "payment_method_id": "bitcoin"}, "payment_method_id"),
        ({**PIX_BODY, "payer": {}}, "payer.email"),
        ({**PIX_BODY, "payer": {"email": "not-an-email"}}, "payer.email"),
        ({**PIX_BODY, "payer": "someone"}, "payer"),
        ({**PIX_BODY, "notification_url": "ftp://x"}, "notification_url"),
        ({**PIX_BODY, "notification_url": 12}, "notification_url"),
        ({**PIX_BODY, "external_reference": {"a": 1}}, "external_reference"),
        ({**PIX_BODY, "metadata": [1]}, "metadata"),
        ({**PIX_BODY, "installments": 0}, "installments"),
        ({**PIX_BODY, "payment_method_id": "visa"}, "token"),
        ([1, 2], "JSON object"),
    ],
)
def test_invalid_payment_bodies_are_400(mp, body, fragment):
    error = assert_mp_error(mp.post("/v1/payments", json=body), 400, "bad_request")
    assert fragment in error["message"]
    assert error["cause"][0]["description"] == error["message"]


def test_malformed_json_is_400(mp):
    response = mp.post("/v1/payments", data="{nope", headers={"Content-Type": "application/json"})
    assert_mp_error(response, 400, "bad_request")


def test_numeric_external_reference_is_kept_as_text(mp):
    payment = mp.post("/v1/payments", json={**PIX_BODY, "external_reference": 42}).json()
    assert payment["external_reference"] == "42"


def test_card_and_boleto_payments(mp):
    card = mp.post(
        "/v1/payments", json={**PIX_BODY, "payment_method_id": "master", "token": "card-token", "installments": 2}
    ).json()
    assert card["status"] == "pending"
    assert card["status_detail"] == "pending_waiting_payment"
    assert card["payment_type_id"] == "credit_card"
    assert card["installments"] == 2
    assert card["point_of_interaction"] == {}

    debit = mp.post("/v1/payments", json={**PIX_BODY, "payment_method_id": "debvisa", "token": "t"}).json()
    assert debit["payment_type_id"] == "debit_card"

    boleto = mp.post("/v1/payments", json={**PIX_BODY, "payment_method_id": "bolbradesco"}).json()
    assert boleto["payment_type_id"] == "ticket"
    assert boleto["transaction_details"]["external_resource_url"].endswith(f"/payments/{boleto['id']}/ticket")
    assert requests.get(boleto["transaction_details"]["external_resource_url"], timeout=5).status_code == 200


def test_search_filters_and_pages(mp):
    ids = [mp.create_pix(external_reference="search-me")["id"] for _ in range(3)]
    mp.create_pix(external_reference="someone-else")
    mp.post(f"/sandbox/payments/{ids[1]}/approve")

    found = mp.get("/v1/payments/search", params={"external_reference": "search-me"}).json()
    assert found["paging"] == {"total": 3, "limit": 30, "offset": 0}
    assert [p["id"] for p in found["results"]] == ids

    approved = mp.get("/v1/payments/search", params={"external_reference": "search-me", "status": "approved"}).json()
    assert [p["id"] for p in approved["results"]] == [ids[1]]

    page = mp.get(
        "/v1/payments/search",
        params={
            "external_reference": "search-me",
            "sort": "id",
            "criteria": "desc",
            "limit": "2",
            "offset": "1",
        },
    ).json()
    assert [p["id"] for p in page["results"]] == [ids[1], ids[0]]
    assert page["paging"] == {"total": 3, "limit": 2, "offset": 1}

    by_id = mp.get("/v1/payments/search", params={"id": str(ids[2])}).json()
    assert [p["id"] for p in by_id["results"]] == [ids[2]]


@pytest.mark.parametrize(
    "params",
    [{"limit": "x"}, {"limit": "0"}, {"offset": "-1"}, {"sort": "amount"}, {"criteria": "up"}],
)
def test_bad_search_parameters_are_400(mp, params):
    assert_mp_error(mp.get("/v1/payments/search", params=params), 400, "bad_request")


def test_put_cancels_a_pending_payment(mp):
    payment = mp.create_pix()
    response = mp.put(f"/v1/payments/{payment['id']}", json={"status": "cancelled"})
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["status_detail"] == "by_collector"

    again = mp.put(f"/v1/payments/{payment['id']}", json={"status": "cancelled"})
    assert again.status_code == 200
    assert again.json()["status"] == "cancelled"


def test_put_cannot_cancel_an_approved_payment(mp):
    payment = mp.create_pix()
    mp.post(f"/sandbox/payments/{payment['id']}/approve")
    response = mp.put(f"/v1/payments/{payment['id']}", json={"status": "cancelled"})
    assert_mp_error(response, 400, "bad_request")
    assert mp.get(f"/v1/payments/{payment['id']}").json()["status"] == "approved"


@pytest.mark.parametrize(
    "body",
    [{"status": "approved"}, {"transaction_amount": 1}, {"capture": True}, "text", None],
)
def test_put_rejects_unsupported_updates(mp, body):
    payment = mp.create_pix()
    response = mp.put(f"/v1/payments/{payment['id']}", json=body)
    assert_mp_error(response, 400, "bad_request")


def test_put_captures_an_authorized_payment_and_updates_metadata(mp):
    payment = mp.create_pix()
    mp.post(f"/sandbox/payments/{payment['id']}/status", json={"status": "authorized"})
    captured = mp.put(f"/v1/payments/{payment['id']}", json={"capture": True}).json()
    assert captured["status"] == "approved"
    assert captured["date_approved"]

    updated = mp.put(
        f"/v1/payments/{payment['id']}", json={"metadata": {"k": "v"}, "date_of_expiration": "2030-01-01"}
    ).json()
    assert updated["metadata"] == {"k": "v"}
    assert updated["date_of_expiration"] == "2030-01-01"
    assert updated["status"] == "approved"


def test_put_unknown_payment_is_404(mp):
    assert_mp_error(mp.put("/v1/payments/1", json={"status": "cancelled"}), 404, "not_found")


def test_wrong_method_is_405_in_mp_shape(mp):
    assert_mp_error(mp.session.delete(mp.url("/v1/payments/1")), 405, "method_not_allowed")


def test_healthz(mp):
    response = requests.get(mp.url("/healthz"), timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
