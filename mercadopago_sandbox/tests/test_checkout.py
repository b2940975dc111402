"""Checkout Pro: preferences and the init_point page a person pays on."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from .helpers import assert_mp_error

ITEMS = [
    {"id": "svc-1", "title": "Troca de óleo", "quantity": 1, "unit_price": 120.5},
    {"title": "Filtro <b>de ar</b>", "quantity": 2, "unit_price": 40},
]


def create_preference(mp, **overrides) -> dict:
    body = {"items": ITEMS, "external_reference": "budget-9:v2", "payer": {"email": "cliente@example.com"}, **overrides}
    response = mp.post("/checkout/preferences", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_preference_shape(mp, receiver):
    preference = create_preference(mp, notification_url=receiver.url, back_urls={"success": "http://shop.example/ok"})
    assert preference["id"].count("-") >= 5
    assert preference["init_point"] == mp.url(f"/checkout/{preference['id']}")
    assert preference["sandbox_init_point"] == preference["init_point"]
    assert preference["external_reference"] == "budget-9:v2"
    assert preference["notification_url"] == receiver.url
    assert preference["back_urls"] == {"success": "http://shop.example/ok", "pending": "", "failure": ""}
    assert [i["unit_price"] for i in preference["items"]] == [120.5, 40.0]
    assert [i["id"] for i in preference["items"]] == ["svc-1", "2"]
    assert all(i["currency_id"] == "BRL" for i in preference["items"])

    fetched = mp.get(f"/checkout/preferences/{preference['id']}")
    assert fetched.status_code == 200 and fetched.json() == preference


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"items": []},
        {"items": ["x"]},
        {"items": [{"quantity": 1, "unit_price": 1}]},
        {"items": [{"title": "a", "quantity": 0, "unit_price": 1}]},
        {"items": [{"title": "a", "quantity": 1, "unit_price": 0}]},
        {"items": ITEMS, "notification_url": "not a url"},
    ],
)
def test_invalid_preferences_are_400(mp, body):
    assert_mp_error(mp.post("/checkout/preferences", json=body), 400, "bad_request")


def test_preferences_need_a_token_and_exist(mp):
    response = requests.post(mp.url("/checkout/preferences"), json={"items": ITEMS}, timeout=5)
    assert_mp_error(response, 401, "unauthorized")
    assert_mp_error(mp.get("/checkout/preferences/nope"), 404, "not_found")
    assert requests.get(mp.url("/checkout/nope"), timeout=5).status_code == 404


def test_checkout_page_shows_items_and_paying_notifies(mp, receiver):
    preference = create_preference(mp, notification_url=receiver.url)
    page = requests.get(preference["init_point"], timeout=5)
    assert page.status_code == 200
    assert "Troca de óleo" in page.text
    assert "Filtro &lt;b&gt;de ar&lt;/b&gt;" in page.text
    assert "R$ 200.50" in page.text

    paid = requests.post(mp.url(f"/checkout/{preference['id']}/pay"), data={"outcome": "approve"}, timeout=5)
    assert paid.status_code == 200
    assert "Pagamento aprovado" in paid.text

    [payment] = mp.get("/v1/payments/search", params={"external_reference": "budget-9:v2"}).json()["results"]
    assert payment["status"] == "approved"
    assert payment["status_detail"] == "accredited"
    assert payment["transaction_amount"] == 200.5
    assert payment["notification_url"] == receiver.url
    assert payment["date_approved"]

    [notification] = receiver.wait_for_count(1)
    assert notification.body["action"] == "payment.created"
    assert notification.query == {"data.id": str(payment["id"]), "type": "payment"}

    again = requests.post(mp.url(f"/checkout/{preference['id']}/pay"), timeout=5)
    assert again.status_code == 200
    assert mp.get("/v1/payments/search", params={"external_reference": "budget-9:v2"}).json()["paging"]["total"] == 1
    assert "Pagamento aprovado (nº" in requests.get(preference["init_point"], timeout=5).text


def test_rejected_attempt_then_pay(mp):
    preference = create_preference(mp, back_urls={"failure": "http://shop.example/fail?x=1"})
    rejected = requests.post(mp.url(f"/checkout/{preference['id']}/pay"), data={"outcome": "reject"}, timeout=5)
    assert "Pagamento recusado" in rejected.text
    assert "http://shop.example/fail?x=1&amp;collection_id=" in rejected.text
    page = requests.get(preference["init_point"], timeout=5).text
    assert "rejected" in page and "Pagar R$ 200.50" in page

    requests.post(mp.url(f"/checkout/{preference['id']}/pay"), timeout=5)
    statuses = [
        p["status"]
        for p in mp.get("/v1/payments/search", params={"external_reference": "budget-9:v2"}).json()["results"]
    ]
    assert statuses == ["rejected", "approved"]


def test_auto_return_redirects_to_success_url(mp):
    preference = create_preference(mp, back_urls={"success": "http://shop.example/ok"}, auto_return="approved")
    response = requests.post(mp.url(f"/checkout/{preference['id']}/pay"), allow_redirects=False, timeout=5)
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    query = parse_qs(location.query)
    assert location.netloc == "shop.example"
    assert query["status"] == ["approved"]
    assert query["external_reference"] == ["budget-9:v2"]
    assert query["preference_id"] == [preference["id"]]


def test_public_url_is_used_for_links(start_sandbox):
    mp = start_sandbox(public_url="https://mp-sandbox.example/")
    preference = create_preference(mp)
    assert preference["init_point"] == f"https://mp-sandbox.example/checkout/{preference['id']}"
    payment = mp.create_pix()
    assert payment["point_of_interaction"]["transaction_data"]["ticket_url"].startswith(
        "https://mp-sandbox.example/payments/"
    )
