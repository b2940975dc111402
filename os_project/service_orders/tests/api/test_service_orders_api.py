from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import Part
from conftest import OTHER_CPF, customer_client
from messaging.models import OutboxMessage
from service_orders.domain import Totals, totals_of
from service_orders.models import ServiceOrder, ServiceOrderItem, StatusHistory

pytestmark = pytest.mark.django_db

URL = "/api/v1/service-orders/"


def _create(api, customer, vehicle, **extra):
    return api.post(URL, {"customer_id": customer.pk, "vehicle_id": vehicle.pk, "complaint": "Freio chiando", **extra},
                    format="json")


def test_an_attendant_opens_an_order_and_the_customer_is_emailed(attendant_api, customer, vehicle,
                                                                 django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = _create(attendant_api, customer, vehicle)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "RECEIVED" and body["priority"] == 3
    assert body["number"].startswith("OS-") and len(body["number"]) == 9
    assert len(body["tracking_code"]) >= 20
    assert body["status_history"] == [{"from": None, "to": "RECEIVED", "at": body["status_history"][0]["at"],
                                       "by": "ana", "reason": "Order opened"}]
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["maria@example.com"]
    assert f"http://os.test/track/{body['tracking_code']}/" in mail.outbox[0].body


def test_numbers_follow_a_sequence_and_tracking_codes_differ(attendant_api, customer, vehicle):
    first, second = (_create(attendant_api, customer, vehicle).json() for _ in range(2))
    assert int(second["number"][3:]) == int(first["number"][3:]) + 1
    assert first["tracking_code"] != second["tracking_code"]


def test_the_items_the_customer_asks_for_are_priced_from_the_catalogue(attendant_api, customer, vehicle, oil_change,
                                                                        oil_filter):
    response = _create(attendant_api, customer, vehicle, priority=5, items=[
        {"kind": "service", "catalog_id": oil_change.pk, "quantity": 1},
        {"kind": "part", "catalog_id": oil_filter.pk, "quantity": 2},
    ])
    assert response.status_code == 201
    body = response.json()
    assert body["priority"] == 5
    assert [(i["description"], i["unit_price"], i["total"]) for i in body["items"]] == [
        ("Troca de óleo", "120.00", "120.00"), ("Filtro de óleo", "38.50", "77.00")]
    assert body["totals"]["total_cents"] == 19700 and body["totals"]["total"] == "197.00"


@pytest.mark.parametrize("change, status, code", [
    ({"priority": 0}, 400, "invalid"),
    ({"priority": 6}, 400, "invalid"),
    ({"priority": "high"}, 400, "invalid"),
    ({"complaint": ""}, 400, "invalid"),
    ({"customer_id": 424242}, 400, "invalid"),
    ({"vehicle_id": 424242}, 400, "invalid"),
    ({"items": [{"kind": "wish", "catalog_id": 1, "quantity": 1}]}, 400, "invalid"),
    ({"items": [{"kind": "service", "catalog_id": 424242, "quantity": 1}]}, 400, "unknown_catalog_item"),
    ({"items": [{"kind": "part", "catalog_id": 1, "quantity": 0}]}, 400, "invalid"),
    ({"items": "everything"}, 400, "invalid"),
    ({"customer_id": 10**20}, 400, "invalid"),
    ({"complaint": "nul\x00"}, 400, "invalid"),
])
def test_bad_orders_are_refused(attendant_api, customer, vehicle, change, status, code):
    response = _create(attendant_api, customer, vehicle, **change)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert not ServiceOrder.objects.exists()


def test_the_vehicle_must_belong_to_the_customer(attendant_api, customer, vehicle):
    other = attendant_api.post("/api/v1/customers/", {"name": "João", "document": OTHER_CPF}).json()
    response = attendant_api.post(URL, {"customer_id": other["id"], "vehicle_id": vehicle.pk, "complaint": "x"})
    assert response.status_code == 400
    assert response.json()["message"] == "Vehicle ABC1D23 does not belong to customer João."


def test_an_inactive_catalogue_item_cannot_be_ordered(attendant_api, customer, vehicle, oil_change):
    oil_change.active = False
    oil_change.save()
    response = _create(attendant_api, customer, vehicle,
                       items=[{"kind": "service", "catalog_id": oil_change.pk, "quantity": 1}])
    assert response.status_code == 400
    assert response.json()["message"] == f"items[0]: there is no active service with id {oil_change.pk}."


def _age(order, minutes):
    ServiceOrder.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(minutes=minutes))


