"""Simulated trouble at Mercado Pago: slow answers or server errors on the API, and webhooks
delivered late, more than once and out of order.

``POST /sandbox/faults {"delay_seconds": 3, "status": 500, "times": 1, "path_prefix": "/v1/payments"}``
troubles the next N matching calls; with ``"seconds": 20`` instead, every matching call for the
next 20 seconds (a window). ``POST /sandbox/faults/webhooks {"delay_seconds": 5, "copies": 2,
"seconds": 20}``: for the next 20 seconds every notification is delivered ``copies`` times, each
copy after its own random wait of up to ``delay_seconds`` (so copies and notifications overtake
one another). ``DELETE /sandbox/faults`` clears both. Tests and the fault run (bench/chaos.py) use
them to catch a worker in the middle of a call and to trouble the payment flow for a while.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from .errors import ApiError


@dataclass
class Fault:
    delay_seconds: float = 0.0
    status: int = 0
    times: int = 1
    path_prefix: str = "/v1/"
    method: str = ""
    # A window: every matching call until then (time.monotonic()); ``times`` is not counted.
    until: float | None = None

    def to_dict(self) -> dict[str, Any]:
        window = None if self.until is None else round(max(0.0, self.until - time.monotonic()), 3)
        return {"delay_seconds": self.delay_seconds, "status": self.status, "times": self.times,
                "path_prefix": self.path_prefix, "method": self.method, "seconds": window}


@dataclass
class WebhookFault:
    delay_seconds: float
    copies: int
    until: float

    def to_dict(self) -> dict[str, Any]:
        return {"delay_seconds": self.delay_seconds, "copies": self.copies,
                "seconds": round(max(0.0, self.until - time.monotonic()), 3)}


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fault: Fault | None = None
        self._webhooks: WebhookFault | None = None
        self._random = random.Random()

    def set(self, fault: Fault | None) -> None:
        with self._lock:
            self._fault = fault

    def set_webhooks(self, fault: WebhookFault | None) -> None:
        with self._lock:
            self._webhooks = fault

    def clear(self) -> None:
        with self._lock:
            self._fault = self._webhooks = None

    def current(self) -> Fault | None:
        with self._lock:
            return self._fault

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            fault = self._fault
            if fault is not None and fault.until is not None and time.monotonic() >= fault.until:
                self._fault = fault = None
            if fault is None or not path.startswith(fault.path_prefix) or (fault.method and fault.method != method):
                return None
            if fault.until is None:
                fault.times -= 1
                if fault.times <= 0:
                    self._fault = None
            return fault

    def apply(self, method: str, path: str) -> None:
        """Called before an API request is served: sleep and/or fail if a fault matches."""
        fault = self._take(method, path)
        if fault is None:
            return
        if fault.delay_seconds:
            time.sleep(fault.delay_seconds)
        if fault.status:
            raise ApiError(fault.status, "simulated_failure", "simulated failure (sandbox fault)")

    def webhook_delays(self) -> list[float]:
        """How long each copy of a notification waits before its first attempt: ``[0.0]`` (one
        copy, at once) outside a webhook fault window."""
        with self._lock:
            fault = self._webhooks
            if fault is not None and time.monotonic() >= fault.until:
                self._webhooks = fault = None
            if fault is None:
                return [0.0]
            return [self._random.uniform(0, fault.delay_seconds) for _ in range(fault.copies)]
