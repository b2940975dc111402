"""Fault run: N orders through the saga while workers die, the broker loses everything and Mercado
Pago misbehaves.

    .venv/bin/python bench/chaos.py --orders 100 --seed 7        (also: ./manage_all.sh chaos)

Starts the whole system as the benchmark does (gunicorn, real Celery workers, Redis, PostgreSQL,
dynalite, the Mercado Pago sandbox) with short saga timeouts, and drives N orders, each with an
intended outcome: delivered; budget rejected; no stock; payment rejected; a Pix never paid (the
payment times out); the job failed; additional repairs approved (and paid) or rejected; staff
cancel at every status (RECEIVED, IN_DIAGNOSIS, AWAITING_APPROVAL, AWAITING_PAYMENT,
IN_EXECUTION). Meanwhile a seeded fault schedule, printed, SIGKILLs Celery workers (restarted, as
Kubernetes would), empties the broker (FLUSHDB: every queued and unacknowledged message is gone),
kills PostgreSQL connections, restarts the DynamoDB endpoint (its data kept), and opens windows in
which the sandbox answers 5xx or slowly, and delivers its webhooks late, twice and out of order.

Then it waits for every saga to settle and checks each order across the three services and the
sandbox: the saga terminal and as intended; the OS status and its history (the path the order
took, each status once); exactly one charge per budget version a payment was asked for, the
charges of a delivered order kept and every charge of a cancelled one refunded exactly once; the
stock exact and nothing left reserved. Last, no message is left unpublished in any outbox (the
OS's PostgreSQL table; the ``outbox`` attributes of Billing's and Execution's DynamoDB items,
published once the Redis receipt says so). It prints `N/N sagas correct`, the faults and, for each
wrong order, what is wrong. Exit status 0 only when every order (and every outbox) is right.

``tests/test_fault_run.py`` runs a 15-order version (every outcome, a worker SIGKILL and a broker
loss for sure) inside ``./manage_all.sh test``.
"""
from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from oficina_client import OficinaClient, SystemError_, Urls, mercosul_plate, valid_cpf  # noqa: E402

ORDER_PATH = ("RECEIVED", "IN_DIAGNOSIS", "AWAITING_APPROVAL", "AWAITING_PAYMENT", "IN_EXECUTION", "FINISHED",
              "DELIVERED")
# Staff cancel the order once it is at this status.
CANCELS = {"cancel_received": "RECEIVED", "cancel_in_diagnosis": "IN_DIAGNOSIS",
           "cancel_awaiting_approval": "AWAITING_APPROVAL", "cancel_awaiting_payment": "AWAITING_PAYMENT",
           "cancel_in_execution": "IN_EXECUTION"}
ADDITIONAL = ("additional_approved", "additional_rejected")
# Every intended outcome once (the 15-order test adds two more deliveries).
EVERY_OUTCOME = ("delivered", "rejected", "no_stock", "payment_rejected", "pix_never_paid", "job_failed", *ADDITIONAL,
                 *CANCELS)
OUTCOMES = ("delivered", "delivered", *EVERY_OUTCOME)  # what the seeded mix draws from
FILTERS = 2  # each order's diagnosis: one service and two parts of its own
EXTRA = 1  # the additional repairs: one more of the same part
# Short clocks, so that what the broker lost is noticed and re-sent within the run.
CHAOS_ENV = {
    "DEBUG": "false", "LOG_LEVEL": "INFO",
    "SAGA_STEP_TIMEOUT_SECONDS": "10", "SAGA_MAX_ATTEMPTS": "6", "SAGA_SWEEP_INTERVAL_SECONDS": "3",
    "OUTBOX_SWEEP_SECONDS": "3", "BEAT_OUTBOX_SWEEP_SECONDS": "3", "OUTBOX_SWEEP_AGE_SECONDS": "5",
    "DIAGNOSIS_RESEND_AFTER_SECONDS": "20", "PAYMENT_RECONCILE_AFTER_SECONDS": "15", "BEAT_RECONCILE_SECONDS": "5",
    "SAGA_JOB_CHECK_SECONDS": "15", "SAGA_PAYMENT_CHECK_SECONDS": "15",
    # A Pix never paid is given up after this (the others are paid at once, or a few faults later).
    "SAGA_PAYMENT_TIMEOUT_SECONDS": "60",
    "MERCADOPAGO_SANDBOX_RETRY_BASE_SECONDS": "0.5",
}
FAULTS = ("kill_worker", "kill_worker", "broker_loss", "db_connections", "dynamodb_restart", "sandbox_errors",
          "sandbox_slow", "webhooks_late")


