import base64
import json
from decimal import Decimal

import pytest

from oficina_common.dynamodb import (
    DynamoSettings,
    Index,
    Page,
    Table,
    TableSpec,
    conditional_write,
    decode_page_token,
    encode_page_token,
    ensure_tables,
    is_expired,
    query_all,
    query_page,
    reset_resources,
    resource,
    to_dynamo,
    to_python,
)
from oficina_common.dynamodb import table as table_of
from oficina_common.errors import AlreadyExists, ConcurrencyConflict, ValidationFailed

JOBS = TableSpec(
    name="jobs",
    hash_key=("jobId", "S"),
    range_key=("priority", "N"),
    indexes=(Index("StatusIndex", ("status", "S"), ("sortKey", "S")),),
    ttl_attribute="ttl",
)


def table(settings: DynamoSettings):
    return table_of(settings, JOBS)


def test_a_table_handle_is_made_once_per_endpoint_and_name(dynamo_settings):
    jobs = table(dynamo_settings)
    assert jobs.name == f"{dynamo_settings.table_prefix}jobs"
    assert table(dynamo_settings) is jobs
    other_prefix = DynamoSettings(dynamo_settings.endpoint_url, dynamo_settings.region, "other_")
    assert table(other_prefix).name == "other_jobs"
    reset_resources()  # a test switching endpoints (mock_aws) gets handles on the new clients
    assert table(dynamo_settings) is not jobs