def test_the_list_puts_what_needs_hands_first_then_the_oldest(attendant_api, customer, vehicle):
    orders = {}
    for status, age in [("RECEIVED", 50), ("IN_EXECUTION", 10), ("AWAITING_APPROVAL", 30), ("IN_DIAGNOSIS", 40),
                        ("AWAITING_PAYMENT", 20), ("IN_EXECUTION", 60), ("FINISHED", 70), ("CANCELLED", 80),
                        ("DELIVERED", 90)]:
        order = ServiceOrder.objects.get(pk=_create(attendant_api, customer, vehicle).json()["id"])
        ServiceOrder.objects.filter(pk=order.pk).update(status=status)
        _age(order, age)
        orders[(status, age)] = order.number
    listing = attendant_api.get(URL).json()
    assert [o["number"] for o in listing["results"]] == [
        orders[("IN_EXECUTION", 60)], orders[("IN_EXECUTION", 10)], orders[("AWAITING_PAYMENT", 20)],
        orders[("AWAITING_APPROVAL", 30)], orders[("IN_DIAGNOSIS", 40)], orders[("RECEIVED", 50)]]
    closed = attendant_api.get(URL, {"status": ["FINISHED", "DELIVERED"]}).json()
    assert {o["status"] for o in closed["results"]} == {"FINISHED", "DELIVERED"}
    assert attendant_api.get(URL, {"status": "CANCELLED"}).json()["count"] == 1
    assert attendant_api.get(URL, {"status": "LOST"}).status_code == 400


def test_the_list_gives_what_changed_since_a_moment_closed_orders_included(attendant_api, customer, vehicle):
    old, changed, finished = (_create(attendant_api, customer, vehicle).json()["id"] for _ in range(3))
    since = timezone.now() - timedelta(minutes=5)
    ServiceOrder.objects.filter(pk=old).update(updated_at=since - timedelta(minutes=1))
    ServiceOrder.objects.filter(pk=finished).update(status="FINISHED")
    listing = attendant_api.get(URL, {"updated_after": since.isoformat()}).json()
    assert {o["id"] for o in listing["results"]} == {changed, finished}
    assert attendant_api.get(URL, {"updated_after": timezone.now().isoformat()}).json()["count"] == 0
    bad = attendant_api.get(URL, {"updated_after": "yesterday"})
    assert bad.status_code == 400 and "updated_after" in bad.json()["message"]
    # Found by the API fuzzing: Python takes a +16:00 offset, PostgreSQL does not (it was a 500).
    far = attendant_api.get(URL, {"updated_after": "2000-01-01T00:00:00+16:00"})
    assert far.status_code == 400 and "offset" in far.json()["message"]


def test_paging_through_what_changed_misses_no_order_that_changes_meanwhile(attendant_api, customer, vehicle):
    """The feed is in the order of the changes: an order that changes between two pages moves past
    the pages read (in urgency order it moved onto the first page, already read, and was missed)."""
    since = timezone.now() - timedelta(minutes=5)
    ids = [_create(attendant_api, customer, vehicle).json()["id"] for _ in range(4)]
    for age, order_id in zip((4, 3, 2, 1), ids, strict=True):
        ServiceOrder.objects.filter(pk=order_id).update(updated_at=timezone.now() - timedelta(minutes=age))
    params = {"updated_after": since.isoformat(), "page_size": 2}
    first = attendant_api.get(URL, params).json()
    assert [o["id"] for o in first["results"]] == ids[:2]  # oldest change first
    # The last order changes: in urgency order it would now lead the list (IN_DIAGNOSIS before RECEIVED).
    assert attendant_api.post(f"{URL}{ids[3]}/start-diagnosis/").status_code == 200
    second = attendant_api.get(URL, {**params, "page": 2}).json()
    seen = {o["id"] for o in first["results"] + second["results"]}
    assert seen == set(ids), "an order that changed while the client paged was skipped"
    assert [o["id"] for o in second["results"]] == [ids[2], ids[3]]
    assert second["results"][1]["status"] == "IN_DIAGNOSIS"