@dataclass(frozen=True)
class Expected:
    saga: tuple[str, ...]  # the saga's acceptable end ("": it never started)
    os: str
    last: tuple[str, ...]  # the last status of ORDER_PATH the order reached (then CANCELLED, unless delivered)
    kept: int  # charges the workshop keeps (approved, not refunded)
    consumed: int  # parts out of the stock


def expected(outcome: str) -> Expected:
    if outcome == "delivered" or outcome == "additional_rejected":
        return Expected(("COMPLETED",), "DELIVERED", ("DELIVERED",), 1, FILTERS)
    if outcome == "additional_approved":
        return Expected(("COMPLETED",), "DELIVERED", ("DELIVERED",), 2, FILTERS + EXTRA)
    if outcome == "cancel_received":
        return Expected(("",), "CANCELLED", ("RECEIVED",), 0, 0)
    if outcome == "cancel_in_diagnosis":
        # Cancelled right after the diagnosis: before the saga started, or once it asked for the budget.
        return Expected(("", "COMPENSATED"), "CANCELLED", ("IN_DIAGNOSIS", "AWAITING_APPROVAL"), 0, 0)
    last = {"rejected": "AWAITING_APPROVAL", "no_stock": "AWAITING_APPROVAL", "payment_rejected": "AWAITING_PAYMENT",
            "pix_never_paid": "AWAITING_PAYMENT", "job_failed": "IN_EXECUTION"}.get(outcome) or CANCELS[outcome]
    return Expected(("COMPENSATED",), "CANCELLED", (last,), 0, 0)


@dataclass
class Order:
    n: int
    outcome: str
    order_id: str = ""
    part_id: int = 0
    stock: int = 0
    token: str = ""
    queue_id: str = ""  # a job the mechanics handed to the order's own driver (held, or additional repairs)
    job_ready: threading.Event = field(default_factory=threading.Event)
    driver_error: str = ""
    wrong: list[str] = field(default_factory=list)


