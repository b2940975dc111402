"""DynamoDB helpers for the repository layers of Billing and Execution.

Design rules: reads are GetItem or Query (never Scan); every state change is one
conditional single-item write; no TransactWriteItems (neither emulator can carry it).
"""
from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import boto3
from boto3.dynamodb.table import BatchWriter
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError

from .errors import ConcurrencyConflict, ValidationFailed
from .metrics import count_dynamodb_requests

logger = logging.getLogger(__name__)

T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True)
class Index:
    name: str
    hash_key: tuple[str, str]
    range_key: tuple[str, str] | None = None


@dataclass(frozen=True)
class TableSpec:
    """A table of the design: logical name, keys as (attribute, S|N), GSIs, TTL attribute."""

    name: str
    hash_key: tuple[str, str]
    range_key: tuple[str, str] | None = None
    indexes: tuple[Index, ...] = field(default_factory=tuple)
    ttl_attribute: str | None = None

    def physical_name(self, prefix: str) -> str:
        return f"{prefix}{self.name}"

    def start_key(self, index_name: str | None = None) -> dict[str, str]:
        """The attributes (name → S|N) of a LastEvaluatedKey of a Query on the table or one of its
        indexes: the table's keys and the index's."""
        keys = [self.hash_key, self.range_key]
        if index_name is not None:
            index = next(i for i in self.indexes if i.name == index_name)
            keys += [index.hash_key, index.range_key]
        return {name: kind for name, kind in (k for k in keys if k)}

    def create_kwargs(self, prefix: str) -> dict[str, Any]:
        attributes: dict[str, str] = {}

        def key_schema(hash_key: tuple[str, str], range_key: tuple[str, str] | None) -> list[dict]:
            schema = [{"AttributeName": hash_key[0], "KeyType": "HASH"}]
            attributes[hash_key[0]] = hash_key[1]
            if range_key:
                schema.append({"AttributeName": range_key[0], "KeyType": "RANGE"})
                attributes[range_key[0]] = range_key[1]
            return schema

        kwargs: dict[str, Any] = {
            "TableName": self.physical_name(prefix),
            "KeySchema": key_schema(self.hash_key, self.range_key),
            "BillingMode": "PAY_PER_REQUEST",
        }
        if self.indexes:
            kwargs["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": index.name,
                    "KeySchema": key_schema(index.hash_key, index.range_key),
                    "Projection": {"ProjectionType": "ALL"},
                }
                for index in self.indexes
            ]
        kwargs["AttributeDefinitions"] = [
            {"AttributeName": name, "AttributeType": kind} for name, kind in sorted(attributes.items())
        ]
        return kwargs


@dataclass(frozen=True)
class DynamoSettings:
    endpoint_url: str | None
    region: str
    table_prefix: str


def _boto_config() -> Config:
    # DynamoDB validates every request itself (ValidationException); botocore's client-side copy of
    # that check was ~9% of a saga worker's CPU.
    return Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=3, read_timeout=10,
                  max_pool_connections=50, parameter_validation=False)


_resources: dict[tuple[str | None, str], Any] = {}
_resources_lock = threading.Lock()


def _resource(endpoint_url: str | None, region: str) -> Any:
    # Creating sessions is what boto3 cannot do from several threads at once, so creation is
    # locked; the resource is then shared: its Table actions go through the low-level client,
    # which is thread-safe, and a resource per thread would cost ~50 ms per new request thread.
    key = (endpoint_url, region)
    with _resources_lock:
        if key not in _resources:
            _resources[key] = _new_resource(endpoint_url, region)
        return _resources[key]


def _credentials(endpoint_url: str | None) -> dict[str, str]:
    # Emulators accept any credentials; real AWS takes them from the usual chain.
    return {"aws_access_key_id": "local", "aws_secret_access_key": "local"} if endpoint_url else {}


