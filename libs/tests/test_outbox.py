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
    outbox_write,
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
    update = outbox_write(envelopes)
    clauses, names, values = update.set_clauses, update.names, update.values
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



# --- receipts: published messages leave with the item's next write -----------------------------
@pytest.fixture
def receipts():
    from django.core.cache import caches

    from oficina_common.outbox import CacheReceipts

    cache = caches["default"]
    cache.clear()
    return CacheReceipts(cache)


def test_with_receipts_the_relay_publishes_once_and_writes_nothing(orders, receipts):
    orders.put_item(Item={"orderId": "o1", "status": "PENDING", **new_item_outbox()})
    item = approve(orders, event(1), event(2))
    publisher = RecordingPublisher()
    relay = DynamoOutboxRelay(orders, ["orderId"], publisher, receipts)
    assert relay.drain(item) == 2
    assert orders.get_item(Key={"orderId": "o1"}, ConsistentRead=True)["Item"] == item  # no write
    assert relay.drain(item) == 0  # a redelivery of the change: its receipts say the messages left
    assert publisher.types() == ["billing.BudgetApproved"] * 2


def test_the_next_write_removes_what_was_published_and_keeps_what_was_not(orders, receipts):
    from oficina_common.outbox import outbox_write

    orders.put_item(Item={"orderId": "o1", "status": "PENDING", **new_item_outbox([event(1), event(2)])})
    item = orders.get_item(Key={"orderId": "o1"}, ConsistentRead=True)["Item"]
    published, crashed = sorted(item["outbox"])  # one published, the other's worker died first
    receipts.mark([published])
    update = outbox_write([event(3)], held=list(item["outbox"]), published=receipts.published(list(item["outbox"])))
    orders.update_item(Key={"orderId": "o1"}, UpdateExpression=update.expression(["#st = :s"]),
                       ExpressionAttributeNames={"#st": "status", **update.names},
                       ExpressionAttributeValues={":s": "APPROVED", **update.values})
    after = orders.get_item(Key={"orderId": "o1"}, ConsistentRead=True)["Item"]
    assert published not in after["outbox"] and crashed in after["outbox"] and len(after["outbox"]) == 2
    assert after["outbox_pending"] == "1"
    # A write with nothing new, once everything left: the item is no longer pending.
    receipts.mark(list(after["outbox"]))
    update = outbox_write([], held=list(after["outbox"]), published=receipts.published(list(after["outbox"])))
    orders.update_item(Key={"orderId": "o1"}, UpdateExpression=update.expression(),
                       ExpressionAttributeNames=update.names)
    final = orders.get_item(Key={"orderId": "o1"}, ConsistentRead=True)["Item"]
    assert final["outbox"] == {} and "outbox_pending" not in final


def test_with_receipts_the_sweeper_publishes_only_what_has_none_and_writes_nothing(orders, receipts):
    from oficina_common import outbox

    outbox._SWEPT_UP_TO.clear()
    orders.put_item(Item={"orderId": "o1", "status": "PENDING", **new_item_outbox([event(1)])})  # published
    orders.put_item(Item={"orderId": "o2", "status": "PENDING", **new_item_outbox([event(2)])})  # stranded
    receipts.mark(list(orders.get_item(Key={"orderId": "o1"})["Item"]["outbox"]))
    before = [orders.get_item(Key={"orderId": k}, ConsistentRead=True)["Item"] for k in ("o1", "o2")]
    publisher = RecordingPublisher()
    relay = DynamoOutboxRelay(orders, ["orderId"], publisher, receipts)
    assert relay.sweep(older_than=timedelta(seconds=-5)) == 1
    assert [e.payload["n"] for e in publisher.published] == [2]
    assert relay.sweep(older_than=timedelta(seconds=-5)) == 0
    assert [orders.get_item(Key={"orderId": k}, ConsistentRead=True)["Item"] for k in ("o1", "o2")] == before


def test_receipts_that_cannot_be_read_mean_publishing_again(orders):
    from oficina_common.outbox import CacheReceipts

    class Down:
        def get_many(self, keys):
            raise ConnectionError("redis is down")

        def set_many(self, values, timeout):
            raise ConnectionError("redis is down")

    receipts = CacheReceipts(Down())
    assert receipts.published(["a"]) == set()
    receipts.mark(["a"])  # logged, never raised: the message will be published again


def test_a_message_written_again_forgets_its_receipt_and_is_published_anew(orders, receipts):
    from oficina_common.outbox import prepare_write

    orders.put_item(Item={"orderId": "o1", "status": "PENDING", **new_item_outbox()})
    first = approve(orders, event(1))
    relay = DynamoOutboxRelay(orders, ["orderId"], RecordingPublisher(), receipts)
    assert relay.drain(first) == 1
    resent = Envelope.from_dict(json.loads(next(iter(first["outbox"].values()))))  # the same id, again
    update = prepare_write(receipts, [resent], held=list(first["outbox"]))
    assert update.remove_clauses == []  # held, but written again: it stays
    orders.update_item(Key={"orderId": "o1"}, UpdateExpression=update.expression(),
                       ExpressionAttributeNames=update.names, ExpressionAttributeValues=update.values)
    again = orders.get_item(Key={"orderId": "o1"}, ConsistentRead=True)["Item"]
    assert relay.drain(again) == 1


def test_before_a_write_one_round_trip_forgets_the_new_receipts_and_reads_the_held_ones(receipts):
    receipts.mark(["resent", "left", "other"])
    calls = []
    client = receipts._redis()  # redis-py, under Django's Redis cache
    real_pipeline = client.pipeline

    def counting_pipeline(*args, **kwargs):
        pipeline = real_pipeline(*args, **kwargs)
        real_execute = pipeline.execute
        pipeline.execute = lambda *a, **k: calls.append(len(pipeline.command_stack)) or real_execute(*a, **k)
        return pipeline

    client.pipeline = counting_pipeline
    receipts._redis = lambda: client
    assert receipts.before_write(["resent"], ["left", "stranded"]) == {"left"}
    del receipts._redis
    assert calls == [2]  # DEL and MGET, sent together
    assert receipts.published(["resent", "left", "other"]) == {"left", "other"}


def test_before_a_write_on_another_cache_forgets_and_reads_one_by_one():
    from django.core.cache.backends.locmem import LocMemCache

    from oficina_common.outbox import CacheReceipts

    receipts = CacheReceipts(LocMemCache("receipts", {}))
    receipts.mark(["resent", "left"])
    assert receipts.before_write(["resent"], ["left", "stranded"]) == {"left"}
    assert receipts.published(["resent", "left"]) == {"left"}
    assert receipts.before_write(["new"], []) == set()


def test_a_drain_just_after_the_write_reads_no_receipt_and_records_them(orders, receipts):
    orders.put_item(Item={"orderId": "o1", "status": "PENDING", **new_item_outbox()})
    item = approve(orders, event(1))
    publisher = RecordingPublisher()
    relay = DynamoOutboxRelay(orders, ["orderId"], publisher, receipts)
    receipts.published = lambda ids: pytest.fail("a drain just after its write read the receipts")
    assert relay.drain(item, just_written=True) == 1
    del receipts.published
    assert receipts.published(list(item["outbox"])) == set(item["outbox"])  # recorded: the next write takes it out
    assert relay.drain(item) == 0  # a later drain (a redelivery) reads them and publishes nothing
    assert publisher.types() == ["billing.BudgetApproved"]