class Run:
    def __init__(self, urls: Urls, wait: float):
        self.urls = urls
        self.wait = wait
        self.local = threading.local()
        self.orders: dict[str, Order] = {}
        self.done = threading.Event()
        self.handled_jobs: set[str] = set()
        self.lock = threading.Lock()

    def client(self) -> OficinaClient:
        if not hasattr(self.local, "client"):
            self.local.client = OficinaClient(self.urls, timeout=30)
            self.call(lambda: self.local.client.login("admin", "admin"))
        return self.local.client

    def call(self, action: Callable[[], Any], attempts: int = 8, *, done: Callable[[], bool] | None = None) -> Any:
        """A person tries again when the page errs (a killed database connection, a restart). When
        an answer was lost and the repeat is refused (4xx), ``done`` says whether the first
        attempt did it after all: a person would look at the order before trying again."""
        lost = False
        for attempt in range(attempts):
            try:
                return action()
            except (SystemError_, OSError) as exc:
                refused = "-> 4" in str(exc)
                if refused and lost and done is not None and self.call(done):
                    return None
                if refused or attempt == attempts - 1:
                    raise
                lost = True
                time.sleep(1 + attempt)
        return None

    # --- one order, as the front desk, the customer and the staff would drive it ---------------
    def drive(self, order: Order) -> None:
        c = self.client()
        try:
            self._drive(c, order)
        except Exception as exc:  # noqa: BLE001 - reported per order, the run goes on
            order.driver_error = f"{type(exc).__name__}: {str(exc)[:300]}"

    def _drive(self, c: OficinaClient, order: Order) -> None:
        seed = zlib.crc32(uuid.uuid4().bytes) + order.n
        order.stock = 1 if order.outcome == "no_stock" else 5
        customer = self.call(lambda: c.create_customer(f"Cliente {order.n}", valid_cpf(seed), f"c{seed}@example.com"))
        vehicle = self.call(lambda: c.create_vehicle(customer["id"], mercosul_plate(seed), "Fiat", "Argo", 2020))
        service = self.call(lambda: c.create_service(f"Revisão {order.n}", "100.00", 30))
        part = self.call(lambda: c.create_part(f"Filtro {order.n}-{seed}", "25.00", stock=order.stock))
        order.part_id = part["id"]
        opened = self.call(lambda: c.open_order(customer["id"], vehicle["id"], "revisão", priority=3))
        order.order_id = opened["id"]
        self.orders[order.order_id] = order
        if self._cancelled_at(c, order, "RECEIVED"):
            return
        order.token = self.call(lambda: c.customer_token(customer["document"], opened["tracking_code"]))
        self.call(lambda: c.start_diagnosis(order.order_id))
        self.call(lambda: c.submit_diagnosis(order.order_id, [
            {"kind": "service", "catalog_id": service["id"], "quantity": 1},
            {"kind": "part", "catalog_id": part["id"], "quantity": FILTERS}]),
            done=lambda: self._past(c, order, "IN_DIAGNOSIS"))
        if self._cancelled_at(c, order, "IN_DIAGNOSIS"):
            return
        self.wait_for(c, order.order_id, "AWAITING_APPROVAL")
        if self._cancelled_at(c, order, "AWAITING_APPROVAL"):
            return
        budget = self._pending_budget(c, order, after_version=0)
        if order.outcome == "rejected":
            self.call(lambda: c.reject_budget(budget["budget_id"], budget["version"], "caro", token=order.token))
            return
        self.call(lambda: c.approve_budget(budget["budget_id"], budget["version"], token=order.token))
        if order.outcome == "no_stock":
            return
        self.wait_for(c, order.order_id, "AWAITING_PAYMENT")
        payment = self._pending_payment(c, order, budget["version"])
        if self._cancelled_at(c, order, "AWAITING_PAYMENT") or order.outcome == "pix_never_paid":
            return
        action = "reject" if order.outcome == "payment_rejected" else "approve"
        self.call(lambda: c.sandbox_set_status(payment["mercadopago_payment_id"], action))
        if order.outcome == "payment_rejected":
            return
        self.wait_for(c, order.order_id, "IN_EXECUTION")
        if self._cancelled_at(c, order, "IN_EXECUTION") or order.outcome == "job_failed":
            return
        if order.outcome in ADDITIONAL:
            self._additional_repairs(c, order, budget["version"])
        self.wait_for(c, order.order_id, "FINISHED")
        self.call(lambda: c.deliver(order.order_id))

    def _cancelled_at(self, c: OficinaClient, order: Order, status: str) -> bool:
        """Staff cancel the order if that is what it is for, at this status (the long reason an
        attendant may type included: every receiver stores it cut to size)."""
        if CANCELS.get(order.outcome) != status:
            return False
        self.call(lambda: c.cancel(order.order_id, "O cliente desistiu. " * 40))
        return True

    def _past(self, c: OficinaClient, order: Order, status: str) -> bool:
        """The order is past ``status``, or its diagnosis is in (the saga has its id)."""
        now = c.order(order.order_id)
        return now["status"] != status or bool(now.get("saga_id"))

    def _additional_repairs(self, c: OficinaClient, order: Order, first_version: int) -> None:
        """The mechanic reported more to fix (see :meth:`mechanics`); the customer decides on the
        revised budget and pays what she approved; then the mechanic finishes the job."""
        if not order.job_ready.wait(self.wait):
            raise SystemError_(f"no job was claimed for {order.order_id}")
        revised = self._pending_budget(c, order, after_version=first_version)
        if order.outcome == "additional_rejected":
            self.call(lambda: c.reject_budget(revised["budget_id"], revised["version"], "não agora",
                                              token=order.token))
            self._saga_revision(c, order, lambda r: r["status"] == "REJECTED")
        else:
            self.call(lambda: c.approve_budget(revised["budget_id"], revised["version"], token=order.token))
            payment = self._pending_payment(c, order, revised["version"])
            self.call(lambda: c.sandbox_set_status(payment["mercadopago_payment_id"], "approve"))
            self._saga_revision(c, order, lambda r: r["status"] == "APPROVED" and r["parts_status"] == "RESERVED",
                                paid_version=revised["version"])
        self.call(partial(c.complete_job, order.queue_id, "Serviço e reparos adicionais concluídos"))

    def _saga_revision(self, c: OficinaClient, order: Order, settled: Callable[[dict], bool],
                       paid_version: int = 0) -> None:
        """The mechanic waits until the saga has the customer's decision (and, approved, the
        parts and the payment) before finishing: finished first, the revision is given up."""
        deadline = time.monotonic() + self.wait
        while time.monotonic() < deadline:
            try:
                executions = c.executions(order.order_id)
                saga = c.execution(executions[0]["execution_id"]) if executions else {}
            except (SystemError_, OSError):
                saga = {}
            revisions = saga.get("revisions") or []
            paid = not paid_version or any(p["budget_version"] == paid_version and p["status"] == "APPROVED"
                                           for p in saga.get("payments") or [])
            if revisions and settled(revisions[-1]) and paid:
                return
            time.sleep(0.5)
        raise SystemError_(f"the saga of {order.order_id} never settled its additional repairs")

    def wait_for(self, c: OficinaClient, order_id: str, status: str) -> None:
        """A person refreshes the page until the order gets there, or past it (the mechanics may
        finish a job between two refreshes), or it is cancelled: the check says whether that was
        right. A 503 is just another refresh."""
        deadline = time.monotonic() + self.wait
        seen = ""
        while time.monotonic() < deadline:
            try:
                seen = c.order(order_id)["status"]
            except (SystemError_, OSError):
                seen = "unavailable"
            if seen == status or seen == "CANCELLED" or (
                    seen in ORDER_PATH and ORDER_PATH.index(seen) > ORDER_PATH.index(status)):
                return
            time.sleep(0.3)
        raise SystemError_(f"order {order_id} never reached {status} (last seen {seen})")

    def _pending_budget(self, c: OficinaClient, order: Order, after_version: int) -> dict:
        return self._poll(lambda: next((b for b in c.budgets(order.order_id, token=order.token)
                                        if b["status"] == "PENDING_APPROVAL" and b["version"] > after_version), None),
                          f"no budget after v{after_version} to decide for {order.order_id}")

    def _pending_payment(self, c: OficinaClient, order: Order, version: int) -> dict:
        return self._poll(lambda: next((p for p in c.payments(order.order_id)
                                        if p["status"] == "PENDING" and p.get("mercadopago_payment_id")
                                        and p["budget_version"] == version), None),
                          f"no payment of v{version} to pay for {order.order_id}")

    def _poll(self, probe: Callable[[], Any], failure: str) -> Any:
        deadline = time.monotonic() + self.wait
        while time.monotonic() < deadline:
            try:
                found = probe()
            except (SystemError_, OSError):
                found = None
            if found:
                return found
            time.sleep(0.5)
        raise SystemError_(failure)

    # --- the mechanics: take any job, do what its order is meant to have done -----------------
    def mechanics(self) -> None:
        c = self.client()
        while not self.done.is_set():
            job = self._next_job(c)
            if not job:
                time.sleep(0.5)
                continue
            order = self.orders.get(job["service_order_id"])
            outcome = order.outcome if order else "delivered"
            queue_id = job["queue_id"]
            try:
                if outcome == "job_failed":
                    self.call(partial(c.fail_job, queue_id, "Motor fundido, sem conserto. " * 60))
                elif order is not None and (outcome == "cancel_in_execution" or outcome in ADDITIONAL):
                    if outcome in ADDITIONAL:
                        self.call(partial(c.report_additional_repair, queue_id, [
                            {"kind": "part", "catalog_id": order.part_id, "quantity": EXTRA}], "Outro filtro"))
                    order.queue_id = queue_id  # held until the staff cancel, or the customer decides
                    order.job_ready.set()
                else:
                    self.call(partial(c.complete_job, queue_id, "Serviço concluído"))
            except (SystemError_, OSError):
                pass

    def _next_job(self, c: OficinaClient) -> dict | None:
        """The next job; or one claimed whose answer was lost (it is on the mechanic's list as
        ASSIGNED, as a person would see it)."""
        try:
            job = c.claim_job()
            if job is None:
                job = next((j for j in c.work_queue("ASSIGNED") if j["queue_id"] not in self.handled_jobs), None)
        except (SystemError_, OSError):
            return None
        with self.lock:
            if job is None or job["queue_id"] in self.handled_jobs:
                return None
            self.handled_jobs.add(job["queue_id"])
        return job


