"""An HTTP client for the whole Oficina system, as a person at the front desk would drive it.

Used by the demo (`./manage_all.sh demo`), the cross-service BDD tests and the saga benchmark,
so all three walk the system the same way: over HTTP only.
"""
from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from urllib3.util.retry import Retry


class SystemError_(RuntimeError):
    """The system answered something a user would call wrong."""


@dataclass
class Urls:
    os: str = field(default_factory=lambda: os.environ.get("OS_SERVICE_URL", "http://127.0.0.1:8001"))
    billing: str = field(default_factory=lambda: os.environ.get("BILLING_SERVICE_URL", "http://127.0.0.1:8002"))
    execution: str = field(default_factory=lambda: os.environ.get("EXECUTION_SERVICE_URL", "http://127.0.0.1:8003"))
    sandbox: str = field(default_factory=lambda: os.environ.get("MERCADOPAGO_BASE_URL", "http://127.0.0.1:8004"))


def items_of(body: Any) -> list[dict[str, Any]]:
    """A list endpoint's rows, whatever the pagination shape."""
    if isinstance(body, list):
        return body
    for key in ("results", "items"):
        if isinstance(body, dict) and isinstance(body.get(key), list):
            return body[key]
    raise SystemError_(f"not a list: {body!r}")


class OficinaClient:
    def __init__(self, urls: Urls | None = None, *, timeout: float = 10.0):
        self.urls = urls or Urls()
        self.timeout = timeout
        self.http = requests.Session()
        # A kept-alive connection the server has just closed (gunicorn recycling a worker, its
        # keep-alive timeout) fails the next request: reads are safe to send again, writes are not.
        retry = Retry(total=3, connect=3, read=3, status=0, allowed_methods={"GET", "HEAD"}, backoff_factor=0.1)
        for scheme in ("http://", "https://"):
            self.http.mount(scheme, requests.adapters.HTTPAdapter(max_retries=retry))
        self.token: str | None = None

    # --- plumbing -------------------------------------------------------------------------
    def call(self, method: str, url: str, *, expect: tuple[int, ...] = (200, 201), token: str | None = None,
             **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        bearer = token if token is not None else self.token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        response = self.http.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
        if expect and response.status_code not in expect:
            raise SystemError_(f"{method} {url} -> {response.status_code}: {response.text[:500]}")
        return response

    def json(self, method: str, url: str, **kwargs: Any) -> Any:
        response = self.call(method, url, **kwargs)
        return response.json() if response.content else None

    # --- auth -----------------------------------------------------------------------------
    def login(self, username: str, password: str) -> str:
        body = self.json("POST", f"{self.urls.os}/api/v1/auth/token/",
                         json={"username": username, "password": password}, token="")
        self.token = body["access"]
        return self.token

    def customer_token(self, document: str, tracking_code: str) -> str:
        body = self.json("POST", f"{self.urls.os}/api/v1/auth/customer-token/",
                         json={"document": document, "tracking_code": tracking_code}, token="")
        return body["access"]

    # --- front desk -----------------------------------------------------------------------
    def create_customer(self, name: str, document: str, email: str, phone: str = "11999990000") -> dict:
        return self.json("POST", f"{self.urls.os}/api/v1/customers/",
                         json={"name": name, "document": document, "email": email, "phone": phone})

    def create_vehicle(self, customer_id: Any, plate: str, brand: str = "Fiat", model: str = "Uno",
                       year: int = 2015) -> dict:
        return self.json("POST", f"{self.urls.os}/api/v1/vehicles/",
                         json={"customer_id": customer_id, "plate": plate, "brand": brand, "model": model,
                               "year": year})

    def create_service(self, name: str, price: str, minutes: int = 60) -> dict:
        return self.json("POST", f"{self.urls.os}/api/v1/services/",
                         json={"name": name, "description": name, "price": price, "estimated_minutes": minutes,
                               "active": True})

    def create_part(self, name: str, unit_price: str, stock: int, minimum: int = 1) -> dict:
        return self.json("POST", f"{self.urls.os}/api/v1/parts/",
                         json={"sku": f"SKU-{uuid.uuid4().hex[:10].upper()}", "name": name, "unit_price": unit_price,
                               "quantity_in_stock": stock, "minimum_stock": minimum})

    def declined_work(self, vehicle_id: Any) -> list[dict]:
        return items_of(self.json("GET", f"{self.urls.os}/api/v1/vehicles/{vehicle_id}/declined-work/"))

    def part(self, part_id: Any) -> dict:
        return self.json("GET", f"{self.urls.os}/api/v1/parts/{part_id}/")

    def open_order(self, customer_id: Any, vehicle_id: Any, complaint: str, priority: int = 3) -> dict:
        return self.json("POST", f"{self.urls.os}/api/v1/service-orders/",
                         json={"customer_id": customer_id, "vehicle_id": vehicle_id, "complaint": complaint,
                               "priority": priority})

    def order(self, order_id: str, token: str | None = None) -> dict:
        return self.json("GET", f"{self.urls.os}/api/v1/service-orders/{order_id}/", token=token)

    def start_diagnosis(self, order_id: str) -> dict:
        return self.json("POST", f"{self.urls.os}/api/v1/service-orders/{order_id}/start-diagnosis/")

    def submit_diagnosis(self, order_id: str, items: list[dict], notes: str = "") -> dict:
        return self.json("POST", f"{self.urls.os}/api/v1/service-orders/{order_id}/diagnosis/",
                         json={"items": items, "notes": notes})

    def deliver(self, order_id: str) -> dict:
        return self.json("POST", f"{self.urls.os}/api/v1/service-orders/{order_id}/deliver/")

    def cancel(self, order_id: str, reason: str) -> dict:
        return self.json("POST", f"{self.urls.os}/api/v1/service-orders/{order_id}/cancel/", json={"reason": reason})

    def tracking(self, tracking_code: str) -> dict:
        return self.json("GET", f"{self.urls.os}/api/v1/tracking/{tracking_code}/", token="")

    # --- billing --------------------------------------------------------------------------
    def budgets(self, order_id: str, token: str | None = None) -> list[dict]:
        return items_of(self.json("GET", f"{self.urls.billing}/api/v1/budgets/",
                                  params={"service_order_id": order_id}, token=token))

    def budget(self, budget_id: str, token: str | None = None) -> dict:
        return self.json("GET", f"{self.urls.billing}/api/v1/budgets/{budget_id}/", token=token)

    def approve_budget(self, budget_id: str, version: int, token: str | None = None, reason: str = "",
                       lines: list[int] | None = None) -> dict:
        """The customer's approval (with her token), or staff's on her behalf (staff say why);
        with ``lines``, only those line ids (the rest declined)."""
        body: dict[str, Any] = {"version": version, **({"reason": reason} if reason else {}),
                                **({"lines": lines} if lines is not None else {})}
        return self.json("POST", f"{self.urls.billing}/api/v1/budgets/{budget_id}/approve/", json=body, token=token)

    def reject_budget(self, budget_id: str, version: int, reason: str, token: str | None = None) -> dict:
        return self.json("POST", f"{self.urls.billing}/api/v1/budgets/{budget_id}/reject/",
                         json={"version": version, "reason": reason}, token=token)

    def revise_budget(self, budget_id: str, items: list[dict], reason: str = "") -> dict:
        return self.json("POST", f"{self.urls.billing}/api/v1/budgets/{budget_id}/revisions/",
                         json={"items": items, "reason": reason})

    def payments(self, order_id: str) -> list[dict]:
        return items_of(self.json("GET", f"{self.urls.billing}/api/v1/payments/",
                                  params={"service_order_id": order_id}))

    # --- Mercado Pago sandbox (what the customer's bank app would do) -----------------------
    def sandbox_set_status(self, mercadopago_payment_id: Any, action: str) -> dict:
        return self.json("POST", f"{self.urls.sandbox}/sandbox/payments/{mercadopago_payment_id}/{action}", token="")

    def sandbox_faults(self, **fault: Any) -> dict:
        """Trouble at Mercado Pago (the sandbox's ``POST /sandbox/faults``): ``status``,
        ``delay_seconds``, for the next ``times`` calls or for ``seconds``."""
        return self.json("POST", f"{self.urls.sandbox}/sandbox/faults", json=fault, token="")

    def sandbox_webhook_faults(self, **fault: Any) -> dict:
        """Webhooks late (``delay_seconds``), ``copies`` times and out of order, for ``seconds``."""
        return self.json("POST", f"{self.urls.sandbox}/sandbox/faults/webhooks", json=fault, token="")

    def sandbox_payment(self, mercadopago_payment_id: Any) -> dict:
        return self.json("GET", f"{self.urls.sandbox}/v1/payments/{mercadopago_payment_id}",
                         token="TEST-sandbox-access-token")

    # --- execution ------------------------------------------------------------------------
    def executions(self, order_id: str) -> list[dict]:
        return items_of(self.json("GET", f"{self.urls.execution}/api/v1/executions/",
                                  params={"service_order_id": order_id}))

    def execution(self, execution_id: str) -> dict:
        return self.json("GET", f"{self.urls.execution}/api/v1/executions/{execution_id}/")

    def work_queue(self, status: str = "QUEUED") -> list[dict]:
        return items_of(self.json("GET", f"{self.urls.execution}/api/v1/work-queue/", params={"status": status}))

    def claim_job(self) -> dict | None:
        response = self.call("POST", f"{self.urls.execution}/api/v1/work-queue/claim/", expect=(200, 204))
        return response.json() if response.status_code == 200 else None

    def claim_job_of(self, order_id: str, timeout: float = 20.0) -> dict:
        """Wait for this order's job to be queued, then claim it (tests run one order at a time)."""
        wait_for(lambda: any(j["service_order_id"] == order_id for j in self.work_queue()),
                 timeout=timeout, what=f"a queued job for {order_id}")
        job = self.claim_job()
        if not job or job["service_order_id"] != order_id:
            raise SystemError_(f"expected the job of {order_id}, claimed {job}")
        return job

    def complete_job(self, queue_id: str, notes: str = "Serviço concluído") -> dict:
        return self.json("POST", f"{self.urls.execution}/api/v1/work-queue/{queue_id}/complete/",
                         json={"notes": notes})

    def fail_job(self, queue_id: str, reason: str) -> dict:
        return self.json("POST", f"{self.urls.execution}/api/v1/work-queue/{queue_id}/fail/", json={"reason": reason})

    def report_additional_repair(self, queue_id: str, items: list[dict], notes: str = "") -> dict:
        return self.json("POST", f"{self.urls.execution}/api/v1/work-queue/{queue_id}/additional-repairs/",
                         json={"items": items, "notes": notes}, expect=(202,))

    # --- waiting for the saga -------------------------------------------------------------
    def wait_for_status(self, order_id: str, status: str, timeout: float = 30.0,
                        on_change: Callable[[str], None] | None = None) -> dict:
        seen: list[str] = []

        def probe() -> dict | None:
            order = self.order(order_id)
            if not seen or seen[-1] != order["status"]:
                seen.append(order["status"])
                if on_change:
                    on_change(order["status"])
            return order if order["status"] == status else None

        return wait_for(probe, timeout=timeout, what=f"order {order_id} to reach {status} (saw {seen})")


def wait_for(probe: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.1, what: str = "it") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemError_(f"timed out waiting for {what}")
        time.sleep(interval)


def valid_cpf(seed: int | None = None) -> str:
    """A CPF with correct check digits (the OS service validates them)."""
    import random

    rng = random.Random(seed)
    while True:
        digits = [rng.randint(0, 9) for _ in range(9)]
        if len(set(digits)) > 1:
            break
    for size in (9, 10):
        total = sum(d * w for d, w in zip(digits, range(size + 1, 1, -1), strict=True))
        digits.append((total * 10 % 11) % 10)
    return "".join(map(str, digits))


def mercosul_plate(seed: int | None = None) -> str:
    import random
    import string

    rng = random.Random(seed)
    letters = string.ascii_uppercase
    return (f"{rng.choice(letters)}{rng.choice(letters)}{rng.choice(letters)}{rng.randint(0, 9)}"
            f"{rng.choice(letters)}{rng.randint(0, 9)}{rng.randint(0, 9)}")
