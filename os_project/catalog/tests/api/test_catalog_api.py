import pytest

from catalog.models import Part, StockEntry

pytestmark = pytest.mark.django_db


def test_an_attendant_adds_a_service_and_everyone_on_staff_reads_it(attendant_api, mechanic_api):
    response = attendant_api.post("/api/v1/services/", {"name": "Alinhamento", "price": "149.90",
                                                        "estimated_minutes": 45, "description": "Direção"})
    assert response.status_code == 201, response.json()
    assert response.json()["price"] == "149.90" and response.json()["active"] is True
    listing = mechanic_api.get("/api/v1/services/").json()
    assert [s["name"] for s in listing["results"]] == ["Alinhamento"]


def test_services_are_updated_deactivated_and_filtered(attendant_api, oil_change):
    url = f"/api/v1/services/{oil_change.pk}/"
    assert attendant_api.patch(url, {"active": False, "price": "130.00"}).json()["price"] == "130.00"
    assert attendant_api.get("/api/v1/services/", {"active": "true"}).json()["count"] == 0
    assert attendant_api.get("/api/v1/services/", {"active": "false", "name": "óleo"}).json()["count"] == 1
    assert attendant_api.put(url, {"name": "Troca", "price": "99.00"}).json()["name"] == "Troca"
    assert attendant_api.delete(url).status_code == 204


@pytest.mark.parametrize("payload, field", [
    ({"name": "X", "price": "-1.00"}, "price"),
    ({"name": "X", "price": "abc"}, "price"),
    ({"name": "X", "price": "1.234"}, "price"),
    ({"name": "X", "price": "1.00", "estimated_minutes": 0}, "estimated_minutes"),
    ({"price": "1.00"}, "name"),
])
def test_bad_services_are_400(attendant_api, payload, field):
    response = attendant_api.post("/api/v1/services/", payload)
    assert response.status_code == 400 and field in response.json()["extra"]["fields"]


def test_mechanics_cannot_change_the_catalogue(mechanic_api, oil_change, oil_filter):
    assert mechanic_api.post("/api/v1/services/", {"name": "X", "price": "1.00"}).status_code == 403
    assert mechanic_api.patch(f"/api/v1/parts/{oil_filter.pk}/", {"name": "Y"}).status_code == 403
    assert mechanic_api.post(f"/api/v1/parts/{oil_filter.pk}/stock-entries/", {"quantity": 1}).status_code == 403


def test_a_part_is_created_with_initial_stock_recorded_as_an_entry(attendant_api):
    response = attendant_api.post("/api/v1/parts/", {"sku": "pastilha-01", "name": "Pastilha", "unit_price": "210.00",
                                                     "quantity_in_stock": 6, "minimum_stock": 2})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["sku"] == "PASTILHA-01"
    assert (body["quantity_in_stock"], body["quantity_reserved"], body["quantity_available"]) == (6, 0, 6)
    entry = StockEntry.objects.get(part_id=body["id"])
    assert entry.quantity == 6 and entry.created_by == "ana"


def test_a_sku_is_unique(attendant_api, oil_filter):
    response = attendant_api.post("/api/v1/parts/", {"sku": "filtro-oleo", "name": "Outro", "unit_price": "1.00"})
    assert response.status_code == 409 and response.json()["message"] == "A part with SKU FILTRO-OLEO already exists."
    other = attendant_api.post("/api/v1/parts/", {"sku": "X-1", "name": "X", "unit_price": "1.00"}).json()
    assert attendant_api.patch(f"/api/v1/parts/{other['id']}/", {"sku": "FILTRO-OLEO"}).status_code == 409


def test_stock_is_never_edited_directly(attendant_api, oil_filter):
    response = attendant_api.patch(f"/api/v1/parts/{oil_filter.pk}/", {"quantity_in_stock": 100})
    assert response.status_code == 400
    assert "stock-entries" in response.json()["message"]
    response = attendant_api.patch(f"/api/v1/parts/{oil_filter.pk}/", {"name": "Filtro", "quantity_reserved": 9})
    assert response.status_code == 200 and response.json()["quantity_reserved"] == 0


def test_a_stock_entry_adds_stock(attendant_api, oil_filter):
    url = f"/api/v1/parts/{oil_filter.pk}/stock-entries/"
    response = attendant_api.post(url, {"quantity": 10, "note": "NF 123"})
    assert response.status_code == 201
    assert response.json()["quantity"] == 10 and response.json()["created_by"] == "ana"
    assert attendant_api.get(f"/api/v1/parts/{oil_filter.pk}/").json()["quantity_in_stock"] == 15
    entries = attendant_api.get(url).json()
    assert [e["quantity"] for e in entries["results"]] == [10, 5]


@pytest.mark.parametrize("quantity", [0, -3, "ten", 2.5, None])
def test_a_stock_entry_needs_a_positive_integer(attendant_api, oil_filter, quantity):
    response = attendant_api.post(f"/api/v1/parts/{oil_filter.pk}/stock-entries/", {"quantity": quantity},
                                  format="json")
    assert response.status_code == 400
    oil_filter.refresh_from_db()
    assert oil_filter.quantity_in_stock == 5


def test_stock_cannot_grow_past_what_the_database_holds(attendant_api, oil_filter):
    url = f"/api/v1/parts/{oil_filter.pk}/stock-entries/"
    Part.objects.filter(pk=oil_filter.pk).update(quantity_in_stock=999_999_999)
    response = attendant_api.post(url, {"quantity": 2})
    assert response.status_code == 400 and "cannot hold more than" in response.json()["message"]


def test_stock_entries_of_an_unknown_part_are_404(attendant_api):
    assert attendant_api.post("/api/v1/parts/424242/stock-entries/", {"quantity": 1}).status_code == 404


def test_low_stock_parts_are_found_by_free_quantity(attendant_api, oil_filter):
    Part.objects.filter(pk=oil_filter.pk).update(quantity_reserved=4)  # 1 free, minimum 1
    healthy = attendant_api.post("/api/v1/parts/", {"sku": "LAMPADA", "name": "Lâmpada", "unit_price": "9.90",
                                                    "quantity_in_stock": 10, "minimum_stock": 2}).json()
    low = attendant_api.get("/api/v1/parts/", {"low_stock": "true"}).json()
    assert [p["sku"] for p in low["results"]] == ["FILTRO-OLEO"]
    enough = attendant_api.get("/api/v1/parts/", {"low_stock": "false"}).json()
    assert [p["id"] for p in enough["results"]] == [healthy["id"]]
    assert attendant_api.get("/api/v1/parts/", {"ordering": "-unit_price"}).json()["results"][0]["sku"] == "FILTRO-OLEO"


def test_a_part_with_stock_history_is_deactivated_not_deleted(attendant_api, oil_filter):
    response = attendant_api.delete(f"/api/v1/parts/{oil_filter.pk}/")
    assert response.status_code == 409 and "deactivate" in response.json()["message"]
    fresh = attendant_api.post("/api/v1/parts/", {"sku": "NEW", "name": "Nova", "unit_price": "1.00"}).json()
    assert attendant_api.delete(f"/api/v1/parts/{fresh['id']}/").status_code == 204


def test_the_browsable_api_renders_forms_for_staff_sessions(client, make_user):
    client.force_login(make_user("root", "", is_superuser=True, is_staff=True))
    response = client.get("/api/v1/parts/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"unit_price" in response.content