# --- faults --------------------------------------------------------------------------------------
@dataclass
class FaultLog:
    lines: list[str] = field(default_factory=list)
    broker_lost_at: list[datetime] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def add(self, text: str) -> None:
        self.lines.append(f"{time.monotonic() - self.started:6.1f}s ({datetime.now(UTC):%H:%M:%S} UTC) {text}")

    def count(self, word: str) -> int:
        return sum(word in line for line in self.lines)


def faults(system, rng: random.Random, stop: threading.Event, every: float, log: FaultLog,  # noqa: ANN001
           first: Sequence[str] = ()) -> None:
    """The schedule: ``first`` for sure, a second or two apart while the first orders are on
    their way (even if the run is over by then); then a fault every ``every`` seconds on average,
    drawn, until ``stop``."""
    for kind in first:
        time.sleep(rng.uniform(1, 3))
        inject(system, kind, rng, log)
    while not stop.wait(rng.uniform(every * 0.5, every * 1.5)):
        inject(system, rng.choice(FAULTS), rng, log)


def inject(system, kind: str, rng: random.Random, log: FaultLog) -> None:  # noqa: ANN001
    import redis

    sandbox = OficinaClient(system.urls, timeout=10)
    if kind == "kill_worker":
        service = rng.choice(["os", "billing", "execution"])
        system.restart_worker(service, signal.SIGKILL)
        log.add(f"SIGKILL {service} worker (restarted)")
    elif kind == "dynamodb_restart":
        restart_dynamodb(system)
        log.add("DynamoDB endpoint restarted (its data kept)")
    elif kind == "broker_loss":
        redis.Redis.from_url(system.env["CELERY_BROKER_URL"]).flushdb()
        log.broker_lost_at.append(datetime.now(UTC))
        log.add("broker lost everything (FLUSHDB)")
    elif kind == "db_connections":
        psql(system, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                     "WHERE datname = :'db' AND pid <> pg_backend_pid();", "postgres")
        log.add("PostgreSQL connections killed")
    elif kind == "sandbox_errors":
        seconds = rng.uniform(3, 8)
        sandbox.sandbox_faults(status=503, seconds=seconds)
        log.add(f"Mercado Pago answers 503 for {seconds:.0f} s")
    elif kind == "sandbox_slow":
        seconds = rng.uniform(5, 10)
        sandbox.sandbox_faults(delay_seconds=3, seconds=seconds)
        log.add(f"Mercado Pago answers 3 s late for {seconds:.0f} s")
    else:
        seconds = rng.uniform(10, 20)
        sandbox.sandbox_webhook_faults(seconds=seconds, delay_seconds=8, copies=2)
        log.add(f"Mercado Pago webhooks late (up to 8 s), twice and out of order for {seconds:.0f} s")


