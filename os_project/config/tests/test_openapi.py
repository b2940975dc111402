"""Swagger UI works offline, and the examples it shows are what the API really accepts and answers."""
from typing import Any

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/service-orders/"
ORDER = "/api/v1/service-orders/{service_order_id}/"


@pytest.fixture
def schema(client) -> dict[str, Any]:
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def examples(schema: dict[str, Any], path: str, method: str, status: str | None = None) -> list[Any]:
    """The example values of a request body (``status=None``) or of one response."""
    operation = schema["paths"][path][method]
    part = operation.get("requestBody", {}) if status is None else operation["responses"][status]
    content = part.get("content", {}).get("application/json", {})
    return [example["value"] for example in content.get("examples", {}).values()]


def assert_same_keys(documented: Any, actual: Any, where: str = "") -> None:
    """Every documented key exists and nothing undocumented appears (empty summaries are not compared)."""
    if isinstance(documented, dict) and isinstance(actual, dict) and documented and actual:
        assert set(documented) == set(actual), f"{where}: {set(documented) ^ set(actual)}"
        for key in documented:
            assert_same_keys(documented[key], actual[key], f"{where}.{key}")
    elif isinstance(documented, list) and isinstance(actual, list) and documented and actual:
        assert_same_keys(documented[0], actual[0], f"{where}[0]")


def test_swagger_ui_is_served_without_any_cdn(client):
    html = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn." not in html and "unpkg" not in html
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css")


def test_every_operation_shows_examples(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            answered = [code for code, response in operation["responses"].items()
                        if response.get("content", {}).get("application/json", {}).get("examples")]
            assert answered, f"{method.upper()} {path} has no response example"
            if "requestBody" in operation:
                assert examples(schema, path, method), f"{method.upper()} {path} has no request example"


@pytest.mark.parametrize("path, method, statuses", [
    ("/api/v1/customers/", "post", ["201", "400", "401", "403", "409"]),
    ("/api/v1/vehicles/", "post", ["201", "400", "409"]),
    (ORDERS, "post", ["201", "400", "401", "403"]),
    (ORDERS + "{service_order_id}/diagnosis/", "post", ["200", "400", "404", "409"]),
    (ORDERS + "{service_order_id}/cancel/", "post", ["200", "400", "409"]),
    ("/api/v1/auth/token/", "post", ["200", "401"]),
    ("/api/v1/auth/customer-token/", "post", ["200", "401"]),
    ("/api/v1/tracking/{tracking_code}/", "get", ["200", "404"]),
])
def test_the_main_endpoints_show_their_answers_and_errors(schema, path, method, statuses):
    for status in statuses:
        found = examples(schema, path, method, status)
        assert found, f"{method.upper()} {path}: no example for {status}"
        if status.startswith("4"):
            assert all(set(example) == {"message", "code", "extra"} for example in found)


def test_the_examples_are_what_the_api_really_does(schema, admin_api, anonymous_api, mechanic_api, oil_change,
                                                   oil_filter):
    def check(path, method, status, response):
        assert response.status_code == int(status), response.content
        assert_same_keys(examples(schema, path, method, status)[0], response.json(), f"{method} {path}")
        return response.json()

    customer_request = examples(schema, "/api/v1/customers/", "post")[0]
    customer = check("/api/v1/customers/", "post", "201", admin_api.post("/api/v1/customers/", customer_request))
    vehicle_request = {**examples(schema, "/api/v1/vehicles/", "post")[0], "customer_id": customer["id"]}
    vehicle = check("/api/v1/vehicles/", "post", "201", admin_api.post("/api/v1/vehicles/", vehicle_request))
    for path in ("/api/v1/services/", "/api/v1/parts/"):
        check(path, "post", "201", admin_api.post(path, examples(schema, path, "post")[0]))

    ids = {"customer_id": customer["id"], "vehicle_id": vehicle["id"]}
    plain, with_items = examples(schema, ORDERS, "post")
    check(ORDERS, "post", "201", admin_api.post(ORDERS, {**plain, **ids}))
    with_items = {**with_items, **ids, "items": [{"kind": "service", "catalog_id": oil_change.pk, "quantity": 1}]}
    order = check(ORDERS, "post", "201", admin_api.post(ORDERS, with_items))
    page = admin_api.get(ORDERS).json()
    assert_same_keys(examples(schema, ORDERS, "get", "200")[0], page, "list page")

    one = f"{ORDERS}{order['id']}/"
    check(ORDER + "start-diagnosis/", "post", "200", admin_api.post(one + "start-diagnosis/"))
    diagnosis = examples(schema, ORDER + "diagnosis/", "post")[0]
    diagnosis = {**diagnosis, "items": [{"kind": "service", "catalog_id": oil_change.pk, "quantity": 1},
                                        {"kind": "part", "catalog_id": oil_filter.pk, "quantity": 1}]}
    check(ORDER + "diagnosis/", "post", "200", admin_api.post(one + "diagnosis/", diagnosis))
    check(ORDER, "get", "200", admin_api.get(one))

    tracking = check("/api/v1/tracking/{tracking_code}/", "get", "200",
                     anonymous_api.get(f"/api/v1/tracking/{order['tracking_code']}/"))
    assert tracking["number"] == order["number"]
    token_request = {**examples(schema, "/api/v1/auth/customer-token/", "post")[0],
                     "tracking_code": order["tracking_code"]}
    check("/api/v1/auth/customer-token/", "post", "200",
          anonymous_api.post("/api/v1/auth/customer-token/", token_request))

    cancel = examples(schema, ORDER + "cancel/", "post")[0]
    check(ORDER + "cancel/", "post", "200", admin_api.post(one + "cancel/", cancel))
    check(ORDER + "cancel/", "post", "200", admin_api.post(one + "cancel/", cancel))  # again: a no-op
    refused = admin_api.post(one + "start-diagnosis/").json()
    assert refused["code"] == "invalid_transition" and set(refused["extra"]) == {"from", "to"}


@pytest.mark.parametrize("path, method, status, call", [
    ("/api/v1/customers/", "post", "401", lambda c: c["anonymous"].post("/api/v1/customers/", {})),
    ("/api/v1/customers/", "post", "403", lambda c: c["mechanic"].post("/api/v1/customers/", {})),
    (ORDERS + "{service_order_id}/cancel/", "post", "400", lambda c: c["admin"].post(c["order"] + "cancel/", {})),
    ("/api/v1/tracking/{tracking_code}/", "get", "404", lambda c: c["anonymous"].get("/api/v1/tracking/nope/")),
    ("/api/v1/auth/customer-token/", "post", "401", lambda c: c["anonymous"].post(
        "/api/v1/auth/customer-token/", {"document": "529.982.247-25", "tracking_code": "nope"})),
    ("/api/v1/auth/token/", "post", "401", lambda c: c["anonymous"].post(
        "/api/v1/auth/token/", {"username": "ghost", "password": "x"})),
    ("/api/v1/auth/token/refresh/", "post", "401", lambda c: c["anonymous"].post(
        "/api/v1/auth/token/refresh/", {"refresh": "garbage"})),
])
def test_documented_errors_are_the_real_ones(schema, admin_api, anonymous_api, mechanic_api, order, path, method,
                                             status, call):
    clients = {"admin": admin_api, "anonymous": anonymous_api, "mechanic": mechanic_api,
               "order": f"{ORDERS}{order.pk}/"}
    response = call(clients)
    assert response.status_code == int(status)
    assert response.json() in examples(schema, path, method, status)
