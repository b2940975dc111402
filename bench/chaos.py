"""Fault run: N orders through the saga while workers die and the broker loses everything.

    .venv/bin/python bench/chaos.py --orders 100 --seed 7        (also: ./manage_all.sh chaos)

Starts the whole system as the benchmark does (gunicorn, real Celery workers, Redis, PostgreSQL,
dynalite, the Mercado Pago sandbox) with short saga timeouts, and drives N orders, each with an
intended outcome (delivered, rejected, no stock, payment rejected, job failed, staff cancel while
the payment is pending or during the work). Meanwhile a seeded fault schedule, printed, SIGKILLs
Celery workers (restarted, as Kubernetes would), empties the broker (FLUSHDB: every queued and
unacknowledged message is gone) and kills PostgreSQL connections. Then it waits for every saga to
settle and checks each order across the three services and the sandbox: the saga terminal and as
intended, the OS status, every charge of a cancelled order refunded exactly once and a delivered
order's kept, the stock exact and nothing left reserved. It prints `N/N sagas correct`, the faults
and, for each wrong order, what is wrong. Exit status 0 only when every order is right.

Not injected yet: restarting the DynamoDB endpoint, the sandbox's 5xx/slow windows and late or
doubled webhooks.
"""
from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from oficina_client import OficinaClient, SystemError_, Urls, mercosul_plate, valid_cpf  # noqa: E402

OUTCOMES = ("delivered", "delivered", "delivered", "rejected", "no_stock", "payment_rejected", "job_failed",
            "cancel_awaiting_payment", "cancel_in_execution")
FILTERS = 2  # each order's diagnosis: one service and two parts of its own
ORDER_PATH = ("RECEIVED", "IN_DIAGNOSIS", "AWAITING_APPROVAL", "AWAITING_PAYMENT", "IN_EXECUTION", "FINISHED",
              "DELIVERED")
# Short clocks, so that what the broker lost is noticed and re-sent within the run.
CHAOS_ENV = {
    "DEBUG": "false", "LOG_LEVEL": "INFO",
    "SAGA_STEP_TIMEOUT_SECONDS": "10", "SAGA_MAX_ATTEMPTS": "6", "SAGA_SWEEP_INTERVAL_SECONDS": "3",
    "OUTBOX_SWEEP_SECONDS": "3", "BEAT_OUTBOX_SWEEP_SECONDS": "3", "OUTBOX_SWEEP_AGE_SECONDS": "5",
    "DIAGNOSIS_RESEND_AFTER_SECONDS": "20", "PAYMENT_RECONCILE_AFTER_SECONDS": "15", "BEAT_RECONCILE_SECONDS": "5",
    "SAGA_JOB_CHECK_SECONDS": "15", "SAGA_PAYMENT_CHECK_SECONDS": "15",
    "MERCADOPAGO_SANDBOX_RETRY_BASE_SECONDS": "0.5",
}


@dataclass
class Order:
    n: int
    outcome: str
    order_id: str = ""
    part_id: int = 0
    stock: int = 0
    payment: dict | None = None
    driver_error: str = ""
    wrong: list[str] = field(default_factory=list)


