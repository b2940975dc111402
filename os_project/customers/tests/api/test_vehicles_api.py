import pytest

from conftest import customer_client

pytestmark = pytest.mark.django_db

URL = "/api/v1/vehicles/"


def test_a_plate_is_stored_upper_case_without_the_hyphen(attendant_api, customer):
    response = attendant_api.post(URL, {"customer_id": customer.pk, "plate": "abc-1234", "brand": "Fiat",
                                        "model": "Uno", "year": 2010})
    assert response.status_code == 201, response.json()
    assert response.json()["plate"] == "ABC1234" and response.json()["customer_id"] == customer.pk


def test_a_plate_is_unique_however_it_is_typed(attendant_api, vehicle):
    response = attendant_api.post(URL, {"customer_id": vehicle.customer_id, "plate": "abc 1d23", "brand": "Fiat",
                                        "model": "Uno", "year": 2010})
    assert response.status_code == 409
    assert response.json()["message"] == "A vehicle with plate ABC1D23 already exists."


@pytest.mark.parametrize("payload, status, field", [
    ({"plate": "AB-12"}, 400, "plate"),
    ({"year": 1800}, 400, "year"),
    ({"year": "last year"}, 400, "year"),
    ({"customer_id": 424242}, 400, "customer_id"),
    ({"customer_id": "one"}, 400, "customer_id"),
])
def test_invalid_vehicles_are_refused(attendant_api, customer, payload, status, field):
    data = {"customer_id": customer.pk, "plate": "XYZ9876", "brand": "Fiat", "model": "Uno", "year": 2010, **payload}
    response = attendant_api.post(URL, data)
    assert response.status_code == status
    body = response.json()
    assert body["extra"].get("field") == field or field in body["extra"].get("fields", {})


def test_a_vehicle_changes_owner_and_plate(attendant_api, vehicle):
    other = attendant_api.post("/api/v1/customers/", {"name": "João", "document": "111.444.777-35"}).json()
    response = attendant_api.patch(f"{URL}{vehicle.pk}/", {"customer_id": other["id"], "plate": "xyz-9876"})
    assert response.status_code == 200
    assert response.json()["customer_id"] == other["id"] and response.json()["plate"] == "XYZ9876"


def test_vehicles_are_filtered_by_customer_and_plate(attendant_api, vehicle):
    assert attendant_api.get(URL, {"customer_id": vehicle.customer_id}).json()["count"] == 1
    assert attendant_api.get(URL, {"plate": "abc-1d23"}).json()["count"] == 1
    assert attendant_api.get(URL, {"plate": "ZZZ0000"}).json()["count"] == 0
    assert attendant_api.get(URL, {"customer_id": "x"}).status_code == 400


def test_mechanics_read_vehicles_but_do_not_change_them(mechanic_api, vehicle):
    assert mechanic_api.get(f"{URL}{vehicle.pk}/").json()["plate"] == "ABC1D23"
    assert mechanic_api.patch(f"{URL}{vehicle.pk}/", {"model": "Prisma"}).status_code == 403
    assert mechanic_api.delete(f"{URL}{vehicle.pk}/").status_code == 403


def test_customers_tokens_do_not_reach_the_vehicle_register(vehicle):
    assert customer_client(vehicle.customer_id).get(URL).status_code == 403


def test_a_vehicle_with_orders_cannot_be_deleted_but_one_without_can(attendant_api, order, customer):
    assert attendant_api.delete(f"{URL}{order.vehicle_id}/").status_code == 409
    spare = attendant_api.post(URL, {"customer_id": customer.pk, "plate": "QWE1234", "brand": "VW", "model": "Gol",
                                     "year": 2001}).json()
    assert attendant_api.delete(f"{URL}{spare['id']}/").status_code == 204
