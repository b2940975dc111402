"""Simulated trouble at Mercado Pago: slow answers or server errors on the API, for the next N calls.

Set with ``POST /sandbox/faults {"delay_seconds": 3, "status": 500, "times": 1, "path_prefix": "/v1/payments"}``;
cleared with ``DELETE /sandbox/faults``. Tests use it to catch a worker in the middle of a call.
"""

from __future__ import annotations

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

    def to_dict(self) -> dict[str, Any]:
        return {"delay_seconds": self.delay_seconds, "status": self.status, "times": self.times,
                "path_prefix": self.path_prefix, "method": self.method}


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fault: Fault | None = None

    def set(self, fault: Fault | None) -> None:
        with self._lock:
            self._fault = fault

    def current(self) -> Fault | None:
        with self._lock:
            return self._fault

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            fault = self._fault
            if fault is None or not path.startswith(fault.path_prefix) or (fault.method and fault.method != method):
                return None
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
