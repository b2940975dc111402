import uuid

import pytest

from oficina_common.dynamodb import DynamoSettings, reset_resources
from oficina_common.testing import dynalite_server, moto_server


@pytest.fixture(scope="session")
def moto_endpoint():
    with moto_server() as url:
        yield url


@pytest.fixture(scope="session")
def dynalite_endpoint():
    with dynalite_server() as url:
        yield url


@pytest.fixture(params=["moto", "dynalite"])
def dynamo_settings(request) -> DynamoSettings:
    """A real DynamoDB endpoint over HTTP: both emulators, so the code stays portable."""
    endpoint = request.getfixturevalue(f"{request.param}_endpoint")
    reset_resources()
    return DynamoSettings(endpoint_url=endpoint, region="us-east-1", table_prefix=f"t{uuid.uuid4().hex[:8]}_")