class Run:
    def __init__(self, urls: Urls, wait: float):
        self.urls = urls
        self.wait = wait
        self.local = threading.local()
        self.outcome_of: dict[str, str] = {}
        self.done = threading.Event()

    def client(self) -> OficinaClient:
        if not hasattr(self.local, "client"):
            self.local.client = OficinaClient(self.urls, timeout=30)
            self.local.client.login("admin", "admin")
        return self.local.client

    def call(self, action, attempts: int = 8):  # noqa: ANN001, ANN201
        """A person tries again when the page errs (a killed database connection, a restart)."""
        for attempt in range(attempts):
            try:
                return action()
            except (SystemError_, OSError) as exc:
                if attempt == attempts - 1 or "-> 4" in str(exc):
                    raise
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
        self.outcome_of[order.order_id] = order.outcome
        token = self.call(lambda: c.customer_token(customer["document"], opened["tracking_code"]))
        self.call(lambda: c.start_diagnosis(order.order_id))
        self.call(lambda: c.submit_diagnosis(order.order_id, [
            {"kind": "service", "catalog_id": service["id"], "quantity": 1},
            {"kind": "part", "catalog_id": part["id"], "quantity": FILTERS}]))
        self.wait_for(c, order.order_id, "AWAITING_APPROVAL")
        budget = next(b for b in self.call(lambda: c.budgets(order.order_id, token=token))
                      if b["status"] == "PENDING_APPROVAL")
        if order.outcome == "rejected":
            self.call(lambda: c.reject_budget(budget["budget_id"], budget["version"], "caro", token=token))
            return
        self.call(lambda: c.approve_budget(budget["budget_id"], budget["version"], token=token))
        if order.outcome == "no_stock":
            return
        self.wait_for(c, order.order_id, "AWAITING_PAYMENT")
        order.payment = self._pending_payment(c, order)
        if order.outcome == "cancel_awaiting_payment":
            self.call(lambda: c.cancel(order.order_id, "O cliente desistiu. " * 40))
            return
        action = "reject" if order.outcome == "payment_rejected" else "approve"
        self.call(lambda: c.sandbox_set_status(order.payment["mercadopago_payment_id"], action))
        if order.outcome == "payment_rejected":
            return
        self.wait_for(c, order.order_id, "IN_EXECUTION")
        if order.outcome == "cancel_in_execution":
            self.call(lambda: c.cancel(order.order_id, "Cancelado pela oficina"))
            return
        if order.outcome == "delivered":
            self.wait_for(c, order.order_id, "FINISHED")
            self.call(lambda: c.deliver(order.order_id))

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

    def _pending_payment(self, c: OficinaClient, order: Order) -> dict:
        deadline = time.monotonic() + self.wait
        while time.monotonic() < deadline:
            for payment in self.call(lambda: c.payments(order.order_id)):
                if payment["status"] == "PENDING" and payment.get("mercadopago_payment_id"):
                    return payment
            time.sleep(0.5)
        raise SystemError_(f"no payment to pay for {order.order_id}")

    # --- the mechanics: take any job, do what its order is meant to have done -----------------
    def mechanics(self) -> None:
        c = self.client()
        while not self.done.is_set():
            try:
                job = c.claim_job()
            except (SystemError_, OSError):
                job = None
            if not job:
                time.sleep(0.5)
                continue
            outcome = self.outcome_of.get(job["service_order_id"], "delivered")
            queue_id = job["queue_id"]
            try:
                if outcome == "job_failed":
                    self.call(partial(c.fail_job, queue_id, "Motor fundido, sem conserto. " * 60))
                elif outcome != "cancel_in_execution":  # that one is held until the staff cancel it
                    self.call(partial(c.complete_job, queue_id, "Serviço concluído"))
            except (SystemError_, OSError):
                pass