def psql(system, sql: str, connect_to: str = "") -> str:  # noqa: ANN001
    """SQL on the test system's own database (or, from ``connect_to``, about it: its name,
    oficina_os_e2e_<hex>, is the psql variable ``db``)."""
    database = system.env["DATABASE_URL"].rsplit("/", 1)[1]
    return subprocess.run(["psql", "-h", system.env["POSTGRES_HOST"], "-p", system.env["POSTGRES_PORT"], "-U",
                           system.env["POSTGRES_USER"], "-d", connect_to or database, "-qAt", "-v", f"db={database}"],
                          capture_output=True, check=False, text=True, input=sql).stdout.strip()


def restart_dynamodb(system) -> None:  # noqa: ANN001
    """The endpoint goes away and comes back with its data (dynalite keeps it in its --path)."""
    process = system.processes["dynalite"]
    process.kill(signal.SIGKILL)
    process.start(system.env)


def keep_dynamodb_up(system, stop: threading.Event, log: FaultLog) -> None:  # noqa: ANN001
    """dynalite (the emulator, not DynamoDB) dies when a client it is answering is killed mid-request
    (an unhandled ECONNRESET): bring it back, as the managed service would be."""
    while not stop.wait(0.5):
        if system.processes["dynalite"].popen.poll() is not None:
            system.processes["dynalite"].start(system.env)
            log.add("the DynamoDB emulator had died: started again")


