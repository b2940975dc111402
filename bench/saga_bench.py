"""Saga benchmark: N orders run concurrently through the saga's automated legs.

    .venv/bin/python bench/saga_bench.py --orders 60 --in-flight 20

Starts the whole system on free ports (dynalite as the DynamoDB endpoint, real Redis, PostgreSQL,
Celery workers, the Mercado Pago sandbox) unless --running is given, then measures, per order:
  diagnosis  submit diagnosis            -> AWAITING_APPROVAL
  approval   customer approves           -> AWAITING_PAYMENT
  payment    sandbox approves the Pix    -> IN_EXECUTION   (signed webhook, Celery, saga)
  finish     mechanic completes the job  -> FINISHED
  pix        customer approves           -> the Pix made at Mercado Pago (its date_created): what
             the payment page the approval sends her to waits for (a lower bound: Billing records it after)
and prints p50/p95 per leg, completed sagas per second, the CPU per process, the work per saga
(DynamoDB calls, Celery tasks, HTTP requests, from the services' metrics), the endpoint and the table sizes.
With --compare <ref>, runs the ref and this checkout alternately and prints both, with B/A (bench/compare.py).
Targets (issue 4): each leg p50 < 250 ms, >= 10 sagas/s with 20 in flight.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import threading
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from oficina_client import OficinaClient, Urls, mercosul_plate, valid_cpf, wait_for  # noqa: E402

LEGS = ("diagnosis", "approval", "payment", "finish")
# The statuses the saga goes through from diagnosis, in order; each leg ends at the next one.
PATH = ("IN_DIAGNOSIS", "AWAITING_APPROVAL", "AWAITING_PAYMENT", "IN_EXECUTION", "FINISHED")
LEG_END = dict(zip(LEGS, PATH[1:], strict=True))
# The approval leg ends at AWAITING_PAYMENT, at the stock reservation, as the Pix is asked for (from
# 0d3472d to 4407865 the order waited there for its Pix, the move carrying it; now the move carries
# Billing's payment page). The customer who approves from her link, or follows the tracking page's
# "Pagar agora", lands on that page, which shows the Pix as soon as it exists: this extra leg
# measures that wait, the same way on both sides.
PIX = "pix"
# One watcher asks the OS what changed (?updated_after=) every WATCH seconds for every order in
# flight, as a workshop screen would; a leg's end is the time the OS recorded for the transition
# (its status history, read once per order after the run), so the watcher's pace delays the next
# leg's start, not the measurement.
WATCH = 0.1
WATCH_PAGE = 100  # the OS's largest page


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class Watcher(threading.Thread):
    """Polls the OS's order list for changes and wakes the threads waiting for a status."""

    def __init__(self, client: OficinaClient, timeout: float):
        super().__init__(daemon=True, name="watcher")
        self.client = client
        self.timeout = timeout
        self.reached: dict[str, int] = {}  # order id -> furthest index in PATH seen
        self.changed = threading.Condition()
        self.stopping = threading.Event()
        self.polls = 0

    def run(self) -> None:
        since = datetime.now().astimezone()
        while not self.stopping.wait(WATCH):
            # Overlap the window a little: a commit that began before the last poll may land after it
            # (the OS's transactions take milliseconds). Every order in the window is sent and
            # serialized again, so the overlap is the watcher's main cost to the OS: keep it small.
            asked, url = datetime.now().astimezone(), f"{self.client.urls.os}/api/v1/service-orders/"
            # One page holds every order in flight. The OS now gives the window oldest change first,
            # which paging cannot skip; an older checkout (the A side of --compare) gave it in urgency
            # order, where an order that changes between two pages can slip onto a page already read.
            # So a window that did take several pages is asked for again next time.
            params: dict | None = {"updated_after": (since - timedelta(seconds=0.5)).isoformat(),
                                   "page_size": WATCH_PAGE}
            pages = 0
            while url:
                page = self.client.json("GET", url, params=params)
                params, url = None, page["next"]
                self.polls += 1
                pages += 1
                with self.changed:
                    for order in page["results"]:
                        if order["status"] in PATH:
                            rank = PATH.index(order["status"])
                            if rank > self.reached.get(order["id"], -1):
                                self.reached[order["id"]] = rank
                    self.changed.notify_all()
            if pages == 1:
                since = asked

    def wait(self, order_id: str, status: str) -> None:
        """Until the order has reached ``status`` (or gone past it)."""
        rank = PATH.index(status)
        with self.changed:
            if not self.changed.wait_for(lambda: self.reached.get(order_id, -1) >= rank, timeout=self.timeout):
                raise TimeoutError(f"{order_id} did not reach {status} within {self.timeout}s")


