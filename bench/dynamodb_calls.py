"""CPU per DynamoDB call in this process: boto3's resource Table against oficina_common's Table.

    .venv/bin/python bench/dynamodb_calls.py [--calls 400] [--rounds 3]

Starts dynalite on a free port (node_modules, as the services' tests do), makes a saga-sized item,
then times, alternately, a conditional UpdateItem that returns the new item and a GetItem through
each, and prints the CPU milliseconds per call (this process only: dynalite's own work is the same
for both) with the range over the rounds.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from django.conf import settings as django_settings  # noqa: E402

from system import free_port, wait_http  # noqa: E402

django_settings.configure(SERVICE_NAME="bench")  # the metrics the clients count read it
from oficina_common import dynamodb  # noqa: E402
from oficina_common.dynamodb import DynamoSettings, Index, TableSpec  # noqa: E402

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        dynalite = subprocess.Popen([str(ROOT / "node_modules" / ".bin" / "dynalite"), "--port", str(port),
                                     "--path", data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_http(f"http://127.0.0.1:{port}/", 30)
            settings = DynamoSettings(f"http://127.0.0.1:{port}", "us-east-1", "bench_")
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
