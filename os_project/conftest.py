"""Fixtures shared by every test of the OS service (tests run on PostgreSQL and Redis db 10)."""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from config.celery import app as celery_app
from messaging.testing import PUBLISHED
from oficina_common.messaging import RecordingPublisher
from oficina_common.testing import isolated_caches

TEST_BROKER_URL = os.environ.get("OS_TEST_BROKER_URL", "redis://127.0.0.1:6379/10")

# Before anything talks to the broker: tests use their own Redis database, and tasks run inline
# unless a test starts a real worker.
celery_app.conf.update(broker_url=TEST_BROKER_URL, task_always_eager=True, task_eager_propagates=True)

VALID_CPF = "52998224725"
VALID_CPF_FORMATTED = "529.982.247-25"
OTHER_CPF = "11144477735"
VALID_CNPJ = "11222333000181"


@pytest.fixture(autouse=True)
def _test_settings(settings: Any) -> None:
    settings.CELERY_BROKER_URL = TEST_BROKER_URL
    settings.OS_MESSAGE_PUBLISHER = "messaging.testing.recording_publisher"
    settings.OS_SERVICE_URL = "http://os.test"
    settings.OS_PUBLIC_URL = ""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CACHES = isolated_caches(settings.CACHES)  # throttle counts start at zero in every test


@pytest.fixture(autouse=True)
def published() -> Iterator[RecordingPublisher]:
    """What the outbox relay published during the test (the fake publisher)."""
    PUBLISHED.published.clear()
    yield PUBLISHED
    PUBLISHED.published.clear()


# --- people ---------------------------------------------------------------------------------

@pytest.fixture
def make_user(db: Any) -> Callable[..., Any]:
    from accounts.models import User

    def make(username: str, role: str = "", **extra: Any) -> User:
        user = User.objects.create_user(username=username, password="s3cret-pass", role=role, **extra)
        return user

    return make


def client_for(user: Any) -> APIClient:
    from oficina_common.auth import add_staff_claims

    token = RefreshToken.for_user(user)
    add_staff_claims(token, user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.access_token}")
    return client


@pytest.fixture
def admin_api(make_user: Callable[..., Any]) -> APIClient:
    return client_for(make_user("boss", "admin"))


@pytest.fixture
def attendant_api(make_user: Callable[..., Any]) -> APIClient:
    return client_for(make_user("ana", "attendant"))


@pytest.fixture
def mechanic_api(make_user: Callable[..., Any]) -> APIClient:
    return client_for(make_user("mario", "mechanic"))


@pytest.fixture
def anonymous_api() -> APIClient:
    return APIClient()


def customer_client(customer_id: Any) -> APIClient:
    from oficina_common.auth import issue_customer_token

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_customer_token(customer_id)}")
    return client


# --- workshop data --------------------------------------------------------------------------

@pytest.fixture
def customer(db: Any) -> Any:
    from customers.services import customer_create

    return customer_create(name="Maria da Silva", document=VALID_CPF_FORMATTED, email="maria@example.com",
                           phone="(11) 99999-0000")


@pytest.fixture
def vehicle(customer: Any) -> Any:
    from customers.services import vehicle_create

    return vehicle_create(customer_id=customer.pk, plate="abc-1d23", brand="Chevrolet", model="Onix", year=2020)


@pytest.fixture
def oil_change(db: Any) -> Any:
    from catalog.services import service_create

    return service_create(name="Troca de óleo", price=Decimal("120.00"), estimated_minutes=40)


@pytest.fixture
def oil_filter(db: Any) -> Any:
    from catalog.services import part_create

    return part_create(sku="FILTRO-OLEO", name="Filtro de óleo", unit_price=Decimal("38.50"), quantity_in_stock=5,
                       minimum_stock=1)


@pytest.fixture
def order(customer: Any, vehicle: Any) -> Any:
    from service_orders.services import service_order_create

    return service_order_create(customer_id=customer.pk, vehicle_id=vehicle.pk, complaint="Barulho no motor",
                                by="ana")


@pytest.fixture
def diagnosed_order(order: Any, oil_change: Any, oil_filter: Any) -> Any:
    from service_orders.services import service_order_start_diagnosis, service_order_submit_diagnosis

    service_order_start_diagnosis(service_order_id=order.pk, by="mario")
    return service_order_submit_diagnosis(
        service_order_id=order.pk, notes="Óleo vencido",
        items=[{"kind": "service", "catalog_id": oil_change.pk, "quantity": 1},
               {"kind": "part", "catalog_id": oil_filter.pk, "quantity": 1}],
        by="mario",
    )
