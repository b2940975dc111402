"""CPU per DynamoDB call in this process: boto3's resource Table against oficina_common's Table.

    .venv/bin/python bench/dynamodb_calls.py [--calls 400] [--rounds 3] [--indexes]

Starts dynalite on a free port (node_modules, as the services' tests do), makes a saga-sized item,
then times, alternately, a conditional UpdateItem that returns the new item and a GetItem through
each, and prints the CPU milliseconds per call (this process only: dynalite's own work is the same
for both) with the range over the rounds.

``--indexes`` times dynalite's side instead: its own CPU per UpdateItem of a saga-sized item (a
step's write: the saga, its deadline and an outbox entry) in a table with no GSI, one, and three
(as ``executions``: by order, by status and deadline, the outbox), alternated. dynalite keeps each
GSI's copy of the item in LevelDB beside the item, so every index an item is in is more work for
each write.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "execution_project"))  # its tables' specs (plain data, no Django app)

from django.conf import settings as django_settings  # noqa: E402

from system import free_port, wait_http  # noqa: E402

django_settings.configure(SERVICE_NAME="bench")  # the metrics the clients count read it
from execution.tables import EXECUTIONS  # noqa: E402
from oficina_common import dynamodb  # noqa: E402
from oficina_common.dynamodb import DynamoSettings, Index, TableSpec  # noqa: E402
from oficina_common.outbox import PENDING  # noqa: E402
from saga_bench import cpu_seconds  # noqa: E402

SPEC = TableSpec("calls", ("pk", "S"), indexes=(Index("StatusIndex", ("status", "S"), ("pk", "S")),))
STEPS = [{"name": f"step {n}", "status": "COMPLETED", "at": "2026-12-06T00:00:00+00:00", "attempts": 1}
         for n in range(7)]


def calls(table, n: int) -> float:  # noqa: ANN001
    started = time.process_time()
    for i in range(n):
        table.update_item(Key={"pk": "saga"}, UpdateExpression="SET #s = :s, steps = :steps, version = :v",
                          ConditionExpression="attribute_exists(pk)", ExpressionAttributeNames={"#s": "status"},
                          ExpressionAttributeValues={":s": "RUNNING", ":steps": STEPS, ":v": i}, ReturnValues="ALL_NEW")
        table.get_item(Key={"pk": "saga"}, ConsistentRead=True)
    return (time.process_time() - started) / (2 * n) * 1000


# A saga's item as the executions table holds it (the saga as one JSON string, keys copied to the
# top level for the indexes, the outbox map), in that table's keys with none, the first, or all
# three of its GSIs (by order, by status and deadline, the outbox).
SAGA_INDEXES = {"no GSI": 0, "1 GSI": 1, "3 GSIs": 3}
SAGA_JSON = json.dumps({"steps": STEPS, "order": {"items": [{"description": "x" * 40, "quantity": 1}] * 6},
                        "notes": "y" * 2000})


def step_writes(table, n: int) -> None:  # noqa: ANN001
    for i in range(n):
        key = {"executionId": f"saga-{i % 20}", "timestamp": "2026-12-06T00:00:00Z"}
        table.update_item(Key=key, UpdateExpression="SET saga = :s, deadline = :d, version = :v, outbox_at = :d, "
                                                    "outbox.#m = :m",
                          ExpressionAttributeNames={"#m": f"m{i % 3}"},  # 1-3 entries, as lazily removed
                          ExpressionAttributeValues={":s": SAGA_JSON, ":d": f"2026-12-06T00:{i // 60 % 60:02d}:"
                                                                           f"{i % 60:02d}Z", ":v": i, ":m": "z" * 600})


def endpoint_cpu(settings: DynamoSettings, dynalite: subprocess.Popen, calls: int, rounds: int) -> int:
    tables = {}
    assert len(EXECUTIONS.indexes) == 3, "the executions table's GSIs changed: say so in SAGA_INDEXES"
    for name, count in SAGA_INDEXES.items():
        spec = TableSpec(f"saga_{count}", EXECUTIONS.hash_key, EXECUTIONS.range_key,
                         indexes=EXECUTIONS.indexes[:count])
        dynamodb.ensure_tables(settings, (spec,))
        tables[name] = table = dynamodb.table(settings, spec)
        for i in range(20):
            table.put_item(Item={"executionId": f"saga-{i}", "timestamp": "2026-12-06T00:00:00Z",
                                 "serviceOrderId": f"order-{i}", "status": "RUNNING", "deadline": "0",
                                 "outbox_pending": PENDING, "outbox_at": "0", "outbox": {}, "saga": SAGA_JSON})
        step_writes(table, 50)
    results: dict[str, list[float]] = {name: [] for name in tables}
    for _ in range(rounds):
        for name, table in tables.items():
            before = cpu_seconds(dynalite.pid)
            step_writes(table, calls)
            results[name].append((cpu_seconds(dynalite.pid) - before) / calls * 1000)
    for name, values in results.items():
        print(f"{name:<7} {statistics.median(values):.2f} ms of dynalite's CPU per UpdateItem "
              f"({min(values):.2f}-{max(values):.2f}, {rounds} rounds of {calls})")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--indexes", action="store_true", help="dynalite's CPU per write by the GSIs of the item")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        dynalite = subprocess.Popen([str(ROOT / "node_modules" / ".bin" / "dynalite"), "--port", str(port),
                                     "--path", data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_http(f"http://127.0.0.1:{port}/", 30)
            settings = DynamoSettings(f"http://127.0.0.1:{port}", "us-east-1", "bench_")
            if args.indexes:
                return endpoint_cpu(settings, dynalite, args.calls, args.rounds)
            dynamodb.ensure_tables(settings, (SPEC,))
            lean = dynamodb.table(settings, SPEC)
            resource = dynamodb.resource(settings).Table(SPEC.physical_name(settings.table_prefix))
            resource.put_item(Item={"pk": "saga", "status": "NEW", "steps": STEPS, "version": 0})
            calls(lean, 50), calls(resource, 50)  # connections open, models loaded
            results: dict[str, list[float]] = {"boto3 resource Table": [], "oficina_common Table": []}
            for _ in range(args.rounds):
                results["boto3 resource Table"].append(calls(resource, args.calls))
                results["oficina_common Table"].append(calls(lean, args.calls))
        finally:
            dynalite.terminate()
    for name, values in results.items():
        print(f"{name:<22} {statistics.median(values):.3f} ms of CPU per call "
              f"({min(values):.3f}-{max(values):.3f}, {args.rounds} rounds of {2 * args.calls} calls)")
    a, b = (statistics.median(v) for v in results.values())
    print(f"oficina_common Table / resource Table: {b / a:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
