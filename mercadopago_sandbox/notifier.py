"""Webhook delivery: signed POSTs in background threads, retried with backoff."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from .signing import signature_header

AttemptRecorder = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 0.2
    max_attempts: int = 5
    timeout_seconds: float = 5.0

    def delay_after(self, attempt: int) -> float:
        return self.base_seconds * (2 ** (attempt - 1))


@dataclass(frozen=True)
class Delivery:
    url: str
    payload: dict[str, Any]

    @property
    def data_id(self) -> str:
        return str(self.payload["data"]["id"])

    @property
    def target(self) -> str:
        return notification_target(self.url, self.data_id, str(self.payload["type"]))


def notification_target(url: str, data_id: str, topic: str) -> str:
    """The URL with ``data.id`` and ``type`` added to its query string, as Mercado Pago does."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("data.id", "type")]
    query += [("data.id", data_id), ("type", topic)]
    return urlunsplit(parts._replace(query=urlencode(query)))


class Notifier:
    def __init__(self, secret: str, policy: RetryPolicy, record: AttemptRecorder) -> None:
        self._secret = secret
        self._policy = policy
        self._record = record
        self._stop = threading.Event()
        self._generation = 0
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def deliver(self, delivery: Delivery, *, delay: float = 0.0) -> threading.Thread:
        """Deliver in the background, after ``delay`` seconds (a late webhook)."""
        with self._lock:
            generation = self._generation
            self._threads = [t for t in self._threads if t.is_alive()]
            thread = threading.Thread(
                target=self._run,
                args=(delivery, generation, delay),
                name=f"mp-sandbox-webhook-{delivery.data_id}",
                daemon=True,
            )
            self._threads.append(thread)
        thread.start()
        return thread

    def cancel_pending(self) -> None:
        """Pending retries of earlier deliveries give up (used by reset)."""
        with self._lock:
            self._generation += 1

    def wait_idle(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in threads)

    def stop(self) -> None:
        self._stop.set()

    def _current(self, generation: int) -> bool:
        return not self._stop.is_set() and generation == self._generation

    def _run(self, delivery: Delivery, generation: int, delay: float = 0.0) -> None:
        if delay:
            self._stop.wait(delay)
        request_id = str(uuid.uuid4())
        for attempt in range(1, self._policy.max_attempts + 1):
            if not self._current(generation):
                return
            if self._attempt(delivery, request_id, attempt):
                return
            if attempt < self._policy.max_attempts:
                self._stop.wait(self._policy.delay_after(attempt))

    def _attempt(self, delivery: Delivery, request_id: str, attempt: int) -> bool:
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "MercadoPago WebHook v1.0 payment",
            "x-request-id": request_id,
            "x-signature": signature_header(self._secret, delivery.data_id, request_id, ts),
        }
        status_code: int | None = None
        error: str | None = None
        try:
            response = requests.post(
                delivery.target,
                json=delivery.payload,
                headers=headers,
                timeout=self._policy.timeout_seconds,
            )
            status_code = response.status_code
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        ok = status_code is not None and 200 <= status_code < 300
        self._record(
            {
                "notification_id": delivery.payload["id"],
                "payment_id": delivery.data_id,
                "action": delivery.payload["action"],
                "url": delivery.target,
                "attempt": attempt,
                "status_code": status_code,
                "ok": ok,
                "error": error,
                "headers": {"x-request-id": request_id, "x-signature": headers["x-signature"]},
                "payload": delivery.payload,
                "attempted_at": datetime.now(UTC).isoformat(),
            }
        )
        return ok