def _new_resource(endpoint_url: str | None, region: str) -> Any:
    session = boto3.session.Session()
    options = {"endpoint_url": endpoint_url or None, "region_name": region, "config": _boto_config(),
               **_credentials(endpoint_url)}
    made = session.resource("dynamodb", **options)
    count_dynamodb_requests(made.meta.client.meta.events)
    # The client the hot calls of ``Table`` take (the resource's own client transforms what it is given).
    made.plain_client = session.client("dynamodb", **options)
    count_dynamodb_requests(made.plain_client.meta.events)
    return made


_serializer = TypeSerializer()


def _wire(values: dict[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in values.items()}


def _unwire(image: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in image.items()}


def _with_values(kwargs: dict[str, Any]) -> dict[str, Any]:
    if "ExpressionAttributeValues" in kwargs:
        kwargs = {**kwargs, "ExpressionAttributeValues": _wire(kwargs["ExpressionAttributeValues"])}
    return kwargs


class _WireBatchWriter(BatchWriter):
    """boto3's own BatchWriter (buffering, de-duplication by key, unprocessed items sent again) on
    the low-level client: each item is converted as it is added, by the same TypeSerializer, so
    what comes back unprocessed is already in the wire format and is sent again as it is."""

    def put_item(self, Item: dict[str, Any]) -> None:  # noqa: N803 - boto3's names
        super().put_item(Item=_wire(Item))

    def delete_item(self, Key: dict[str, Any]) -> None:  # noqa: N803
        super().delete_item(Key=_wire(Key))


class Table:
    """A boto3 Table whose item calls (GetItem, PutItem, UpdateItem, DeleteItem, Query, and the
    batches of ``batch_writer``) go to the low-level client with boto3's own TypeSerializer and
    TypeDeserializer, the same conversion the resource makes, without the resource walking every
    request and answer against the service model to find where it applies: about a fifth of each
    call's CPU in this process (2.10 -> 1.70 ms, ``bench/dynamodb_calls.py``; a batch of a saga's 7
    step records 1.10 against 1.28 ms). Expressions are strings, as the repositories write them;
    whatever else a caller asks (``name``, ``meta``…) is the resource Table's."""

    def __init__(self, resource_table: Any, client: Any):
        self._table = resource_table
        self._client = client
        self.name = resource_table.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def get_item(self, *, Key: dict[str, Any], **kwargs: Any) -> dict[str, Any]:  # noqa: N803 - boto3's names
        response = self._client.get_item(TableName=self.name, Key=_wire(Key), **kwargs)
        if "Item" in response:
            response["Item"] = _unwire(response["Item"])
        return response

    def put_item(self, *, Item: dict[str, Any], **kwargs: Any) -> dict[str, Any]:  # noqa: N803
        return self._answer(self._client.put_item(TableName=self.name, Item=_wire(Item), **_with_values(kwargs)))

    def update_item(self, *, Key: dict[str, Any], **kwargs: Any) -> dict[str, Any]:  # noqa: N803
        return self._answer(self._client.update_item(TableName=self.name, Key=_wire(Key), **_with_values(kwargs)))

    def delete_item(self, *, Key: dict[str, Any], **kwargs: Any) -> dict[str, Any]:  # noqa: N803
        return self._answer(self._client.delete_item(TableName=self.name, Key=_wire(Key), **_with_values(kwargs)))

    def query(self, **kwargs: Any) -> dict[str, Any]:
        kwargs = _with_values(kwargs)
        if "ExclusiveStartKey" in kwargs:
            kwargs["ExclusiveStartKey"] = _wire(kwargs["ExclusiveStartKey"])
        response = self._client.query(TableName=self.name, **kwargs)
        response["Items"] = [_unwire(item) for item in response.get("Items", [])]
        if "LastEvaluatedKey" in response:
            response["LastEvaluatedKey"] = _unwire(response["LastEvaluatedKey"])
        return response

    def batch_writer(self, overwrite_by_pkeys: list[str] | None = None) -> BatchWriter:
        return _WireBatchWriter(self.name, self._client, overwrite_by_pkeys=overwrite_by_pkeys)

    @staticmethod
    def _answer(response: dict[str, Any]) -> dict[str, Any]:
        if "Attributes" in response:
            response["Attributes"] = _unwire(response["Attributes"])
        return response


def resource(settings: DynamoSettings) -> Any:
    return _resource(settings.endpoint_url or None, settings.region)


_tables: dict[tuple[str | None, str, str], Any] = {}


def table(settings: DynamoSettings, spec: TableSpec) -> Any:
    """The boto3 Table of a spec on the settings' endpoint and prefix, made once: boto3 builds a new
    Table class on every call (~0.5 ms), which a handle per message would pay each time."""
    name = spec.physical_name(settings.table_prefix)
    key = (settings.endpoint_url or None, settings.region, name)
    found = _tables.get(key)
    if found is None:
        made = resource(settings)
        found = _tables.setdefault(key, Table(made.Table(name), made.plain_client))
    return found


_probe_clients: dict[tuple[str | None, str], Any] = {}


def check_tables(settings: DynamoSettings, specs: tuple[TableSpec, ...]) -> None:
    """Raise unless the endpoint answers and every table exists (``/readyz``).

    Asked with a client of its own that tries once and gives up within seconds: the services'
    client retries for up to a minute, which a probe every few seconds would pile up. Its calls
    stay out of ``oficina_dynamodb_requests_total``, which counts the services' work."""
    key = (settings.endpoint_url or None, settings.region)
    with _resources_lock:
        if key not in _probe_clients:
            _probe_clients[key] = boto3.session.Session().client(
                "dynamodb", endpoint_url=key[0], region_name=settings.region,
                config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=1, read_timeout=2),
                **_credentials(key[0]))
        client = _probe_clients[key]
    for spec in specs:
        client.describe_table(TableName=spec.physical_name(settings.table_prefix))