# --- the check -----------------------------------------------------------------------------------
def check(run: Run, order: Order, settle: float) -> None:
    c = run.client()
    if order.driver_error:
        order.wrong.append(f"driver: {order.driver_error}")
    if not order.order_id:
        return
    want = expected(order.outcome)
    deadline = time.monotonic() + settle
    while True:
        executions = run.call(lambda: c.executions(order.order_id))
        saga = executions[0] if executions else {}
        detail = run.call(lambda: c.order(order.order_id))
        if (saga.get("status", "") in want.saga and detail["status"] == want.os) or time.monotonic() > deadline:
            break
        time.sleep(1)
    if saga.get("status", "") not in want.saga:
        order.wrong.append(f"saga {saga.get('status') or 'never started'} (expected {' or '.join(want.saga)}; "
                           f"step {saga.get('current_step')}; {saga.get('error') or ''})")
    if detail["status"] != want.os:
        order.wrong.append(f"OS {detail['status']} (expected {want.os})")
    check_history(order, detail, want)
    part = run.call(lambda: c.part(order.part_id))
    if part["quantity_reserved"] != 0:
        order.wrong.append(f"{part['quantity_reserved']} part(s) left reserved")
    if part["quantity_in_stock"] != order.stock - want.consumed:
        order.wrong.append(f"stock {part['quantity_in_stock']} (expected {order.stock - want.consumed})")
    check_charges(order, run.call(lambda: c.payments(order.order_id)), run.call(lambda: sandbox_charges(c)), want)


def check_history(order: Order, detail: dict, want: Expected) -> None:
    """The order went along ORDER_PATH, each status once, to where it was meant to stop."""
    moves = [entry["to"] for entry in detail.get("status_history") or []]
    paths = [list(ORDER_PATH[:ORDER_PATH.index(last) + 1]) + (["CANCELLED"] if want.os == "CANCELLED" else [])
             for last in want.last]
    if moves not in paths:
        order.wrong.append(f"history {' > '.join(moves)} (expected {' or '.join(' > '.join(p) for p in paths)})")