def test_ensure_tables_is_idempotent(dynamo_settings):
    assert ensure_tables(dynamo_settings, (JOBS,)) == [f"{dynamo_settings.table_prefix}jobs"]
    assert ensure_tables(dynamo_settings, (JOBS,)) == []
    description = resource(dynamo_settings).meta.client.describe_table(
        TableName=f"{dynamo_settings.table_prefix}jobs")["Table"]
    assert description["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [i["IndexName"] for i in description["GlobalSecondaryIndexes"]] == ["StatusIndex"]


def test_conditional_create_becomes_a_domain_error(dynamo_settings):
    ensure_tables(dynamo_settings, (JOBS,))
    jobs = table(dynamo_settings)

    def create():
        return jobs.put_item(Item={"jobId": "a", "priority": 3}, ConditionExpression="attribute_not_exists(jobId)")

    conditional_write(create, conflict="exists")
    with pytest.raises(AlreadyExists, match="job a exists"):
        conditional_write(create, conflict="job a exists", error=AlreadyExists)


def test_query_pages_follow_each_other_and_skip_expired(dynamo_settings):
    ensure_tables(dynamo_settings, (JOBS,))
    jobs = table(dynamo_settings)
    for n in range(5):
        jobs.put_item(Item={"jobId": f"j{n}", "priority": n, "status": "QUEUED", "sortKey": f"{n:03d}"})
    jobs.put_item(Item={"jobId": "old", "priority": 9, "status": "QUEUED", "sortKey": "999", "ttl": 1})
    query = {"IndexName": "StatusIndex", "KeyConditionExpression": "#s = :s",
             "ExpressionAttributeNames": {"#s": "status"}, "ExpressionAttributeValues": {":s": "QUEUED"}}
    first = query_page(jobs, limit=2, ttl_attribute="ttl", **query)
    assert [i["jobId"] for i in first.items] == ["j0", "j1"]
    assert isinstance(first.items[0]["priority"], int)
    second = query_page(jobs, limit=2, page_token=first.next_token, ttl_attribute="ttl", **query)
    assert [i["jobId"] for i in second.items] == ["j2", "j3"]
    everything = [i["jobId"] for i in query_all(jobs, ttl_attribute="ttl", Limit=2, **query)]
    assert everything == ["j0", "j1", "j2", "j3", "j4"]


def test_page_tokens():
    assert encode_page_token(None) is None
    token = encode_page_token({"jobId": "a", "priority": Decimal(3)})
    assert decode_page_token(token) == {"jobId": "a", "priority": 3}
    assert decode_page_token(None) is None
    with pytest.raises(ValidationFailed):
        decode_page_token("!!not-base64!!")
    with pytest.raises(ValidationFailed):
        decode_page_token(encode_page_token({"a": 1})[:-3] + "xyz")


@pytest.mark.parametrize("key", [{"jobId": "a", "priority": [1]}, {"jobId": None}, {"jobId": True},
                                 {"jobId": {"S": "a"}}])
def test_a_page_token_whose_key_is_no_dynamodb_key_is_a_400(key):
    token = base64.urlsafe_b64encode(json.dumps(key).encode()).decode()
    with pytest.raises(ValidationFailed):
        decode_page_token(token)


def test_a_page_token_with_a_fractional_number_reaches_dynamodb_as_a_decimal(dynamo_settings):
    """It was a 500: boto3 refuses floats. DynamoDB then refuses the key, which is a 400."""
    token = base64.urlsafe_b64encode(json.dumps({"jobId": "a", "priority": 1.5}).encode()).decode()
    assert decode_page_token(token) == {"jobId": "a", "priority": Decimal("1.5")}
    ensure_tables(dynamo_settings, (JOBS,))
    query = {"IndexName": "StatusIndex", "KeyConditionExpression": "#s = :s",
             "ExpressionAttributeNames": {"#s": "status"}, "ExpressionAttributeValues": {":s": "QUEUED"}}
    try:  # before: boto3's TypeError on the float, a 500
        query_page(table(dynamo_settings), page_token=token, **query)
    except ValidationFailed:
        pass  # dynalite (like DynamoDB) refuses a start key that does not fit the index; moto reads on


def _token(key: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def test_a_start_key_names_the_table_and_index_keys_with_their_types():
    assert JOBS.start_key() == {"jobId": "S", "priority": "N"}
    assert JOBS.start_key("StatusIndex") == {"jobId": "S", "priority": "N", "status": "S", "sortKey": "S"}


@pytest.mark.parametrize("key", [
    {"jobId": "a", "priority": 1},  # the table's key, not the index's
    {"jobId": "a", "priority": 1, "status": "QUEUED", "sortKey": "x", "other": "y"},
    {"jobId": "a", "priority": 1.5, "status": "QUEUED", "sortKey": "x"},  # no key of ours is fractional
    {"jobId": "a", "priority": "1", "status": "QUEUED", "sortKey": "x"},
    {"jobId": 7, "priority": 1, "status": "QUEUED", "sortKey": "x"},
])
def test_a_page_token_of_another_query_is_refused_before_dynamodb_sees_it(key):
    with pytest.raises(ValidationFailed) as refused:
        query_page(None, page_token=_token(key), start_key=JOBS.start_key("StatusIndex"))
    assert refused.value.code == "invalid_page_token"


def test_a_page_maps_its_items_and_keeps_its_token():
    page = Page([{"n": 1}, {"n": 2}], "next")
    assert page.map(lambda item: item["n"]) == Page([1, 2], "next")


def test_to_dynamo_is_the_inverse_of_to_python():
    data = {"a": [1, 2.5, ("x", "y")], 3: {"b": 0.1}}
    stored = to_dynamo(data)
    assert stored == {"a": [1, Decimal("2.5"), ["x", "y"]], "3": {"b": Decimal("0.1")}}
    assert to_python(stored) == {"a": [1, "2.5", ["x", "y"]], "3": {"b": "0.1"}}


def test_expiry_and_numbers():
    assert not is_expired(None)
    assert not is_expired({"ttl": None})
    assert is_expired({"ttl": Decimal(10)}, now=11)
    assert not is_expired({"ttl": 20}, now=11)
    assert to_python({"a": [Decimal("1"), Decimal("1.5")], "b": {Decimal(2)}}) == {"a": [1, "1.5"], "b": [2]}


def _requests(table_name: str) -> dict[tuple[str, str], float]:
    from oficina_common.metrics import DYNAMODB_REQUESTS

    return {(s.labels["operation"], s.labels["outcome"]): s.value
            for family in DYNAMODB_REQUESTS.collect() for s in family.samples
            if s.name.endswith("_total") and s.labels["table"] == table_name and s.labels["service"] == "libs"}


def test_every_call_is_counted_by_table_operation_and_outcome(dynamo_settings):
    ensure_tables(dynamo_settings, (JOBS,))
    jobs = table(dynamo_settings)
    before = _requests(jobs.name)  # CreateTable, DescribeTable... are counted too
    jobs.put_item(Item={"jobId": "a", "priority": 3})
    jobs.get_item(Key={"jobId": "a", "priority": 3})
    jobs.get_item(Key={"jobId": "a", "priority": 3})
    with pytest.raises(AlreadyExists):
        conditional_write(lambda: jobs.put_item(Item={"jobId": "a", "priority": 3},
                                                ConditionExpression="attribute_not_exists(jobId)"),
                          conflict="exists", error=AlreadyExists)
    counted = {call: n - before.get(call, 0) for call, n in _requests(jobs.name).items()}
    assert {call: n for call, n in counted.items() if n} == {
        ("PutItem", "ok"): 1, ("GetItem", "ok"): 2, ("PutItem", "ConditionalCheckFailedException"): 1}


def test_a_call_that_gets_no_answer_is_counted_by_its_exception():
    from botocore.exceptions import EndpointConnectionError

    reset_resources()
    nowhere = DynamoSettings(endpoint_url="http://127.0.0.1:9", region="us-east-1", table_prefix="gone_")
    with pytest.raises(EndpointConnectionError):
        table(nowhere).get_item(Key={"jobId": "a", "priority": 1})
    assert _requests("gone_jobs") == {("GetItem", "EndpointConnectionError"): 1}
    reset_resources()


def test_the_table_converts_as_boto3s_resource_does_and_hands_the_rest_to_it(dynamo_settings):
    ensure_tables(dynamo_settings, (JOBS,))
    jobs = table(dynamo_settings)
    plain = resource(dynamo_settings).Table(jobs.name)
    item = {"jobId": "a", "priority": 2, "status": "QUEUED", "sortKey": "001", "price": Decimal("12.50"),
            "steps": [{"name": "ó", "n": 1, "done": True, "note": None}], "tags": {"x", "y"}, "blob": b"\x00\x01"}
    jobs.put_item(Item=item, ConditionExpression="attribute_not_exists(jobId)")
    assert jobs.get_item(Key={"jobId": "a", "priority": 2}, ConsistentRead=True)["Item"] == plain.get_item(
        Key={"jobId": "a", "priority": 2}, ConsistentRead=True)["Item"]
    updated = jobs.update_item(Key={"jobId": "a", "priority": 2}, UpdateExpression="SET #s = :s, n = :n",
                               ConditionExpression="#s = :q", ExpressionAttributeNames={"#s": "status"},
                               ExpressionAttributeValues={":s": "ASSIGNED", ":q": "QUEUED", ":n": 3},
                               ReturnValues="ALL_NEW")["Attributes"]
    assert updated == plain.get_item(Key={"jobId": "a", "priority": 2}, ConsistentRead=True)["Item"]
    assert updated["n"] == 3 and updated["price"] == Decimal("12.50") and updated["tags"] == {"x", "y"}
    with pytest.raises(ConcurrencyConflict):
        conditional_write(lambda: jobs.update_item(
            Key={"jobId": "a", "priority": 2}, UpdateExpression="SET n = :n", ConditionExpression="n = :old",
            ExpressionAttributeValues={":n": 4, ":old": 1}), conflict="changed")
    with jobs.batch_writer() as batch:
        for n in range(3):
            batch.put_item(Item={"jobId": "b", "priority": n, "status": "QUEUED", "sortKey": f"{n:03d}"})
    first = jobs.query(KeyConditionExpression="jobId = :j", ExpressionAttributeValues={":j": "b"}, Limit=2)
    assert [i["priority"] for i in first["Items"]] == [0, 1] and first["LastEvaluatedKey"] == {"jobId": "b",
                                                                                               "priority": 1}
    rest = jobs.query(KeyConditionExpression="jobId = :j", ExpressionAttributeValues={":j": "b"},
                      ExclusiveStartKey=first["LastEvaluatedKey"])
    assert [i["priority"] for i in rest["Items"]] == [2] and "LastEvaluatedKey" not in rest
    jobs.delete_item(Key={"jobId": "b", "priority": 0})
    assert "Item" not in jobs.get_item(Key={"jobId": "b", "priority": 0}, ConsistentRead=True)


def test_a_batch_goes_to_the_plain_client_converted_as_the_resource_would(dynamo_settings, monkeypatch):
    """The batch_writer's items are converted by boto3's TypeSerializer as they are added and sent by
    the low-level client: the resource's client, which would walk the request against the model to
    convert it, is never asked."""
    ensure_tables(dynamo_settings, (JOBS,))
    jobs = table(dynamo_settings)
    plain = resource(dynamo_settings).Table(jobs.name)

    def refuse(**_):
        raise AssertionError("the resource's client was asked for the batch")

    monkeypatch.setattr(plain.meta.client, "batch_write_item", refuse)
    item = {"jobId": "w", "priority": 1, "status": "QUEUED", "sortKey": "001", "price": Decimal("9.90"),
            "steps": [{"name": "ó", "n": 1, "done": True, "note": None}], "tags": {"x"}, "blob": b"\x02"}
    with jobs.batch_writer(overwrite_by_pkeys=["jobId", "priority"]) as batch:
        batch.put_item(Item={**item, "status": "STALE"})
        batch.put_item(Item=item)  # the same key again: only this one is sent
        batch.put_item(Item={**item, "priority": 2})
        batch.delete_item(Key={"jobId": "w", "priority": 2})
    monkeypatch.undo()
    assert plain.get_item(Key={"jobId": "w", "priority": 1}, ConsistentRead=True)["Item"] == item
    assert "Item" not in plain.get_item(Key={"jobId": "w", "priority": 2}, ConsistentRead=True)


def test_what_a_batch_leaves_unprocessed_is_sent_again_as_it_came_back():
    """DynamoDB hands back the requests it did not take, in the wire format they were sent in: the
    writer sends them again unchanged (converting them twice would corrupt them)."""
    sent = []

    class Throttled:
        def batch_write_item(self, RequestItems):  # noqa: N803 - botocore's name
            sent.append(json.loads(json.dumps(RequestItems)))
            requests = RequestItems["jobs"]
            return {"UnprocessedItems": {"jobs": requests[:1]} if len(sent) == 1 else {}}

    class Named:
        name = "jobs"

    with Table(Named(), Throttled()).batch_writer() as batch:
        batch.put_item(Item={"jobId": "u", "priority": 1, "price": Decimal("1.5")})
        batch.put_item(Item={"jobId": "u", "priority": 2})
    first = {"PutRequest": {"Item": {"jobId": {"S": "u"}, "priority": {"N": "1"}, "price": {"N": "1.5"}}}}
    assert sent == [{"jobs": [first, {"PutRequest": {"Item": {"jobId": {"S": "u"}, "priority": {"N": "2"}}}}]},
                    {"jobs": [first]}]
