import json
from datetime import timedelta

import pytest

from oficina_common.dynamodb import TableSpec, ensure_tables, resource
from oficina_common.messages import Envelope
from oficina_common.messaging import RecordingPublisher
from oficina_common.outbox import (
    OUTBOX_INDEX,
    DynamoInbox,
    DynamoOutboxRelay,
    inbox_table_spec,
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


def test_inbox_marks_once(dynamo_settings):
    spec = inbox_table_spec("inbox")
    ensure_tables(dynamo_settings, (spec,))
    inbox = DynamoInbox(resource(dynamo_settings).Table(spec.physical_name(dynamo_settings.table_prefix)))
    assert not inbox.seen("m1")
    assert inbox.mark("m1", "os.PartsReserved") is True
    assert inbox.mark("m1", "os.PartsReserved") is False
    assert inbox.seen("m1")
    expired = DynamoInbox(inbox.table, retention=timedelta(seconds=-10))
    expired.mark("m2", "x")
    assert not inbox.seen("m2")


@pytest.fixture
def dynamo_inbox(dynamo_settings):
    spec = inbox_table_spec("inbox")
    ensure_tables(dynamo_settings, (spec,))
    return DynamoInbox(resource(dynamo_settings).Table(spec.physical_name(dynamo_settings.table_prefix)))


def test_a_claimed_message_is_busy_until_its_lease_runs_out(dynamo_inbox):
    from oficina_common.errors import MessageInProgress

    assert dynamo_inbox.claim("m1", "x") is True
    with pytest.raises(MessageInProgress):  # retried later: the first worker may have died
        dynamo_inbox.claim("m1", "x")
    dead_worker = DynamoInbox(dynamo_inbox.table, lease=timedelta(seconds=-1))
    assert dead_worker.claim("m2", "x") is True
    assert dynamo_inbox.claim("m2", "x") is True  # the first worker died: its lease ran out
    assert dynamo_inbox.mark("m2", "x") is True
    assert dynamo_inbox.claim("m2", "x") is False
    assert dynamo_inbox.mark("m2", "x") is False


def test_dispatcher_runs_a_message_once_and_again_after_a_failure(dynamo_inbox):
    from oficina_common.messaging import Dispatcher

    calls = []

    def flaky(envelope):
        calls.append(envelope.message_id)
        if len(calls) == 1:
            raise ConnectionError("broker down")

    dispatcher = Dispatcher({"billing.BudgetApproved": flaky})
    data = event(1).to_dict()
    with pytest.raises(ConnectionError):
        dispatcher.dispatch(data, dynamo_inbox)
    assert dispatcher.dispatch(data, dynamo_inbox) == "handled"  # the claim was released
    assert dispatcher.dispatch(data, dynamo_inbox) == "duplicate"
    assert len(calls) == 2


def test_concurrent_deliveries_run_the_handler_once(dynamo_settings, dynamo_inbox):
    import threading

    from oficina_common.messaging import Dispatcher

    calls = []
    barrier = threading.Barrier(8)
    dispatcher = Dispatcher({"billing.BudgetApproved": calls.append})
    data = event(1).to_dict()
    results = []

    def deliver():
        from oficina_common.errors import MessageInProgress

        barrier.wait()
        try:
            results.append(dispatcher.dispatch(data, dynamo_inbox))
        except MessageInProgress:
            results.append("busy")

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert results.count("handled") == 1
    assert set(results) <= {"handled", "busy", "duplicate"}