def check_charges(order: Order, payments: list[dict], charges: dict[str, list[dict]], want: Expected) -> None:
    """One charge at Mercado Pago per budget version a payment was asked for; a delivered order's
    kept, a cancelled one's refunded exactly once (or never paid, and no longer payable)."""
    by_version: dict[int, list[dict]] = {}
    for payment in payments:
        by_version.setdefault(payment["budget_version"], []).extend(charges.get(payment["payment_id"], []))
    kept = 0
    for version, made in sorted(by_version.items()):
        if len(made) != 1:
            order.wrong.append(f"v{version}: {len(made)} charge(s) at Mercado Pago (expected 1)")
        for mp in made:
            refunds = len(mp.get("refunds") or [])
            if mp["status"] == "approved" and not refunds:
                kept += 1
            elif mp["status"] in ("approved", "refunded") and (mp["status"] != "refunded" or refunds != 1):
                order.wrong.append(f"payment {mp['id']} {mp['status']} with {refunds} refund(s) (expected 1)")
            elif mp["status"] == "pending":
                order.wrong.append(f"payment {mp['id']} still payable")
    if kept != want.kept:
        order.wrong.append(f"{kept} charge(s) kept (expected {want.kept})")


def sandbox_charges(c: OficinaClient) -> dict[str, list[dict]]:
    """Every charge at Mercado Pago, by Billing's payment id (its external reference)."""
    found: dict[str, list[dict]] = {}
    for mp in c.json("GET", f"{c.urls.sandbox}/sandbox/payments", token="")["results"]:
        found.setdefault(str(mp.get("external_reference") or ""), []).append(mp)
    return found


def unpublished(system, since: datetime | None, *, again_after: float = 15.0) -> list[str]:  # noqa: ANN001
    """Messages left in an outbox: OS rows never published; DynamoDB items' ``outbox`` entries
    without a receipt (``<service>:1:outbox-sent:<id>`` in the services' Redis). A broker loss
    empties the receipts with the queues, so an entry that occurred before the last loss is not
    counted (it was published, and the sweeper publishes it again in its own time). What is found
    is looked at again ``again_after`` seconds later (a write may be between its outbox and its
    publishing, the sweeper on its way): only what is still there is reported."""
    found = _unpublished(system, since)
    if found:
        time.sleep(again_after)
        still = _unpublished(system, since)
        found = {message_id: text for message_id, text in still.items() if message_id in found}
    return sorted(found.values())


def _unpublished(system, since: datetime | None) -> dict[str, str]:  # noqa: ANN001
    """What is left unpublished now, by message id."""
    import boto3
    import redis

    rows = psql(system, "SELECT type || ' ' || message_id FROM messaging_outboxmessage WHERE published_at IS NULL;")
    found = {row: f"OS outbox: {row} never published" for row in rows.splitlines() if row}
    dynamodb = boto3.resource("dynamodb", endpoint_url=system.env["DYNAMODB_ENDPOINT_URL"], region_name="us-east-1",
                              aws_access_key_id="local", aws_secret_access_key="local")
    receipts = redis.Redis.from_url(system.env["CELERY_BROKER_URL"])
    cutoff = since.isoformat(timespec="milliseconds").replace("+00:00", "Z") if since else ""  # as the tables write it
    for table in dynamodb.tables.all():
        service = "execution" if table.name.endswith(("executions", "execution_steps", "work_queue")) else "billing"
        for item in scan(table):
            entries = item.get("outbox") or {}
            for message_id, raw in entries.items():
                envelope = json.loads(raw)
                if envelope.get("occurred_at", "") > cutoff \
                        and not receipts.exists(f"{service}:1:outbox-sent:{message_id}"):
                    about = {k: item[k] for k in ("status", "rev", "updated_at") if k in item}
                    found[message_id] = (f"{table.name} outbox: {envelope.get('type')} {message_id} of "
                                         f"{envelope.get('occurred_at')} never published ({len(entries)} entries "
                                         f"in the item; {about})")
    return found