def _timestamp(moment: str) -> float:
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp()


# The staff token of each system's OS (its URL), shared by every Bench of this process.
_TOKENS: dict[str, str] = {}
_TOKENS_LOCK = threading.Lock()


class Bench:
    def __init__(self, urls: Urls, timeout: float):
        self.urls = urls
        self.timeout = timeout
        self.legs: dict[str, list[float]] = {leg: [] for leg in (*LEGS, PIX)}
        self.starts: dict[str, dict[str, float]] = {}  # order id -> leg -> when the bench started it
        self.lock = threading.Lock()
        self.local = threading.local()
        self.watcher: Watcher | None = None

    def client(self) -> OficinaClient:
        """This thread's client, with the one staff token every thread shares: a login per thread
        would be 21 logins a run, past the staff login's throttle of a system ``up`` runs (10 a
        minute), and a password hash of the OS's CPU each."""
        if not hasattr(self.local, "client"):
            client = OficinaClient(self.urls, timeout=30)
            with _TOKENS_LOCK:
                if _TOKENS.get(self.urls.os) is None:
                    _TOKENS[self.urls.os] = client.login("admin", "admin")
            client.token = _TOKENS[self.urls.os]
            self.local.client = client
        return self.local.client

    def catalog(self) -> tuple[dict, dict]:
        client = self.client()
        service = client.create_service("Alinhamento", "90.00", 30)
        part = client.create_part("Pastilha de freio", "80.00", stock=100000)
        return service, part

    def open_order(self, n: int) -> str:
        """Customer, vehicle and an order in diagnosis: the front desk's part, before the saga."""
        client = self.client()
        seed = zlib.crc32(uuid.uuid4().bytes) + n
        customer = client.create_customer(f"Cliente {n}", valid_cpf(seed), f"c{seed}@example.com")
        vehicle = client.create_vehicle(customer["id"], mercosul_plate(seed))
        order = client.open_order(customer["id"], vehicle["id"], "Freio chiando", priority=1 + n % 5)
        client.start_diagnosis(order["id"])
        return order["id"]

    def started(self, order_id: str, leg: str) -> None:
        with self.lock:
            self.starts.setdefault(order_id, {})[leg] = time.time()

    def one_saga(self, order_id: str, service: dict, part: dict) -> None:
        client = self.client()
        self.started(order_id, "diagnosis")
        client.submit_diagnosis(order_id, [{"kind": "service", "catalog_id": service["id"], "quantity": 1},
                                           {"kind": "part", "catalog_id": part["id"], "quantity": 2}])
        self.watcher.wait(order_id, LEG_END["diagnosis"])

        # The budget exists before the OS hears of it; the payment's Mercado Pago id may come a moment
        # after the status (the saga asks Billing and tells the OS at once).
        budget = wait_for(lambda: (client.budgets(order_id) or [None])[0], timeout=self.timeout, interval=WATCH)
        self.started(order_id, "approval")
        client.approve_budget(budget["budget_id"], budget["version"], reason="Aprovado por telefone")
        self.watcher.wait(order_id, LEG_END["approval"])

        payment = wait_for(lambda: next((p for p in client.payments(order_id) if p.get("mercadopago_payment_id")),
                                        None), timeout=self.timeout, interval=WATCH)
        self.started(order_id, "payment")
        client.sandbox_set_status(payment["mercadopago_payment_id"], "approve")
        self.watcher.wait(order_id, LEG_END["payment"])

        # A mechanic takes whichever job is first in the queue (priority order), not necessarily this one.
        job = wait_for(client.claim_job, timeout=self.timeout, interval=WATCH)
        self.started(job["service_order_id"], "finish")
        client.complete_job(job["queue_id"])
        self.watcher.wait(order_id, LEG_END["finish"])

    def measure(self, order_id: str) -> None:
        """Each leg's end is when the OS recorded the move (its status history), and the pix leg's
        when Mercado Pago made the Pix (the sandbox's date_created), read once per order after the
        run, so that reading them is not part of the load being measured."""
        client = self.client()
        history = client.order(order_id)["status_history"]
        for leg, status in LEG_END.items():
            moved = next(h for h in reversed(history) if h["to"] == status)
            self.legs[leg].append(_timestamp(moved["at"]) - self.starts[order_id][leg])
        pix = next(p["mercadopago_payment_id"] for p in client.payments(order_id) if p.get("mercadopago_payment_id"))
        made = _timestamp(client.sandbox_payment(pix)["date_created"])
        self.legs[PIX].append(made - self.starts[order_id]["approval"])

    def run(self, orders: int, in_flight: int, snapshot: Callable[[], Any] = lambda: None) -> tuple[float, Any, Any]:
        """Elapsed seconds of the saga phase, and ``snapshot()`` taken as it starts and as it ends."""
        service, part = self.catalog()
        with ThreadPoolExecutor(max_workers=in_flight) as pool:
            started = time.time()
            order_ids = list(pool.map(self.open_order, range(orders)))
            print(f"{orders} orders opened and in diagnosis in {time.time() - started:.1f} s (not counted)")
            self.watcher = Watcher(self.client(), self.timeout)
            self.watcher.start()
            before, started = snapshot(), time.time()
            for future in [pool.submit(self.one_saga, order_id, service, part) for order_id in order_ids]:
                future.result()
            elapsed, after = time.time() - started, snapshot()
            self.watcher.stopping.set()
            list(pool.map(self.measure, order_ids))
        print(f"the watcher asked the OS {self.watcher.polls} times")
        return elapsed, before, after


