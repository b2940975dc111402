"""A company with an alphanumeric CNPJ registers, is found, logs in and is shown with its punctuation."""
import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

URL = "/api/v1/customers/"
RECEITA_EXAMPLE = "12.ABC.345/01DE-35"


@pytest.fixture
def company(attendant_api):
    response = attendant_api.post(URL, {"name": "Transportadora Nova", "document": "12.abc.345/01de-35",
                                        "email": "frota@example.com"})
    assert response.status_code == 201, response.json()
    return response.json()


def test_a_company_registers_with_an_alphanumeric_cnpj_typed_in_lower_case(company):
    assert company["document"] == "12ABC34501DE35"
    assert company["document_type"] == "cnpj"
    assert company["document_formatted"] == RECEITA_EXAMPLE


def test_a_numeric_document_is_shown_formatted_too(attendant_api, customer):
    body = attendant_api.get(f"{URL}{customer.pk}/").json()
    assert body["document"] == "52998224725" and body["document_formatted"] == "529.982.247-25"


def test_a_wrong_alphanumeric_cnpj_is_a_400_with_a_clear_message(attendant_api):
    response = attendant_api.post(URL, {"name": "X", "document": "12.ABC.345/01DE-36"})
    assert response.status_code == 400
    assert response.json() == {"message": "This CNPJ is not valid (check digits do not match).",
                               "code": "invalid_document", "extra": {"field": "document"}}


def test_the_same_alphanumeric_cnpj_in_another_spelling_is_a_409_shown_formatted(attendant_api, company):
    response = attendant_api.post(URL, {"name": "Outra", "document": "12ABC34501de35"})
    assert response.status_code == 409
    assert response.json()["message"] == f"A customer with document {RECEITA_EXAMPLE} already exists."


@pytest.mark.parametrize("typed", [RECEITA_EXAMPLE, "12abc34501de35", "12.abc.345/01de-35"])
def test_customers_are_filtered_by_an_alphanumeric_cnpj_however_it_is_typed(attendant_api, company, typed):
    results = attendant_api.get(URL, {"document": typed}).json()["results"]
    assert [c["id"] for c in results] == [company["id"]]


def test_a_company_gets_a_customer_token_with_its_alphanumeric_cnpj(attendant_api, company):
    vehicle = attendant_api.post("/api/v1/vehicles/", {"customer_id": company["id"], "plate": "BRA2E19",
                                                       "brand": "VW", "model": "Delivery", "year": 2024})
    assert vehicle.status_code == 201, vehicle.json()
    order = attendant_api.post("/api/v1/service-orders/", {"customer_id": company["id"],
                                                           "vehicle_id": vehicle.json()["id"],
                                                           "complaint": "Freio rangendo"}, format="json")
    assert order.status_code == 201, order.json()
    tracking_code = order.json()["tracking_code"]
    for typed in (RECEITA_EXAMPLE, "12abc34501de35"):
        response = APIClient().post("/api/v1/auth/customer-token/", {"document": typed,
                                                                     "tracking_code": tracking_code}, format="json")
        assert response.status_code == 200, response.json()
    wrong = APIClient().post("/api/v1/auth/customer-token/", {"document": "12.ABC.345/01DE-53",
                                                              "tracking_code": tracking_code}, format="json")
    assert wrong.status_code == 401


def test_the_admin_lists_and_finds_a_company_by_its_cnpj_typed_with_punctuation(admin_client, company):
    page = admin_client.get("/admin/customers/customer/", {"q": "12.abc.345/01de-35"}).content.decode()
    assert "Transportadora Nova" in page and RECEITA_EXAMPLE in page
    other = admin_client.get("/admin/customers/customer/", {"q": "12.ABC.345/01DE-36"}).content.decode()
    assert "Transportadora Nova" not in other


def test_the_admin_finds_a_customers_orders_by_a_punctuated_document(admin_client, order):
    page = admin_client.get("/admin/service_orders/serviceorder/", {"q": "529.982.247-25"}).content.decode()
    assert order.number in page and "Maria da Silva (529.982.247-25)" in page


def test_the_admin_adds_a_company_with_an_alphanumeric_cnpj(admin_client):
    from customers.models import Customer

    response = admin_client.post("/admin/customers/customer/add/", {
        "name": "Auto Peças Z", "document": "00.000.000/e08g-12", "email": "", "phone": "",
        "vehicles-TOTAL_FORMS": "0", "vehicles-INITIAL_FORMS": "0"})
    assert response.status_code == 302, response.content.decode()[:2000]
    customer = Customer.objects.get(name="Auto Peças Z")
    assert customer.document == "00000000E08G12" and str(customer) == "Auto Peças Z (00.000.000/E08G-12)"