def scan(table) -> Iterable[dict]:  # noqa: ANN001
    kwargs: dict[str, Any] = {"FilterExpression": "attribute_exists(outbox_pending)"}
    while True:
        page = table.scan(**kwargs)
        yield from page["Items"]
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# --- the run -------------------------------------------------------------------------------------
@dataclass
class Result:
    orders: list[Order]
    faults: FaultLog
    outbox: list[str]
    seconds: float

    @property
    def correct(self) -> int:
        return sum(not o.wrong for o in self.orders)

    @property
    def ok(self) -> bool:
        return self.correct == len(self.orders) and not self.outbox

    def report(self) -> str:
        lines = ["faults injected:", *(f"  {line}" for line in self.faults.lines)]
        lines += [f"  order {o.n} ({o.outcome}, {o.order_id}): " + "; ".join(o.wrong) for o in self.orders if o.wrong]
        lines += [f"  {line}" for line in self.outbox]
        lines.append(f"{self.correct}/{len(self.orders)} sagas correct, {len(self.faults.lines)} faults, "
                     f"{len(self.outbox)} message(s) left in an outbox, {self.seconds:.0f} s")
        return "\n".join(lines)


def fault_run(outcomes: Sequence[str], *, seed: int, fault_every: float, first_faults: Sequence[str] = (),
              in_flight: int = 10, wait: float = 240.0, settle: float = 180.0, env: dict[str, str] | None = None,
              keep_logs: Path | None = ROOT / ".data" / "chaos-logs") -> Result:
    """The orders through the whole system while the faults happen; then the check."""
    from system import running_system

    started = time.monotonic()
    rng = random.Random(seed)
    orders = [Order(n, outcome) for n, outcome in enumerate(outcomes)]
    log = FaultLog()
    with running_system(redis_db=15, extra_env={**CHAOS_ENV, **(env or {})}, keep_logs=keep_logs) as system:
        run = Run(system.urls, wait)
        stop = threading.Event()
        log.started = time.monotonic()
        injector = threading.Thread(target=faults, args=(system, rng, stop, fault_every, log, first_faults),
                                    daemon=True)
        # Until the run is over (then the system is stopped, the emulator with it).
        threading.Thread(target=keep_dynamodb_up, args=(system, run.done, log), daemon=True).start()
        for _ in range(2):
            threading.Thread(target=run.mechanics, daemon=True).start()
        injector.start()
        try:
            with ThreadPoolExecutor(in_flight) as pool:
                list(pool.map(run.drive, orders))
            stop.set()
            injector.join()
            OficinaClient(system.urls).json("DELETE", f"{system.urls.sandbox}/sandbox/faults", token="")
            with ThreadPoolExecutor(in_flight) as pool:
                list(pool.map(lambda o: check(run, o, settle), orders))
            outbox = unpublished(system, max(log.broker_lost_at, default=None))
        finally:
            stop.set()
            run.done.set()
    return Result(orders, log, outbox, time.monotonic() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100)
    parser.add_argument("--in-flight", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fault-every", type=float, default=3.0, help="seconds between faults, on average")
    parser.add_argument("--wait", type=float, default=240.0, help="how long a person waits for the next status")
    parser.add_argument("--settle", type=float, default=180.0, help="how long the check waits for each saga")
    args = parser.parse_args()
    # Stopped from outside (a timeout, Ctrl-C): unwind, so that the system it started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("fault run stopped"))
    rng = random.Random(args.seed)
    outcomes = [rng.choice(OUTCOMES) for _ in range(args.orders)]
    print(f"fault run: {args.orders} orders, seed {args.seed}: "
          + ", ".join(f"{k} {v}" for k, v in sorted(Counter(outcomes).items())), flush=True)
    result = fault_run(outcomes, seed=args.seed, fault_every=args.fault_every, in_flight=args.in_flight,
                       wait=args.wait, settle=args.settle)
    print(result.report())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
