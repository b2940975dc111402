"""Real threads, real PostgreSQL connections: the row locks, not luck, keep stock right."""
import threading

import pytest
from django.db import connection

from catalog.models import Part
from catalog.services import part_create
from messaging.models import OutboxMessage
from messaging.services import message_handle
from oficina_common.messages import Envelope
from service_orders.services import service_order_create

pytestmark = pytest.mark.django_db(transaction=True)


def _run_at_once(*messages):
    barrier = threading.Barrier(len(messages))
    results = [None] * len(messages)

    def worker(index, message):
        try:
            barrier.wait(timeout=10)
            results[index] = message_handle(message)
        finally:
            connection.close()  # each thread had its own connection

    threads = [threading.Thread(target=worker, args=(n, m)) for n, m in enumerate(messages)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def _reserve(order, part, quantity=1, message_id=None):
    envelope = Envelope(type="os.ReserveParts", saga_id=f"saga-{order.number}", service_order_id=str(order.pk),
                        payload={"parts": [{"catalog_id": str(part.pk), "quantity": quantity}]})
    data = envelope.to_dict()
    if message_id:
        data["message_id"] = message_id
    return data


@pytest.fixture
def two_orders(customer, vehicle):
    return [service_order_create(customer_id=customer.pk, vehicle_id=vehicle.pk, complaint=f"#{n}", by="ana")
            for n in range(2)]


def test_two_orders_reserving_the_last_unit_exactly_one_wins(two_orders):
    last_unit = part_create(sku="ULTIMA", name="Última peça", unit_price="10.00", quantity_in_stock=1)
    results = _run_at_once(*(_reserve(order, last_unit) for order in two_orders))
    assert results == ["handled", "handled"]
    last_unit.refresh_from_db()
    assert (last_unit.quantity_in_stock, last_unit.quantity_reserved) == (1, 1)
    replies = sorted(OutboxMessage.objects.values_list("type", flat=True))
    assert replies == ["os.PartsReservationFailed", "os.PartsReserved"]
    failed = OutboxMessage.objects.get(type="os.PartsReservationFailed").envelope["payload"]
    assert failed["missing"] == [{"catalog_id": str(last_unit.pk), "requested": 1, "available": 0}]


def test_orders_locking_parts_in_opposite_orders_do_not_deadlock(two_orders):
    left = part_create(sku="A", name="A", unit_price="1.00", quantity_in_stock=5)
    right = part_create(sku="B", name="B", unit_price="1.00", quantity_in_stock=5)
    first, second = two_orders
    one = _reserve(first, left)
    one["payload"]["parts"] = [{"catalog_id": str(right.pk), "quantity": 1},
                               {"catalog_id": str(left.pk), "quantity": 1}]
    other = _reserve(second, left)
    other["payload"]["parts"] = [{"catalog_id": str(left.pk), "quantity": 1},
                                 {"catalog_id": str(right.pk), "quantity": 1}]
    assert _run_at_once(one, other) == ["handled", "handled"]
    assert list(Part.objects.order_by("sku").values_list("quantity_reserved", flat=True)) == [2, 2]


def test_the_same_message_delivered_twice_at_once_has_one_effect(two_orders, published):
    part = part_create(sku="DUP", name="Dup", unit_price="1.00", quantity_in_stock=5)
    message = _reserve(two_orders[0], part)
    results = _run_at_once(message, dict(message))
    assert sorted(results) == ["duplicate", "handled"]
    assert Part.objects.get(pk=part.pk).quantity_reserved == 1
    assert OutboxMessage.objects.filter(type="os.PartsReserved").count() == 1
    # Both deliveries are answered, with the one reply's id: the saga takes it once.
    answers = [e.message_id for e in published.published if e.type == "os.PartsReserved"]
    assert len(answers) == 2 and len(set(answers)) == 1
