"""The DRF browsable API, used with a staff session (its own login or the admin's)."""
import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_browser(make_user):
    make_user("ana.souza", "attendant", is_staff=True)
    browser = Client(enforce_csrf_checks=True)
    login_page = browser.get("/api-auth/login/")
    assert login_page.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.content.decode()).group(1)
    response = browser.post("/api-auth/login/", {"username": "ana.souza", "password": "s3cret-pass",
                                                 "csrfmiddlewaretoken": token, "next": "/api/v1/"})
    assert response.status_code == 302 and response["Location"] == "/api/v1/"
    return browser


def endpoints(order, customer, vehicle, oil_change, oil_filter):
    o = f"/api/v1/service-orders/{order.pk}"
    return [
        "/api/v1/", "/api/v1/customers/", f"/api/v1/customers/{customer.pk}/", "/api/v1/vehicles/",
        f"/api/v1/vehicles/{vehicle.pk}/", "/api/v1/services/", f"/api/v1/services/{oil_change.pk}/",
        "/api/v1/parts/", f"/api/v1/parts/{oil_filter.pk}/", f"/api/v1/parts/{oil_filter.pk}/stock-entries/",
        "/api/v1/service-orders/", f"{o}/", f"{o}/start-diagnosis/", f"{o}/diagnosis/", f"{o}/deliver/",
        f"{o}/cancel/", f"/api/v1/tracking/{order.tracking_code}/", "/api/v1/reports/execution-time/",
        "/api/v1/auth/token/", "/api/v1/auth/token/refresh/", "/api/v1/auth/customer-token/",
    ]


def test_every_endpoint_opens_in_the_browser_with_a_staff_session(staff_browser, order, customer, vehicle,
                                                                    oil_change, oil_filter):
    for url in endpoints(order, customer, vehicle, oil_change, oil_filter):
        response = staff_browser.get(url, HTTP_ACCEPT="text/html")
        # POST-only endpoints answer GET with 405, still as the browsable page with their form.
        assert response.status_code in (200, 405), (url, response.status_code)
        assert response["Content-Type"].startswith("text/html"), url
        html = response.content.decode()
        assert "Django REST framework" in html, url
        # Public endpoints never look at credentials, so they do not show who is logged in.
        public = "/tracking/" in url or "/auth/" in url
        assert public or "ana.souza" in html, url
        if response.status_code == 405:
            assert "<form" in html, url


def test_the_index_lists_the_entry_points(staff_browser, anonymous_api):
    body = anonymous_api.get("/api/v1/").json()
    assert body["service-orders"] == "http://testserver/api/v1/service-orders/"
    assert body["tracking"] == "http://testserver/api/v1/tracking/{tracking_code}/"
    assert body["docs"] == "http://testserver/api/docs/"
    html = staff_browser.get("/api/v1/", HTTP_ACCEPT="text/html").content.decode()
    assert 'href="http://testserver/api/v1/customers/"' in html


def test_a_session_write_needs_the_csrf_token_and_goes_through_the_services(staff_browser, order):
    url = f"/api/v1/service-orders/{order.pk}/cancel/"
    refused = staff_browser.post(url, {"reason": "Cliente desistiu"}, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["message"]
    token = staff_browser.cookies["csrftoken"].value
    response = staff_browser.post(url, {"reason": "Cliente desistiu"}, content_type="application/json",
                                  HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200 and response.json()["status"] == "CANCELLED"
    assert response.json()["status_history"][-1]["by"] == "ana.souza"


def test_the_admin_session_works_too_and_logging_out_ends_it(client, make_user, order):
    client.force_login(make_user("root", "", is_superuser=True, is_staff=True))
    assert client.get("/api/v1/service-orders/", HTTP_ACCEPT="text/html").status_code == 200
    client.post("/api-auth/logout/")
    assert client.get("/api/v1/service-orders/").status_code in (401, 403)


def test_a_session_without_a_staff_role_is_refused(client, make_user):
    client.force_login(make_user("nobody", ""))
    response = client.get("/api/v1/customers/")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