def _proc_stat(path: Path) -> tuple[str, list[str]]:
    """A /proc/<pid>/stat: the command name, and the fields after it (utime is [11], stime [12],
    the reaped children's [13] and [14])."""
    head, _, rest = path.read_text().rpartition(")")
    return head.split("(", 1)[1], rest.split()


def _seconds(ticks: int) -> float:
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, its reaped children and its live descendants (Linux /proc):
    gunicorn's workers are the master's children."""
    try:
        _, fields = _proc_stat(Path(f"/proc/{pid}/stat"))
        children = [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                    for c in (task / "children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return _seconds(sum(int(v) for v in fields[11:15])) + sum(cpu_seconds(child) for child in children)


def machine_cpu_seconds() -> float:
    """Busy CPU time of the whole machine (every core), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return _seconds(sum(fields[:8]) - idle)


def cpu_by_command() -> dict[str, float]:
    """CPU seconds of every live process on the machine, summed by command name (postgres, redis-server…)."""
    usage: dict[str, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            command, fields = _proc_stat(stat)
        except (FileNotFoundError, ProcessLookupError):
            continue
        usage[command] = usage.get(command, 0.0) + _seconds(sum(int(v) for v in fields[11:13]))
    return usage


def process_cpu(system) -> dict[str, float]:  # noqa: ANN001
    usage = {}
    for name, process in system.processes.items():
        if process.popen and process.popen.poll() is None:
            usage[name] = cpu_seconds(process.popen.pid)
    return usage


HANDLER_CPU = "handler CPU seconds"
# The tasks the services' beat schedules run (``every(seconds, "name")`` in their config/celery.py).
PERIODIC_TASKS = frozenset(
    match for path in ROOT.glob("*_project/config/celery.py")
    for match in re.findall(r'every\([^,]+,\s*"([^"]+)"', path.read_text(encoding="utf-8")))


def scrape_counts(metrics_urls: dict[str, str], prefix: str) -> Counter[tuple[str, ...]]:
    """What the services did so far, from their Prometheus counters: DynamoDB calls by table and
    operation, Celery tasks by service, HTTP requests by service (the scrapes themselves excluded)."""
    import requests
    from prometheus_client.parser import text_string_to_metric_families

    counts: Counter[tuple[str, ...]] = Counter()
    for url in metrics_urls.values():
        for family in text_string_to_metric_families(requests.get(url, timeout=10).text):
            for sample in family.samples:
                labels = sample.labels
                if sample.name == "oficina_dynamodb_requests_total":
                    counts["DynamoDB calls", labels["table"].removeprefix(prefix), labels["operation"]] += sample.value
                elif sample.name == "oficina_celery_tasks_total":
                    # Beat's periodic tasks run on their clock, whatever the number of sagas.
                    kind = "periodic tasks" if labels["task"] in PERIODIC_TASKS else "Celery tasks"
                    counts[kind, labels["service"]] += sample.value
                elif (sample.name == "oficina_http_request_duration_seconds_count"
                      and labels["route"] != "/metrics"):
                    counts["HTTP requests", labels["service"]] += sample.value
                elif sample.name == "oficina_celery_task_cpu_seconds_total" and labels["task"] not in PERIODIC_TASKS:
                    counts[HANDLER_CPU, labels["service"], labels["message"] or labels["task"]] += sample.value
                elif sample.name == "oficina_http_request_cpu_seconds_total" and labels["route"] != "/metrics":
                    counts[HANDLER_CPU, labels["service"], f"{labels['method']} {labels['route']}"] += sample.value
    return counts


def report_handler_cpu(counts: Counter[tuple[str, ...]], orders: int, services_cpu: float) -> None:
    """Where the services' CPU goes, handler by handler (each message type a task handled, each URL
    pattern a request matched), from the services' CPU counters; what is left of the services' own
    processes' CPU is the frameworks' part around the handlers (receiving and acknowledging tasks,
    reading and writing HTTP) and their idle loops. A system without the counters prints nothing."""
    handlers = sorted(((key[1:], seconds) for key, seconds in counts.items() if key[0] == HANDLER_CPU and seconds > 0),
                      key=lambda kv: -kv[1])
    if not handlers:
        return
    total = sum(seconds for _, seconds in handlers)
    print(f"CPU per saga by handler, the services' Python processes (ms; {total / orders * 1000:.0f} in handlers, "
          f"{(services_cpu - total) / orders * 1000:.0f} around them, of {services_cpu / orders * 1000:.0f}):")
    for (service, handler), seconds in handlers:
        print(f"  {seconds / orders * 1000:6.1f}  {service:9s} {handler}")


def report_counts(counts: Counter[tuple[str, ...]], orders: int) -> None:
    print("work per saga, from the services' metrics:")
    for kind in ("DynamoDB calls", "Celery tasks", "HTTP requests"):
        mine = {key[1:]: n for key, n in counts.items() if key[0] == kind and n > 0}
        most_first = sorted(mine.items(), key=lambda kv: -kv[1])
        detail = ", ".join(f"{' '.join(key)} {n / orders:.1f}" for key, n in most_first)
        print(f"  {kind}: {sum(mine.values()) / orders:.1f} ({detail})")
    periodic = sum(n for key, n in counts.items() if key[0] == "periodic tasks")
    print(f"  and beat's periodic tasks, on their own clock: {periodic:.0f} in the whole run")


def table_sizes(endpoint: str | None, prefix: str) -> dict[str, int]:
    import boto3

    client = boto3.client("dynamodb", endpoint_url=endpoint or None, region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    sizes = {}
    for name in client.list_tables()["TableNames"]:
        if name.startswith(prefix):
            # A benchmark-only count (dynalite keeps no ItemCount); the services never Scan.
            sizes[name] = sum(page["Count"] for page in client.get_paginator("scan").paginate(
                TableName=name, Select="COUNT"))
    return sizes


def report(bench: Bench, elapsed: float, orders: int, in_flight: int, endpoint: str, sizes: dict[str, int]) -> None:
    print(f"\nsaga benchmark: {orders} orders, {in_flight} in flight, DynamoDB endpoint {endpoint}")
    print(f"{'leg':<10} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
    for leg in (*LEGS, PIX):
        values = bench.legs[leg]
        print(f"{leg:<10} {len(values):>4} {percentile(values, .5) * 1000:>8.0f} {percentile(values, .95) * 1000:>8.0f}"
              f" {statistics.mean(values) * 1000:>8.0f}")
    print(f"completed sagas per second: {orders / elapsed:.1f} ({elapsed:.1f} s in all)")
    print("table sizes (items): " + ", ".join(f"{k}={v}" for k, v in sorted(sizes.items())))


def warm_up(urls: Urls, args: argparse.Namespace) -> None:
    """``--warm-up-orders``: what a fresh system does once (dynalite's JIT compiling its code, each
    thread's first connection to PostgreSQL, Redis and DynamoDB, a library's first use) is done by
    sagas run first, not charged to the sagas measured."""
    if args.warm_up_orders:
        Bench(urls, args.timeout).run(args.warm_up_orders, args.in_flight)
        print(f"{args.warm_up_orders} sagas run first to warm the system up (not counted)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=60)
    parser.add_argument("--in-flight", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--log-level", default="WARNING", help="the services' log level (INFO shows every task)")
    parser.add_argument("--running", action="store_true",
                        help="use the system ./manage_all.sh up runs (URLs from the environment)")
    parser.add_argument("--compare", metavar="REF",
                        help="A/B: the git REF (A) against this checkout (B), alternated (bench/compare.py)")
    parser.add_argument("--runs", type=int, default=3, help="with --compare: runs of each side")
    parser.add_argument("--warm-up-orders", type=int, default=0, metavar="N",
                        help="run N sagas on the system first, not counted: the figures are then a warm "
                             "system's, without what a fresh one does once (see README)")
    args = parser.parse_args()
    if args.compare:
        from compare import compare

        return compare(args.compare, args.runs, args.orders, args.in_flight, args.warm_up_orders)
    if args.running:
        urls = Urls()
        warm_up(urls, args)
        bench = Bench(urls, args.timeout)
        elapsed, _, _ = bench.run(args.orders, args.in_flight)
        endpoint = os.environ.get("DYNAMODB_ENDPOINT_URL", "http://127.0.0.1:8000")
        report(bench, elapsed, args.orders, args.in_flight, endpoint,
               table_sizes(endpoint, os.environ.get("DYNAMODB_TABLE_PREFIX", "oficina_")))
        return 0

    from system import running_system

    # DEBUG off, as in production: Django's debug mode keeps every query and slows every request.
    with running_system(redis_db=14, extra_env={"DEBUG": "false", "LOG_LEVEL": args.log_level},
                        keep_logs=ROOT / ".data" / "bench-logs") as system:
        warm_up(system.urls, args)
        bench = Bench(system.urls, args.timeout)
        prefix = system.env["DYNAMODB_TABLE_PREFIX"]
        elapsed, before, after = bench.run(args.orders, args.in_flight, lambda: (
            {**process_cpu(system), "bench client": time.process_time()}, machine_cpu_seconds(), cpu_by_command(),
            scrape_counts(system.metrics_urls(), prefix)))
        used = {name: after[0][name] - before[0].get(name, 0) for name in after[0]}
        machine = after[1] - before[1]
        for command in ("postgres", "redis-server"):
            used[command] = after[2].get(command, 0.0) - before[2].get(command, 0.0)
        print("CPU seconds per process during the run: "
              + ", ".join(f"{name}={seconds:.1f}" for name, seconds in sorted(used.items(), key=lambda kv: -kv[1])))
        print(f"whole machine: {machine:.1f} CPU s busy in {elapsed:.1f} s ({machine / elapsed:.2f} cores of "
              f"{os.cpu_count()}; {machine / args.orders * 1000:.0f} ms of CPU per saga, PostgreSQL and Redis "
              "included)")
        # The sandbox stands for Mercado Pago's servers (it draws every Pix QR code) and the client for
        # the people at the counter: neither runs on the workshop's machines.
        outside = used.get("sandbox", 0.0) + used.get("bench client", 0.0)
        print(f"the system alone (the machine less the sandbox and this client): "
              f"{(machine - outside) / args.orders * 1000:.0f} ms of CPU per saga")
        # The same, counted process by process: what the machine figure holds besides (interrupts,
        # the kernel's own threads, anything else this shared machine runs) is left out.
        own = sum(used.values()) - outside
        print(f"the system's own processes (their CPU time, summed): {own / args.orders * 1000:.0f} ms of CPU per saga")
        report_counts(after[3] - before[3], args.orders)
        services = sum(seconds for name, seconds in used.items() if name.endswith(("-web", "-worker", "-beat")))
        report_handler_cpu(after[3] - before[3], args.orders, services)
        endpoint = system.env["DYNAMODB_ENDPOINT_URL"]
        report(bench, elapsed, args.orders, args.in_flight, f"dynalite {endpoint}", table_sizes(endpoint, prefix))
    return 0


if __name__ == "__main__":
    sys.exit(main())