def test_the_list_is_filtered_and_paginated(attendant_api, customer, vehicle):
    for _ in range(3):
        _create(attendant_api, customer, vehicle)
    assert attendant_api.get(URL, {"customer_id": customer.pk}).json()["count"] == 3
    assert attendant_api.get(URL, {"vehicle_id": vehicle.pk + 1000}).json()["count"] == 0
    for not_an_id in ("abc", "1.5", "NaN"):
        assert attendant_api.get(URL, {"customer_id": not_an_id}).status_code == 400
    assert attendant_api.get(URL, {"customer_id": 10**20}).json()["count"] == 0
    first = attendant_api.get(URL, {"page_size": 2}).json()
    assert first["count"] == 3 and len(first["results"]) == 2 and "page=2" in first["next"]
    assert len(attendant_api.get(URL, {"page_size": 2, "page": 2}).json()["results"]) == 1
    assert attendant_api.get(URL, {"page_size": 2, "page": 3}).json() == {
        "message": "Invalid page.", "code": "not_found", "extra": {}}
    exact = attendant_api.get(URL, {"page_size": 3}).json()  # a full first page, and nothing after it
    assert exact["count"] == 3 and len(exact["results"]) == 3 and exact["next"] is None


def test_a_first_page_that_is_not_full_is_counted_without_a_count_query(attendant_api, customer, vehicle):
    """What a screen kept in sync asks ten times a second: the rows are all there is."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        _create(attendant_api, customer, vehicle)
    with CaptureQueriesContext(connection) as queries:
        body = attendant_api.get(URL, {"page_size": 5}).json()
    assert body["count"] == 3 and len(body["results"]) == 3 and body["next"] is None
    assert not [q for q in queries if "COUNT(" in q["sql"]]
    with CaptureQueriesContext(connection) as queries:
        assert attendant_api.get(URL, {"page_size": 2}).json()["count"] == 3  # full: counted
    assert [q for q in queries if "COUNT(" in q["sql"]]


def test_the_list_takes_a_bounded_number_of_queries(attendant_api, customer, vehicle,
                                                    django_assert_max_num_queries):
    for _ in range(5):
        _create(attendant_api, customer, vehicle, items=[])
    with django_assert_max_num_queries(4):
        assert attendant_api.get(URL).json()["count"] == 5


def _items_come_to(order_id):
    """What the order's stored items come to, summed here from the rows (not the order's columns)."""
    return totals_of(ServiceOrderItem.objects.filter(service_order_id=order_id))


def test_the_lists_totals_are_the_orders_own_amounts_and_no_item_is_read(attendant_api, customer, vehicle,
                                                                         oil_change, oil_filter):
    """A screen kept in sync asks for the list ten times a second and shows each order's totals,
    not its items: they are the order's own columns, written with its items."""
    both = _create(attendant_api, customer, vehicle, items=[
        {"kind": "service", "catalog_id": oil_change.pk, "quantity": 2},
        {"kind": "part", "catalog_id": oil_filter.pk, "quantity": 3},
        {"kind": "part", "catalog_id": oil_filter.pk, "quantity": 1}]).json()
    parts_only = _create(attendant_api, customer, vehicle, items=[
        {"kind": "part", "catalog_id": oil_filter.pk, "quantity": 1}]).json()
    empty = _create(attendant_api, customer, vehicle, items=[]).json()
    with CaptureQueriesContext(connection) as queries:
        listed = {o["id"]: o["totals"] for o in attendant_api.get(URL).json()["results"]}
    items = ServiceOrderItem._meta.db_table
    assert len(queries) == 1 and items not in queries[0]["sql"]  # the page alone, no item summed or read
    assert listed[both["id"]] == {"services_cents": 24000, "services": "240.00", "parts_cents": 15400,
                                  "parts": "154.00", "total_cents": 39400, "total": "394.00", "currency": "BRL"}
    for order in (both, parts_only, empty):
        stored = _items_come_to(order["id"])
        assert (listed[order["id"]]["services_cents"], listed[order["id"]]["parts_cents"]) == (
            stored.services_cents, stored.parts_cents)
        assert listed[order["id"]] == attendant_api.get(f"{URL}{order['id']}/").json()["totals"]
    assert listed[empty["id"]]["total_cents"] == 0 and listed[parts_only["id"]]["services_cents"] == 0


