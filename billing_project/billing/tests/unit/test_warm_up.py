"""What a fresh Billing process builds before it takes work (settings.WARM_UP, oficina_common.warmup)."""
import pytest

from billing import dependencies, tables
from oficina_common import dynamodb
from oficina_common.warmup import warm_up


@pytest.fixture
def fresh_process(settings):
    """No DynamoDB resource or table handle made yet, as in a process that has just started."""
    settings.DYNAMODB_ENDPOINT_URL = "http://127.0.0.1:9"  # never called: handles are made offline
    dynamodb.reset_resources()
    dependencies.install(None)
    yield
    dynamodb.reset_resources()


def test_the_warm_up_builds_the_dynamodb_resource_before_the_first_request(fresh_process, monkeypatch):
    warm_up(web=False)
    built = []
    real = dynamodb._new_resource
    monkeypatch.setattr(dynamodb, "_new_resource", lambda *args: built.append(args) or real(*args))

    # Every table the repositories use, as the first budget request or task reaches them.
    deps = dependencies.dependencies()
    used = [deps.budgets.table, deps.budgets.items_table, deps.payments.table, deps.approval_tokens.table]

    assert built == []  # the ~0.07 s of CPU building it (service model loaded and parsed) was the warm-up's
    assert {t.name for t in used} == {tables.table(spec).name for spec in tables.ALL_TABLES}
