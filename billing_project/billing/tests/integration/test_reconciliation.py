"""The reconciliation's walk on real DynamoDB endpoints (moto's server and dynalite): more pending
payments than one run looks at, in a payments table of their own."""
import uuid
from datetime import timedelta

import pytest

from billing import dependencies, services, tables
from billing.domain import PaymentStatus
from billing.repositories import PaymentRepository
from billing.tests.factories import NOW, a_payment
from billing.tests.fakes import Clock, FakeMercadoPago, FakeMercadoPagoPayment
from oficina_common.dynamodb import DynamoSettings, ensure_tables
from oficina_common.messaging import RecordingPublisher

PENDING = 7
LIMIT = 3


@pytest.fixture
def walk(any_tables, settings):
    """PENDING Pix payments, a minute apart, that Mercado Pago keeps pending; Billing's services on them."""
    settings.PAYMENT_RECONCILE_AFTER_SECONDS = 120
    isolated = DynamoSettings(any_tables.endpoint_url, any_tables.region, f"r{uuid.uuid4().hex[:6]}_")
    ensure_tables(isolated, (tables.PAYMENTS,))
    repository = PaymentRepository(table=tables.table(tables.PAYMENTS, isolated), publisher=RecordingPublisher())
    mercadopago = FakeMercadoPago()
    deps = dependencies.from_settings(publisher=RecordingPublisher(), payments=repository, mercadopago=mercadopago,
                                      clock=Clock(NOW))
    for n in range(PENDING):
        payment = a_payment(created_at=NOW - timedelta(minutes=60 - n), requested_at=NOW - timedelta(minutes=60 - n),
                            mercadopago_payment_id=f"mp-{n}", mercadopago_status="pending")
        repository.add(payment)
        mercadopago.payments[f"mp-{n}"] = FakeMercadoPagoPayment(f"mp-{n}", "pending", payment.amount_cents,
                                                                 payment.payment_id)
    with dependencies.override(deps):
        yield deps


def run(walk) -> set[str]:
    walk.mercadopago.calls.clear()
    services.payments_reconcile(limit=LIMIT)
    return {key for call, key in walk.mercadopago.calls if call == "get_payment"}


def test_every_pending_payment_is_looked_at_within_ceil_n_over_limit_runs(walk):
    runs = [run(walk) for _ in range(-(-PENDING // LIMIT))]
    assert [len(r) for r in runs] == [3, 3, 1]
    assert set().union(*runs) == {f"mp-{n}" for n in range(PENDING)}
    assert run(walk) == {"mp-0", "mp-1", "mp-2"}  # then it starts again from the oldest


def test_the_walk_keeps_its_place_when_payments_leave_it(walk):
    assert run(walk) == {"mp-0", "mp-1", "mp-2"}
    for n in range(3):  # the page just looked at gets paid
        walk.mercadopago.set_status(f"mp-{n}", "approved")
        services.payment_sync_from_mercadopago(mercadopago_payment_id=f"mp-{n}")
    assert run(walk) == {"mp-3", "mp-4", "mp-5"}
    assert run(walk) == {"mp-6"}
    assert run(walk) == {"mp-3", "mp-4", "mp-5"}


def test_a_cursor_that_no_longer_fits_starts_the_walk_again(walk):
    walk.payments.save_reconcile_cursor("not-a-page-token")
    assert run(walk) == {"mp-0", "mp-1", "mp-2"}


def test_the_cursor_is_no_payment(walk):
    run(walk)
    assert walk.payments.reconcile_cursor()
    assert walk.payments.get("#reconcile") is None
    pending = walk.payments.pending_created_before(NOW, limit=50).items
    assert len(pending) == PENDING and all(p.status == PaymentStatus.PENDING for p in pending)
