import json
from datetime import timedelta

import pytest

from oficina_common.dynamodb import TableSpec, ensure_tables, resource
from oficina_common.messages import Envelope
from oficina_common.messaging import RecordingPublisher
from oficina_common.outbox import (
    OUTBOX_INDEX,
    DynamoOutboxRelay,
    new_item_outbox,
    outbox_update,
    pending_messages,
)

ORDERS = TableSpec(name="orders", hash_key=("orderId", "S"), indexes=(OUTBOX_INDEX,))


def event(n: int) -> Envelope:
    return Envelope(type="billing.BudgetApproved", saga_id="s", service_order_id="o", payload={"n": n})


@pytest.fixture
def orders(dynamo_settings):
    ensure_tables(dynamo_settings, (ORDERS,))
    return resource(dynamo_settings).Table(ORDERS.physical_name(dynamo_settings.table_prefix))


def approve(orders, *envelopes):
    clauses, names, values = outbox_update(envelopes)
    orders.update_item(
        Key={"orderId": "o1"},
        UpdateExpression="SET #st = :approved, " + ", ".join(clauses),
        ConditionExpression="#st = :pending",
        ExpressionAttributeNames={"#st": "status", **names},
        ExpressionAttributeValues={":approved": "APPROVED", ":pending": "PENDING", **values},
    )
    return orders.get_item(Key={"orderId": "o1"}, ConsistentRead=True)["Item"]


def test_messages_travel_in_the_state_change_and_are_drained_once(orders):
    orders.put_item(Item={"orderId": "o1", "status": "PENDING", **new_item_outbox()})
    item = approve(orders, event(1), event(2))
    assert item["status"] == "APPROVED"
    assert [e.payload["n"] for e in pending_messages(item)] == [1, 2]

    publisher = RecordingPublisher()
    relay = DynamoOutboxRelay(orders, ["orderId"], publisher)
    assert relay.drain(item) == 2
    after = orders.get_item(Key={"orderId": "o1"}, ConsistentRead=True)["Item"]
    assert after["outbox"] == {}
    assert "outbox_pending" not in after
    # A second relay holding the stale item publishes again (at-least-once) but breaks nothing.
    assert relay.drain(item) == 2
    assert publisher.types() == ["billing.BudgetApproved"] * 4


def test_sweeper_finds_only_items_with_stranded_messages(orders):
    orders.put_item(Item={"orderId": "o1", "status": "PENDING", **new_item_outbox()})
    orders.put_item(Item={"orderId": "o2", "status": "PENDING", **new_item_outbox([event(9)])})
    approve(orders, event(1))
    publisher = RecordingPublisher()
    relay = DynamoOutboxRelay(orders, ["orderId"], publisher)
    assert relay.sweep(older_than=timedelta(hours=1)) == 0
    assert relay.sweep(older_than=timedelta(seconds=-5)) == 2
    assert sorted(e.payload["n"] for e in publisher.published) == [1, 9]
    assert relay.sweep(older_than=timedelta(seconds=-5)) == 0


def test_new_messages_keep_the_pending_flag(orders):
    orders.put_item(Item={"orderId": "o1", "status": "PENDING", **new_item_outbox()})
    stale = approve(orders, event(1))
    orders.update_item(Key={"orderId": "o1"}, UpdateExpression="SET outbox.#m = :m, outbox_pending = :p",
                       ExpressionAttributeNames={"#m": "late"},
                       ExpressionAttributeValues={":m": json.dumps(event(2).to_dict()), ":p": "1"})
    DynamoOutboxRelay(orders, ["orderId"], RecordingPublisher()).drain(stale)
    after = orders.get_item(Key={"orderId": "o1"}, ConsistentRead=True)["Item"]
    assert list(after["outbox"]) == ["late"]
    assert after["outbox_pending"] == "1"