def reset_resources() -> None:
    """Forget cached clients and tables (tests that switch endpoints, e.g. into ``mock_aws``)."""
    with _resources_lock:
        _resources.clear()
        _tables.clear()
        _probe_clients.clear()


def ensure_tables(settings: DynamoSettings, specs: tuple[TableSpec, ...], *, wait: bool = True) -> list[str]:
    """Create the tables that are missing (idempotent) and enable TTL where the endpoint can."""
    db = resource(settings)
    client = db.meta.client
    existing: set[str] = set()
    for page in client.get_paginator("list_tables").paginate():
        existing.update(page.get("TableNames", []))
    created = []
    for spec in specs:
        name = spec.physical_name(settings.table_prefix)
        if name not in existing:
            try:
                client.create_table(**spec.create_kwargs(settings.table_prefix))
                created.append(name)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ResourceInUseException":
                    raise
        if wait:
            client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
        if spec.ttl_attribute:
            _enable_ttl(client, name, spec.ttl_attribute)
    return created


def _enable_ttl(client: Any, table_name: str, attribute: str) -> None:
    try:
        current = client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") in {"ENABLED", "ENABLING"}:
            return
        client.update_time_to_live(TableName=table_name,
                                   TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute})
    except (ClientError, AttributeError) as exc:
        # dynalite has no TTL API; expired items are filtered on read anyway (see is_expired).
        logger.info("TTL not enabled on %s (%s); expired items are ignored on read", table_name, exc)