# --- faults --------------------------------------------------------------------------------------
def faults(system, rng: random.Random, stop: threading.Event, every: float, log: list[str]) -> None:  # noqa: ANN001
    import redis

    started = time.monotonic()
    while not stop.wait(rng.uniform(every * 0.5, every * 1.5)):
        kind = rng.choice(["kill_worker", "kill_worker", "broker_loss", "db_connections", "dynamodb_restart"])
        at = f"{time.monotonic() - started:6.1f}s"
        if kind == "kill_worker":
            service = rng.choice(["os", "billing", "execution"])
            system.restart_worker(service, signal.SIGKILL)
            log.append(f"{at} SIGKILL {service} worker (restarted)")
        elif kind == "dynamodb_restart":
            restart_dynamodb(system)
            log.append(f"{at} DynamoDB endpoint restarted (its data kept)")
        elif kind == "broker_loss":
            redis.Redis.from_url(system.env["CELERY_BROKER_URL"]).flushdb()
            log.append(f"{at} broker lost everything (FLUSHDB)")
        else:
            database = system.env["DATABASE_URL"].rsplit("/", 1)[1]
            # The database name is the test system's own (oficina_os_e2e_<hex>), passed as a psql variable.
            subprocess.run(["psql", "-h", system.env["POSTGRES_HOST"], "-U", system.env["POSTGRES_USER"], "-d",
                            "postgres", "-qAt", "-v", f"db={database}"], capture_output=True, check=False, text=True,
                           input="SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                 "WHERE datname = :'db' AND pid <> pg_backend_pid();")
            log.append(f"{at} PostgreSQL connections killed")


def restart_dynamodb(system) -> None:  # noqa: ANN001
    """The endpoint goes away and comes back with its data (dynalite keeps it in its --path)."""
    process = system.processes["dynalite"]
    process.kill(signal.SIGKILL)
    process.start(system.env)


def keep_dynamodb_up(system, stop: threading.Event, log: list[str]) -> None:  # noqa: ANN001
    """dynalite (the emulator, not DynamoDB) dies when a client it is answering is killed mid-request
    (an unhandled ECONNRESET): bring it back, as the managed service would be."""
    started = time.monotonic()
    while not stop.wait(0.5):
        if system.processes["dynalite"].popen.poll() is not None:
            system.processes["dynalite"].start(system.env)
            log.append(f"{time.monotonic() - started:6.1f}s the DynamoDB emulator had died: started again")


# --- the check -----------------------------------------------------------------------------------
EXPECTED = {"delivered": ("COMPLETED", "DELIVERED")}


def check(run: Run, order: Order, settle: float) -> None:
    c = run.client()
    if order.driver_error:
        order.wrong.append(f"driver: {order.driver_error}")
    if not order.order_id:
        return
    saga_status, os_status = EXPECTED.get(order.outcome, ("COMPENSATED", "CANCELLED"))
    deadline = time.monotonic() + settle
    while True:
        executions = run.call(lambda: c.executions(order.order_id))
        saga = executions[0] if executions else {}
        os_now = run.call(lambda: c.order(order.order_id))["status"]
        if (saga.get("status") == saga_status and os_now == os_status) or time.monotonic() > deadline:
            break
        time.sleep(1)
    if saga.get("status") != saga_status:
        order.wrong.append(f"saga {saga.get('status') or 'never started'} (expected {saga_status}; "
                           f"step {saga.get('current_step')})")
    if os_now != os_status:
        order.wrong.append(f"OS {os_now} (expected {os_status})")
    part = run.call(lambda: c.part(order.part_id))
    consumed = FILTERS if order.outcome == "delivered" else 0
    if part["quantity_reserved"] != 0:
        order.wrong.append(f"{part['quantity_reserved']} part(s) left reserved")
    if part["quantity_in_stock"] != order.stock - consumed:
        order.wrong.append(f"stock {part['quantity_in_stock']} (expected {order.stock - consumed})")
    for payment in run.call(lambda: c.payments(order.order_id)):
        mp_id = payment.get("mercadopago_payment_id")
        if not mp_id:
            continue
        mp = run.call(partial(c.sandbox_payment, mp_id))
        refunds = len(mp.get("refunds") or [])
        if order.outcome == "delivered":
            if mp["status"] != "approved" or refunds:
                order.wrong.append(f"payment {mp_id} {mp['status']} with {refunds} refund(s) (expected approved)")
        elif mp["status"] in ("approved", "refunded") and (mp["status"] != "refunded" or refunds != 1):
            order.wrong.append(f"payment {mp_id} {mp['status']} with {refunds} refund(s) (expected 1 refund)")
        elif mp["status"] == "pending":
            order.wrong.append(f"payment {mp_id} still payable")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100)
    parser.add_argument("--in-flight", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fault-every", type=float, default=12.0, help="seconds between faults, on average")
    parser.add_argument("--wait", type=float, default=240.0, help="how long a person waits for the next status")
    parser.add_argument("--settle", type=float, default=180.0, help="how long the check waits for each saga")
    args = parser.parse_args()
    # Stopped from outside (a timeout, Ctrl-C): unwind, so that the system it started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(f"fault run stopped after {time.monotonic() - started:.0f} s"))
    started = time.monotonic()
    rng = random.Random(args.seed)
    orders = [Order(n, rng.choice(OUTCOMES)) for n in range(args.orders)]
    print(f"fault run: {args.orders} orders, seed {args.seed}: "
          + ", ".join(f"{k} {v}" for k, v in sorted(Counter(o.outcome for o in orders).items())), flush=True)
    from system import running_system

    fault_log: list[str] = []
    with running_system(redis_db=15, extra_env=CHAOS_ENV, keep_logs=ROOT / ".data" / "chaos-logs") as system:
        run = Run(system.urls, args.wait)
        stop = threading.Event()
        injector = threading.Thread(target=faults, args=(system, rng, stop, args.fault_every, fault_log), daemon=True)
        # Until the run is over (then the system is stopped, the emulator with it).
        threading.Thread(target=keep_dynamodb_up, args=(system, run.done, fault_log), daemon=True).start()
        mechanics = [threading.Thread(target=run.mechanics, daemon=True) for _ in range(2)]
        for thread in mechanics:
            thread.start()
        injector.start()
        try:
            with ThreadPoolExecutor(args.in_flight) as pool:
                list(pool.map(run.drive, orders))
            stop.set()
            injector.join()
            with ThreadPoolExecutor(args.in_flight) as pool:
                list(pool.map(lambda o: check(run, o, args.settle), orders))
        finally:
            stop.set()
            run.done.set()
    elapsed = time.monotonic() - started
    correct = sum(not o.wrong for o in orders)
    print("faults injected:")
    for line in fault_log:
        print(f"  {line}")
    for order in orders:
        if order.wrong:
            print(f"  order {order.n} ({order.outcome}, {order.order_id}): " + "; ".join(order.wrong))
    print(f"{correct}/{len(orders)} sagas correct, {len(fault_log)} faults, {elapsed:.0f} s")
    return 0 if correct == len(orders) else 1


if __name__ == "__main__":
    sys.exit(main())
