"""Diagnosis grouped into jobs, and what the customer declined shown on the order, the vehicle and the tracking page."""
import pytest

from messaging.models import OutboxMessage
from oficina_common.html_testing import by_testid, one
from service_orders.models import ServiceOrder
from service_orders.services import service_order_apply_saga_status
from service_orders.tests.conftest import budget_summary

pytestmark = pytest.mark.django_db

URL = "/api/v1/service-orders/"


def decide(order, **kwargs):
    ServiceOrder.objects.filter(pk=order.pk).update(status="AWAITING_APPROVAL")
    assert service_order_apply_saga_status(service_order_id=order.pk, to="AWAITING_PAYMENT", reason="saga",
                                           summary={"budget": budget_summary(order, **kwargs)})
    return ServiceOrder.objects.get(pk=order.pk)


def test_the_diagnosis_groups_items_into_jobs_and_the_catalogue_says_which_part_is_optional(
        mechanic_api, order, oil_change, oil_filter, alignment, wiper):
    mechanic_api.post(f"{URL}{order.pk}/start-diagnosis/")
    response = mechanic_api.post(f"{URL}{order.pk}/diagnosis/", {"notes": "", "items": [
        {"kind": "service", "catalog_id": oil_change.pk, "quantity": 1},
        {"kind": "part", "catalog_id": oil_filter.pk, "quantity": 1},
        {"kind": "service", "catalog_id": alignment.pk, "quantity": 1, "job": 2},
        # the request cannot make the oil filter optional: only the catalogue can
        {"kind": "part", "catalog_id": wiper.pk, "quantity": 2, "job": 2, "optional": False},
    ]}, format="json")
    assert response.status_code == 200, response.json()
    items = response.json()["items"]
    assert [(i["line_id"], i["job"], i["optional"], i["decision"]) for i in items] == [
        (1, 1, False, None), (2, 1, False, None), (3, 2, False, None), (4, 2, True, None)]
    diagnosis = OutboxMessage.objects.get(type="os.DiagnosisCompleted").envelope["payload"]
    assert [(line["job"], line["optional"]) for line in diagnosis["items"]] == [
        (1, False), (1, False), (2, False), (2, True)]


@pytest.mark.parametrize("job", [0, 51, "x"])
def test_a_job_is_a_number_from_1_to_50(mechanic_api, order, oil_change, job):
    mechanic_api.post(f"{URL}{order.pk}/start-diagnosis/")
    response = mechanic_api.post(f"{URL}{order.pk}/diagnosis/", {"items": [
        {"kind": "service", "catalog_id": oil_change.pk, "quantity": 1, "job": job}]}, format="json")
    assert response.status_code == 400 and "job" in str(response.json())


def test_an_order_opened_with_items_keeps_their_jobs(attendant_api, customer, vehicle, oil_change, wiper):
    response = attendant_api.post(URL, {"customer_id": customer.pk, "vehicle_id": vehicle.pk, "complaint": "Revisão",
                                        "items": [{"kind": "service", "catalog_id": oil_change.pk, "quantity": 1},
                                                  {"kind": "part", "catalog_id": wiper.pk, "quantity": 1, "job": 3}]},
                                  format="json")
    assert response.status_code == 201
    assert [(i["job"], i["optional"]) for i in response.json()["items"]] == [(1, False), (3, True)]


def test_the_parts_api_and_admin_carry_the_may_decline_alone_flag(admin_api, admin_client, wiper, oil_filter):
    assert admin_api.get(f"/api/v1/parts/{wiper.pk}/").json()["may_decline_alone"] is True
    response = admin_api.patch(f"/api/v1/parts/{oil_filter.pk}/", {"may_decline_alone": True}, format="json")
    assert response.status_code == 200 and response.json()["may_decline_alone"] is True
    assert "may_decline_alone" in admin_client.get(f"/admin/catalog/part/{wiper.pk}/change/").content.decode()


def test_the_order_shows_accepted_and_declined_lines_and_their_totals(admin_api, two_jobs):
    order = decide(two_jobs, declined=(3, 4))
    body = admin_api.get(f"{URL}{order.pk}/").json()
    assert [(i["line_id"], i["decision"]) for i in body["items"]] == [
        (1, "ACCEPTED"), (2, "ACCEPTED"), (3, "DECLINED"), (4, "DECLINED")]
    assert body["approved_total_cents"] == 12000 + 3850
    assert body["declined_total_cents"] == 9000 + 2 * 4500
    assert [(w["line_id"], w["description"], w["total_cents"], w["came_back_in"]) for w in body["declined_work"]] == [
        (3, "Alinhamento", 9000, None), (4, "Palheta do limpador", 9000, None)]
    assert body["budget"]["declined_total_cents"] == 18000


def test_an_undecided_order_has_no_approved_total(admin_api, two_jobs):
    body = admin_api.get(f"{URL}{two_jobs.pk}/").json()
    assert body["approved_total_cents"] is None and body["declined_total_cents"] == 0 and body["declined_work"] == []


def test_the_vehicle_lists_its_declined_work_to_staff_only(admin_api, mechanic_api, anonymous_api, two_jobs):
    order = decide(two_jobs, declined=(4,))
    url = f"/api/v1/vehicles/{order.vehicle_id}/declined-work/"
    body = mechanic_api.get(url).json()
    assert body["count"] == 1
    row = body["results"][0]
    assert (row["service_order_number"], row["line_id"], row["kind"], row["quantity"], row["optional"]) == (
        order.number, 4, "part", 2, True)
    assert anonymous_api.get(url).status_code == 401
    assert admin_api.get("/api/v1/vehicles/999999/declined-work/").status_code == 404


def test_the_tracking_page_shows_the_declined_work_without_personal_data(client, anonymous_api, two_jobs):
    order = decide(two_jobs, declined=(3, 4))
    html = client.get(f"/track/{order.tracking_code}/").content.decode()
    section = one(html, "declined-work")
    assert "Serviços recusados — pode agendar quando quiser" in section.text
    assert [line.text.split("R$")[0].strip() for line in by_testid(html)["declined-line"]] == [
        "1× Alinhamento", "2× Palheta do limpador"]
    assert one(html, "declined-total").text == "R$ 180,00"
    assert one(html, "items-total").text == "R$ 158,50" and "Total aprovado" in one(html, "items").text
    declined_items = [item for item in by_testid(html)["item"] if item.attrs.get("data-decision") == "DECLINED"]
    assert len(declined_items) == 2
    assert "Maria da Silva" not in html and order.vehicle.plate not in html
    api = anonymous_api.get(f"/api/v1/tracking/{order.tracking_code}/").json()
    assert api["declined_work"] == [
        {"kind": "service", "description": "Alinhamento", "quantity": 1, "total_cents": 9000},
        {"kind": "part", "description": "Palheta do limpador", "quantity": 2, "total_cents": 9000}]


def test_the_tracking_page_of_an_order_declining_nothing_has_no_such_section(client, two_jobs):
    order = decide(two_jobs)
    html = client.get(f"/track/{order.tracking_code}/").content.decode()
    assert by_testid(html, "declined-work") == []


def test_the_admin_order_page_shows_the_decision(admin_client, two_jobs):
    order = decide(two_jobs, declined=(3,))
    html = admin_client.get(f"/admin/service_orders/serviceorder/{order.pk}/change/").content.decode()
    assert "Aprovado: R$ 248,50" in html and "Recusado: R$ 90,00" in html
    assert 'data-declined-line="3"' in html and "Alinhamento" in html