def is_conditional_failure(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and exc.response["Error"]["Code"] == "ConditionalCheckFailedException"


def conditional_write(action: Callable[[], T], *, conflict: str,
                      error: type[Exception] = ConcurrencyConflict) -> T:
    """Run a conditional write; a failed condition becomes a domain error with a message."""
    try:
        return action()
    except ClientError as exc:
        if is_conditional_failure(exc):
            raise error(conflict) from exc
        raise


def epoch_seconds(moment: datetime | None = None) -> int:
    return int((moment or datetime.now(UTC)).timestamp())


def is_expired(item: dict[str, Any] | None, ttl_attribute: str = "ttl", *, now: float | None = None) -> bool:
    """DynamoDB deletes expired items late (and the emulators maybe never): treat them as gone."""
    if not item or ttl_attribute not in item or item[ttl_attribute] in (None, ""):
        return False
    return int(item[ttl_attribute]) <= int(now if now is not None else time.time())


def to_dynamo(value: Any) -> Any:
    """Plain JSON-like data to what boto3 stores (floats become Decimal, tuples lists); the inverse
    of ``to_python``."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {str(k): to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_dynamo(v) for v in value]
    return value


def to_python(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal: integers to int, the rest to str (money is cents)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, dict):
        return {k: to_python(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_python(v) for v in value]
    if isinstance(value, set):
        return sorted(to_python(v) for v in value)
    return value


def encode_page_token(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    raw = json.dumps(to_python(last_key), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str | None, start_key: dict[str, str] | None = None) -> dict[str, Any] | None:
    """The start key a page token holds; with ``start_key`` (name → S|N, ``TableSpec.start_key``) it
    must hold exactly those attributes with those types, or it is the caller's error (DynamoDB would
    answer a ValidationException, moto a 500)."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        # Numbers as Decimal: a key attribute is a DynamoDB number, and boto3 refuses floats.
        data = json.loads(base64.urlsafe_b64decode(padded.encode()), parse_float=Decimal)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        if not all(_is_key_value(value) for value in data.values()):
            raise ValueError("a key attribute is a string or a number")
        if start_key is not None and not _fits(data, start_key):
            raise ValueError("not a start key of this query")
        return data
    except (ValueError, json.JSONDecodeError) as exc:
        raise ValidationFailed("Invalid page token.", code="invalid_page_token") from exc


def _is_key_value(value: Any) -> bool:
    return isinstance(value, str | Decimal) or (isinstance(value, int) and not isinstance(value, bool))


def _fits(data: dict[str, Any], start_key: dict[str, str]) -> bool:
    # Our number keys are whole numbers (priorities, step numbers): 1.5 is no key of ours.
    return set(data) == set(start_key) and all(
        isinstance(data[name], str) if kind == "S" else isinstance(data[name], int) for name, kind in start_key.items())


@dataclass
class Page(Generic[T]):
    """One page of a listing and the token of the next (None on the last)."""

    items: list[T]
    next_token: str | None = None

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        return Page([convert(item) for item in self.items], self.next_token)


def query_page(table: Any, *, limit: int = 50, page_token: str | None = None, start_key: dict[str, str] | None = None,
               ttl_attribute: str | None = None, **query: Any) -> Page[dict[str, Any]]:
    """One page of a Query (on the table or a GSI), expired items left out; ``start_key`` is what a
    page token of this query holds (``TableSpec.start_key(index)``), checked before DynamoDB sees it."""
    kwargs = dict(query, Limit=max(1, min(limit, 200)))
    start = decode_page_token(page_token, start_key)
    if start:
        kwargs["ExclusiveStartKey"] = start
    try:
        response = table.query(**kwargs)
    except ClientError as exc:
        # A token decoded fine but names keys this query does not have (DynamoDB refuses it).
        if start and exc.response["Error"]["Code"] == "ValidationException":
            raise ValidationFailed("Invalid page token.", code="invalid_page_token") from exc
        raise
    items = [to_python(i) for i in response.get("Items", [])
             if not (ttl_attribute and is_expired(i, ttl_attribute))]
    return Page(items=items, next_token=encode_page_token(response.get("LastEvaluatedKey")))


def query_all(table: Any, *, ttl_attribute: str | None = None, **query: Any) -> Iterator[dict[str, Any]]:
    """Every item of a Query, following LastEvaluatedKey."""
    kwargs = dict(query)
    while True:
        response = table.query(**kwargs)
        for item in response.get("Items", []):
            if not (ttl_attribute and is_expired(item, ttl_attribute)):
                yield to_python(item)
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        kwargs["ExclusiveStartKey"] = last


_deserializer = TypeDeserializer()


def deserialize(image: dict[str, Any]) -> dict[str, Any]:
    """A low-level (client API) item to plain Python."""
    return to_python(_unwire(image))