def test_a_diagnosis_that_replaces_the_items_replaces_the_amounts(attendant_api, mechanic_api, customer, vehicle,
                                                                  oil_change, oil_filter):
    order = _create(attendant_api, customer, vehicle, items=[
        {"kind": "part", "catalog_id": oil_filter.pk, "quantity": 4}]).json()
    assert mechanic_api.post(f"{URL}{order['id']}/start-diagnosis/").status_code == 200
    answer = mechanic_api.post(f"{URL}{order['id']}/diagnosis/", {"notes": "Troca", "items": [
        {"kind": "service", "catalog_id": oil_change.pk, "quantity": 1},
        {"kind": "part", "catalog_id": oil_filter.pk, "quantity": 1}]}, format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["totals"]["total_cents"] == 15850  # 120.00 + 38.50, the four filters gone
    listed = {o["id"]: o["totals"] for o in attendant_api.get(URL).json()["results"]}
    assert listed[order["id"]]["services_cents"] == 12000 and listed[order["id"]]["parts_cents"] == 3850
    assert _items_come_to(order["id"]) == Totals(services_cents=12000, parts_cents=3850)


def test_the_migration_sums_the_items_of_orders_stored_before_it(diagnosed_order):
    """Orders opened before the amounts were columns get them from their items (0005's data step)."""
    from importlib import import_module

    ServiceOrder.objects.filter(pk=diagnosed_order.pk).update(items_services_cents=0, items_parts_cents=0)
    bare = ServiceOrder.objects.create(number="OS-MIGRATION-1", customer=diagnosed_order.customer,
                                       vehicle=diagnosed_order.vehicle, complaint="Sem itens", tracking_code="mig-1")
    migration = import_module("service_orders.migrations.0005_item_amounts_on_the_order")
    with connection.schema_editor() as editor:
        migration.sum_existing_items(None, editor)
    diagnosed_order.refresh_from_db()
    assert (diagnosed_order.items_services_cents, diagnosed_order.items_parts_cents) == (12000, 3850)
    bare.refresh_from_db()
    assert (bare.items_services_cents, bare.items_parts_cents) == (0, 0)


def test_the_detail_has_items_totals_history_and_summaries(attendant_api, diagnosed_order):
    ServiceOrder.objects.filter(pk=diagnosed_order.pk).update(
        saga_summary={"budget": {"status": "PENDING_APPROVAL", "total_cents": 15850}, "payment": {}, "execution": {}})
    body = attendant_api.get(f"{URL}{diagnosed_order.pk}/").json()
    assert body["status"] == "IN_DIAGNOSIS" and body["saga_id"] == str(diagnosed_order.saga_id)
    assert body["diagnosis_notes"] == "Óleo vencido"
    assert [i["kind"] for i in body["items"]] == ["service", "part"]
    assert body["totals"] == {"services_cents": 12000, "services": "120.00", "parts_cents": 3850, "parts": "38.50",
                              "total_cents": 15850, "total": "158.50", "currency": "BRL"}
    assert [(h["from"], h["to"], h["by"]) for h in body["status_history"]] == [
        (None, "RECEIVED", "ana"), ("RECEIVED", "IN_DIAGNOSIS", "mario")]
    assert body["budget"] == {"status": "PENDING_APPROVAL", "total_cents": 15850}
    assert body["payment"] == {} and body["execution"] == {}
    assert body["tracking_url"] == f"http://os.test/track/{diagnosed_order.tracking_code}/"


@pytest.mark.parametrize("bad_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid", "123", "a%00b"])
def test_unknown_orders_are_404_everywhere(attendant_api, bad_id):
    assert attendant_api.get(f"{URL}{bad_id}/").status_code == 404
    for action in ("start-diagnosis", "deliver"):
        response = attendant_api.post(f"{URL}{bad_id}/{action}/")
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert attendant_api.post(f"{URL}{bad_id}/cancel/", {"reason": "x"}).status_code == 404
    assert attendant_api.post(f"{URL}{bad_id}/diagnosis/", {"notes": "x"}).status_code == 404


