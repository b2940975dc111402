"""The order every status change locks, read by SQL written once from the models (services._locked_order):
the same order, customer and vehicle the ORM would read, locked until the transaction ends."""
import threading
import uuid

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from oficina_common.errors import NotFound
from service_orders.models import ServiceOrder
from service_orders.services import _locked_order


def _fields(instance):
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


@pytest.mark.django_db
def test_the_locked_order_is_what_the_orm_reads_with_its_customer_and_vehicle(order):
    summary = {"budget": {"status": "APPROVED", "total_cents": 25000, "note": "Pastilha dianteira — ç"},
               "payment": {}}
    ServiceOrder.objects.filter(pk=order.pk).update(saga_id=uuid.uuid4(), saga_summary=summary,
                                                    diagnosis_notes="Óleo vencido")
    expected = ServiceOrder.objects.select_related("customer", "vehicle").get(pk=order.pk)

    with transaction.atomic():
        locked = _locked_order(str(order.pk))
        with CaptureQueriesContext(connection) as queries:
            customer, vehicle = locked.customer, locked.vehicle

    assert not queries.captured_queries  # both came with the order
    assert _fields(locked) == _fields(expected)
    assert isinstance(locked.saga_id, uuid.UUID) and locked.saga_summary == summary  # converted as the ORM does
    assert _fields(customer) == _fields(expected.customer)
    assert _fields(vehicle) == _fields(expected.vehicle)
    assert not [name for name in vars(locked) if "__" in name]  # no column left over as an attribute
    assert locked._state.adding is False and locked._state.db == "default"


@pytest.mark.django_db
@pytest.mark.parametrize("service_order_id", [str(uuid.uuid4()), "not-a-uuid", "", None, "1; DROP TABLE x"])
def test_an_unknown_or_malformed_order_is_not_found(service_order_id):
    with transaction.atomic(), pytest.raises(NotFound):
        _locked_order(service_order_id)


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_order_is_not_read_as_if_locked(order):
    with pytest.raises(TransactionManagementError):
        _locked_order(order.pk)


@pytest.mark.django_db(transaction=True)
def test_the_order_stays_locked_until_the_transaction_ends_and_its_customer_does_not(order):
    outcome = {}

    def try_to_lock(model, pk):
        try:
            with transaction.atomic():
                model.objects.select_for_update(nowait=True).get(pk=pk)
            outcome[model.__name__] = "locked it"
        except OperationalError:
            outcome[model.__name__] = "refused"
        finally:
            connections.close_all()

    with transaction.atomic():
        locked = _locked_order(order.pk)
        for model, pk in ((ServiceOrder, order.pk), (type(locked.customer), locked.customer_id)):
            other = threading.Thread(target=try_to_lock, args=(model, pk))
            other.start()
            other.join(10)
    assert outcome == {"ServiceOrder": "refused", "Customer": "locked it"}
    after = threading.Thread(target=try_to_lock, args=(ServiceOrder, order.pk))
    after.start()
    after.join(10)
    assert outcome["ServiceOrder"] == "locked it"
