import pytest

from conftest import OTHER_CPF, VALID_CNPJ, VALID_CPF, VALID_CPF_FORMATTED

pytestmark = pytest.mark.django_db

URL = "/api/v1/customers/"


def test_an_attendant_registers_a_customer_with_a_punctuated_cpf(attendant_api):
    response = attendant_api.post(URL, {"name": "Maria da Silva", "document": VALID_CPF_FORMATTED,
                                        "email": "Maria@Example.com", "phone": "(11) 99999-0000"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["document"] == VALID_CPF and body["document_type"] == "cpf"
    assert body["email"] == "maria@example.com"


def test_a_company_registers_with_its_cnpj(attendant_api):
    response = attendant_api.post(URL, {"name": "Transportadora X", "document": "11.222.333/0001-81"})
    assert response.status_code == 201
    assert response.json()["document"] == VALID_CNPJ and response.json()["document_type"] == "cnpj"


def test_an_invalid_cpf_is_a_400_with_a_clear_message(attendant_api):
    response = attendant_api.post(URL, {"name": "X", "document": "529.982.247-26"})
    assert response.status_code == 400
    assert response.json() == {"message": "This CPF is not valid (check digits do not match).",
                               "code": "invalid_document", "extra": {"field": "document"}}


def test_the_same_document_twice_is_a_409_whatever_the_punctuation(attendant_api, customer):
    response = attendant_api.post(URL, {"name": "Outra Maria", "document": VALID_CPF})
    assert response.status_code == 409
    assert response.json()["message"] == f"A customer with document {VALID_CPF_FORMATTED} already exists."
    assert response.json()["code"] == "already_exists"


def test_changing_a_document_to_someone_elses_is_a_409(attendant_api, customer):
    other = attendant_api.post(URL, {"name": "João", "document": OTHER_CPF}).json()
    response = attendant_api.patch(f"{URL}{other['id']}/", {"document": VALID_CPF_FORMATTED})
    assert response.status_code == 409


def test_a_customer_is_updated_and_read_back(attendant_api, customer):
    response = attendant_api.put(f"{URL}{customer.pk}/", {"name": " Maria Souza ", "document": VALID_CPF,
                                                          "email": "m@example.com", "phone": "11 3333-4444"})
    assert response.status_code == 200
    assert attendant_api.get(f"{URL}{customer.pk}/").json()["name"] == "Maria Souza"


@pytest.mark.parametrize("payload, field", [
    ({"document": VALID_CPF}, "name"),
    ({"name": "X"}, "document"),
    ({"name": "X", "document": VALID_CPF, "email": "not-an-email"}, "email"),
    ({"name": ["a list"], "document": VALID_CPF}, "name"),
    ({"name": "X", "document": VALID_CPF, "phone": "call me"}, "phone"),
])
def test_wrong_fields_are_400_naming_the_field(attendant_api, payload, field):
    response = attendant_api.post(URL, payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert response.json()["message"].startswith(f"{field}:")
    assert field in response.json()["extra"]["fields"]


def test_malformed_json_is_a_400_not_a_500(attendant_api):
    response = attendant_api.generic("POST", URL, '{"name": "X", ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_a_json_list_instead_of_an_object_is_a_400(attendant_api):
    response = attendant_api.post(URL, ["name", "X"], format="json")
    assert response.status_code == 400


def test_unknown_and_non_numeric_ids_are_404(attendant_api):
    assert attendant_api.get(f"{URL}99999/").status_code == 404
    response = attendant_api.get(f"{URL}abc/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_customers_are_filtered_ordered_and_paginated(attendant_api, customer):
    attendant_api.post(URL, {"name": "Ana Souza", "document": OTHER_CPF})
    listing = attendant_api.get(URL, {"ordering": "name"}).json()
    assert listing["count"] == 2 and [c["name"] for c in listing["results"]] == ["Ana Souza", "Maria da Silva"]
    assert attendant_api.get(URL, {"name": "silva"}).json()["count"] == 1
    assert attendant_api.get(URL, {"document": VALID_CPF_FORMATTED}).json()["results"][0]["id"] == customer.pk
    assert attendant_api.get(URL, {"page": 99}).status_code == 404
    assert attendant_api.get(URL, {"page": "x"}).status_code == 404


def test_a_customer_with_vehicles_cannot_be_deleted(attendant_api, vehicle):
    response = attendant_api.delete(f"{URL}{vehicle.customer_id}/")
    assert response.status_code == 409 and response.json()["code"] == "in_use"


def test_a_customer_without_anything_is_deleted(attendant_api, customer):
    assert attendant_api.delete(f"{URL}{customer.pk}/").status_code == 204
    assert attendant_api.get(f"{URL}{customer.pk}/").status_code == 404


def test_mechanics_do_not_see_customers_personal_data(mechanic_api, customer):
    assert mechanic_api.get(URL).status_code == 403
    assert mechanic_api.post(URL, {"name": "X", "document": OTHER_CPF}).status_code == 403


def test_anonymous_callers_get_401(anonymous_api, customer):
    response = anonymous_api.get(URL)
    assert response.status_code == 401
    assert set(response.json()) == {"message", "code", "extra"}


def test_a_bad_token_is_401(anonymous_api):
    anonymous_api.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert anonymous_api.get(URL).status_code == 401
