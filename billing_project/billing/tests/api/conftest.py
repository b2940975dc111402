import pytest
from rest_framework.test import APIClient

from billing.tests import factories


@pytest.fixture
def client() -> APIClient:
    return APIClient()


@pytest.fixture
def staff(client) -> APIClient:
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {factories.staff_token()}")
    return client


@pytest.fixture
def customer() -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {factories.customer_token('42')}")
    return client


@pytest.fixture
def other_customer() -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {factories.customer_token('43')}")
    return client