def test_a_mechanic_diagnoses_and_the_saga_is_started_through_the_outbox(
        mechanic_api, order, oil_change, oil_filter, published, django_capture_on_commit_callbacks):
    assert mechanic_api.post(f"{URL}{order.pk}/start-diagnosis/").json()["status"] == "IN_DIAGNOSIS"
    oil_change.price = "150.00"
    oil_change.save()
    with django_capture_on_commit_callbacks(execute=True):
        response = mechanic_api.post(f"{URL}{order.pk}/diagnosis/", {
            "items": [{"kind": "service", "catalog_id": oil_change.pk, "quantity": 1},
                      {"kind": "part", "catalog_id": oil_filter.pk, "quantity": 2}],
            "notes": "Troca urgente"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "IN_DIAGNOSIS" and body["saga_id"]
    assert published.types() == ["os.DiagnosisCompleted"]
    envelope = published.published[0]
    assert envelope.saga_id == body["saga_id"] and envelope.service_order_id == str(order.pk)
    assert envelope.payload == {
        "order_number": order.number,
        "customer_id": str(order.customer_id),
        "customer_name": "Maria da Silva",
        "customer_email": "maria@example.com",
        "vehicle": {"plate": "ABC1D23", "model": "Chevrolet Onix"},
        "priority": 3,
        "items": [
            {"kind": "service", "catalog_id": str(oil_change.pk), "description": "Troca de óleo", "quantity": 1,
             "unit_price_cents": 15000, "job": 1, "optional": False},
            {"kind": "part", "catalog_id": str(oil_filter.pk), "description": "Filtro de óleo", "quantity": 2,
             "unit_price_cents": 3850, "job": 1, "optional": False},
        ],
        "notes": "Troca urgente",
        "tracking_url": f"http://os.test/track/{order.tracking_code}/",
    }
    assert OutboxMessage.objects.get().published_at is not None


def test_an_action_answers_with_the_order_as_it_left_it_without_reading_the_order_again(
        attendant_api, mechanic_api, customer, vehicle, oil_change, oil_filter):
    """Each action answers the order's detail: what the action wrote, and what it did not touch
    (items, history, declined work) read once; the order row itself is read only by the action."""
    order_id = _create(attendant_api, customer, vehicle,
                       items=[{"kind": "service", "catalog_id": oil_change.pk, "quantity": 1}]).json()["id"]
    started = mechanic_api.post(f"{URL}{order_id}/start-diagnosis/").json()
    assert started == attendant_api.get(f"{URL}{order_id}/").json()
    with CaptureQueriesContext(connection) as statements:
        answer = mechanic_api.post(f"{URL}{order_id}/diagnosis/", {
            "items": [{"kind": "part", "catalog_id": oil_filter.pk, "quantity": 2}], "notes": "Filtro"},
            format="json").json()
    order_reads = [q["sql"] for q in statements.captured_queries
                   if q["sql"].startswith('SELECT "service_orders_serviceorder"."id"')]
    assert len(order_reads) == 1 and "FOR UPDATE" in order_reads[0]  # the action's own, locked read
    assert answer == attendant_api.get(f"{URL}{order_id}/").json()
    assert [(i["description"], i["quantity"]) for i in answer["items"]] == [("Filtro de óleo", 2)]
    assert [h["to"] for h in answer["status_history"]] == ["RECEIVED", "IN_DIAGNOSIS"]
    assert answer["diagnosis_notes"] == "Filtro" and answer["saga_id"]
    assert answer["customer"]["name"] == "Maria da Silva" and answer["vehicle"]["plate"] == "ABC1D23"


def test_a_diagnosis_without_items_keeps_what_the_customer_asked(attendant_api, customer, vehicle, oil_change):
    order_id = _create(attendant_api, customer, vehicle,
                       items=[{"kind": "service", "catalog_id": oil_change.pk, "quantity": 1}]).json()["id"]
    attendant_api.post(f"{URL}{order_id}/start-diagnosis/")
    body = attendant_api.post(f"{URL}{order_id}/diagnosis/", {"notes": ""}).json()
    assert [i["description"] for i in body["items"]] == ["Troca de óleo"]
    assert OutboxMessage.objects.get().envelope["payload"]["items"][0]["unit_price_cents"] == 12000


def test_a_diagnosis_with_nothing_to_budget_is_refused(mechanic_api, order):
    mechanic_api.post(f"{URL}{order.pk}/start-diagnosis/")
    response = mechanic_api.post(f"{URL}{order.pk}/diagnosis/", {"notes": "nada"})
    assert response.status_code == 400 and response.json()["code"] == "empty_diagnosis"


def test_a_diagnosis_is_submitted_once(mechanic_api, diagnosed_order, oil_change):
    response = mechanic_api.post(f"{URL}{diagnosed_order.pk}/diagnosis/",
                                 {"items": [{"kind": "service", "catalog_id": oil_change.pk, "quantity": 1}]},
                                 format="json")
    assert response.status_code == 409 and response.json()["code"] == "diagnosis_already_submitted"
    assert OutboxMessage.objects.count() == 1


def test_a_diagnosis_before_the_diagnosis_started_is_409(mechanic_api, order, oil_change):
    response = mechanic_api.post(f"{URL}{order.pk}/diagnosis/",
                                 {"items": [{"kind": "service", "catalog_id": oil_change.pk, "quantity": 1}]},
                                 format="json")
    assert response.status_code == 409
    assert "IN_DIAGNOSIS" in response.json()["message"] and "RECEIVED" in response.json()["message"]


def test_a_diagnosis_with_an_unknown_part_is_400_and_changes_nothing(mechanic_api, order):
    mechanic_api.post(f"{URL}{order.pk}/start-diagnosis/")
    response = mechanic_api.post(f"{URL}{order.pk}/diagnosis/",
                                 {"items": [{"kind": "part", "catalog_id": 999, "quantity": 1}]}, format="json")
    assert response.status_code == 400 and response.json()["extra"] == {"field": "items[0].catalog_id"}
    order.refresh_from_db()
    assert order.saga_id is None and not OutboxMessage.objects.exists()


def test_illegal_moves_are_409_naming_both_statuses(attendant_api, order):
    response = attendant_api.post(f"{URL}{order.pk}/deliver/")
    assert response.status_code == 409
    assert response.json() == {"message": "A service order cannot go from RECEIVED to DELIVERED.",
                               "code": "invalid_transition", "extra": {"from": "RECEIVED", "to": "DELIVERED"}}
    attendant_api.post(f"{URL}{order.pk}/start-diagnosis/")
    response = attendant_api.post(f"{URL}{order.pk}/deliver/")
    assert response.status_code == 409 and response.json()["extra"] == {"from": "IN_DIAGNOSIS", "to": "DELIVERED"}
    assert StatusHistory.objects.filter(service_order=order).count() == 2


def test_a_move_asked_again_once_made_is_a_no_op(attendant_api, order):
    """Seen in the fault run: the answer to start-diagnosis was lost, the client asked again and
    got 409 IN_DIAGNOSIS -> IN_DIAGNOSIS. A repeat of a person's move changes nothing and is a 200."""
    first = attendant_api.post(f"{URL}{order.pk}/start-diagnosis/")
    again = attendant_api.post(f"{URL}{order.pk}/start-diagnosis/")
    assert first.status_code == again.status_code == 200 and again.json()["status"] == "IN_DIAGNOSIS"
    assert StatusHistory.objects.filter(service_order=order).count() == 2
    ServiceOrder.objects.filter(pk=order.pk).update(status="FINISHED")
    assert attendant_api.post(f"{URL}{order.pk}/deliver/").status_code == 200
    assert attendant_api.post(f"{URL}{order.pk}/deliver/").json()["status"] == "DELIVERED"
    assert StatusHistory.objects.filter(service_order=order, to_status="DELIVERED").count() == 1


def test_a_cancel_asked_again_tells_the_saga_once(attendant_api, diagnosed_order):
    for _ in range(2):
        response = attendant_api.post(f"{URL}{diagnosed_order.pk}/cancel/", {"reason": "Cliente desistiu"})
        assert response.status_code == 200 and response.json()["status"] == "CANCELLED"
    assert OutboxMessage.objects.filter(type="os.OrderCancelled").count() == 1
    assert StatusHistory.objects.filter(service_order=diagnosed_order, to_status="CANCELLED").count() == 1


def test_a_finished_order_is_delivered(attendant_api, order):
    ServiceOrder.objects.filter(pk=order.pk).update(status="FINISHED")
    body = attendant_api.post(f"{URL}{order.pk}/deliver/").json()
    assert body["status"] == "DELIVERED"
    assert body["status_history"][-1]["from"] == "FINISHED" and body["status_history"][-1]["by"] == "ana"
    assert attendant_api.get(URL).json()["count"] == 0


def test_cancelling_before_the_saga_publishes_nothing(attendant_api, order):
    body = attendant_api.post(f"{URL}{order.pk}/cancel/", {"reason": "Cliente desistiu"}).json()
    assert body["status"] == "CANCELLED" and body["status_history"][-1]["reason"] == "Cliente desistiu"
    assert not OutboxMessage.objects.exists()


def test_cancelling_during_the_saga_tells_the_orchestrator(attendant_api, diagnosed_order):
    response = attendant_api.post(f"{URL}{diagnosed_order.pk}/cancel/", {"reason": "Cliente desistiu"})
    assert response.status_code == 200
    cancelled = OutboxMessage.objects.get(type="os.OrderCancelled")
    assert cancelled.queue == "execution" and cancelled.saga_id == str(diagnosed_order.saga_id)
    assert cancelled.envelope["payload"] == {"reason": "Cliente desistiu", "cancelled_by": "ana"}


def test_a_finished_order_is_not_cancelled_and_a_reason_is_required(attendant_api, order):
    assert attendant_api.post(f"{URL}{order.pk}/cancel/", {}).status_code == 400
    ServiceOrder.objects.filter(pk=order.pk).update(status="FINISHED")
    response = attendant_api.post(f"{URL}{order.pk}/cancel/", {"reason": "tarde demais"})
    assert response.status_code == 409 and "FINISHED" in response.json()["message"]


def test_mechanics_cannot_open_deliver_or_cancel(mechanic_api, customer, vehicle, order):
    assert _create(mechanic_api, customer, vehicle).status_code == 403
    assert mechanic_api.post(f"{URL}{order.pk}/deliver/").status_code == 403
    assert mechanic_api.post(f"{URL}{order.pk}/cancel/", {"reason": "x"}).status_code == 403
    assert mechanic_api.get(f"{URL}{order.pk}/").status_code == 200


def test_a_customer_sees_only_their_own_orders_and_changes_nothing(attendant_api, order, customer):
    other = attendant_api.post("/api/v1/customers/", {"name": "João", "document": OTHER_CPF}).json()
    car = attendant_api.post("/api/v1/vehicles/", {"customer_id": other["id"], "plate": "JOA0001", "brand": "VW",
                                                   "model": "Gol", "year": 2000}).json()
    theirs = attendant_api.post(URL, {"customer_id": other["id"], "vehicle_id": car["id"], "complaint": "x"}).json()
    maria = customer_client(customer.pk)
    listing = maria.get(URL).json()
    assert [o["number"] for o in listing["results"]] == [order.number]
    assert maria.get(URL, {"customer_id": other["id"]}).json()["count"] == 0
    assert maria.get(f"{URL}{order.pk}/").json()["number"] == order.number
    assert maria.get(f"{URL}{theirs['id']}/").status_code == 404
    assert maria.post(f"{URL}{order.pk}/cancel/", {"reason": "x"}).status_code == 403
    assert maria.post(f"{URL}{order.pk}/start-diagnosis/").status_code == 403
    assert maria.post(URL, {"customer_id": customer.pk, "vehicle_id": order.vehicle_id, "complaint": "x"}
                      ).status_code == 403
    assert maria.get("/api/v1/reports/execution-time/").status_code == 403


def test_a_customer_token_without_a_customer_sees_nothing(order):
    assert customer_client("not-a-number").get(URL).json()["count"] == 0


def test_anonymous_callers_are_401(anonymous_api, order):
    assert anonymous_api.get(URL).status_code == 401
    assert anonymous_api.get(f"{URL}{order.pk}/").status_code == 401
    assert anonymous_api.post(f"{URL}{order.pk}/cancel/", {"reason": "x"}).status_code == 401


def test_reserved_stock_is_untouched_by_the_api_flow(attendant_api, diagnosed_order, oil_filter):
    # The diagnosis only prices the parts; reserving them is the saga's step, later.
    assert Part.objects.get(pk=oil_filter.pk).quantity_reserved == 0
