"""Helpers for integration tests: the sandbox's control API, what reached the broker, waiting."""
from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
import requests

from oficina_common.messages import Envelope

T = TypeVar("T")

WEBHOOK_SECRET = "test-webhook-secret"
NOBODY = "http://127.0.0.1:9"  # nothing listens there: links and notifications go nowhere


def wait_until(condition: Callable[[], T], *, timeout: float = 15.0, interval: float = 0.05,
               message: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(interval)


class SandboxClient:
    """The Mercado Pago sandbox's control endpoints (not Mercado Pago's API)."""

    def __init__(self, url: str):
        self.url = url

    def _post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = requests.post(f"{self.url}{path}", json=body or {}, timeout=10)
        response.raise_for_status()
        return response.json()

    def approve(self, mp_id: str) -> dict[str, Any]:
        return self._post(f"/sandbox/payments/{mp_id}/approve")

    def reject(self, mp_id: str) -> dict[str, Any]:
        return self._post(f"/sandbox/payments/{mp_id}/reject")

    def set_status(self, mp_id: str, status: str) -> dict[str, Any]:
        return self._post(f"/sandbox/payments/{mp_id}/status", {"status": status})

    def resend(self, mp_id: str) -> dict[str, Any]:
        return self._post(f"/sandbox/notifications/{mp_id}/resend")

    def payments(self, external_reference: str) -> list[dict[str, Any]]:
        return [p for p in requests.get(f"{self.url}/sandbox/payments", timeout=10).json()["results"]
                if p.get("external_reference") == external_reference]

    def payment(self, mp_id: str) -> dict[str, Any]:
        response = requests.get(f"{self.url}/v1/payments/{mp_id}", headers={"Authorization": "Bearer t"}, timeout=10)
        response.raise_for_status()
        return response.json()

    def notifications(self, mp_id: str) -> list[dict[str, Any]]:
        response = requests.get(f"{self.url}/sandbox/notifications", params={"payment_id": mp_id}, timeout=10)
        return response.json()["results"]


class BrokerSpy:
    """Reads what Billing published onto the ``execution`` queue of the test Redis database."""

    def __init__(self, client: redis.Redis):
        self.client = client

    def reset(self) -> None:
        self.client.flushdb()  # the suite's own database (redis db 11), never another service's

    def envelopes(self, queue: str = "execution") -> list[Envelope]:
        found = []
        for raw in reversed(self.client.lrange(queue, 0, -1)):  # LPUSH: the oldest is last
            message = json.loads(raw)
            body = message["body"]
            if message.get("properties", {}).get("body_encoding") == "base64":
                body = base64.b64decode(body)
            args = json.loads(body)[0]
            found.append(Envelope.from_dict(args[0]))
        return found

    def of_type(self, message_type: str, queue: str = "execution") -> list[Envelope]:
        return [e for e in self.envelopes(queue) if e.type == message_type]

    def wait_idle(self, queue: str = "billing", timeout: float = 15.0) -> None:
        """Until nothing waits on the queue and no task is in flight (acks_late keeps it in ``unacked``)."""
        quiet = {"count": 0}

        def idle() -> bool:
            if self.client.llen(queue) == 0 and self.client.hlen("unacked") == 0:
                quiet["count"] += 1
            else:
                quiet["count"] = 0
            return quiet["count"] >= 3

        wait_until(idle, timeout=timeout, interval=0.1, message=f"queue {queue} to be idle")

    def wait_for(self, message_type: str, count: int = 1, timeout: float = 15.0) -> list[Envelope]:
        return wait_until(lambda: len(self.of_type(message_type)) >= count and self.of_type(message_type),
                          timeout=timeout, message=f"{count} {message_type}")


@dataclass
class LiveBilling:
    url: str
    sandbox: SandboxClient
    broker: BrokerSpy

    def api(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.request(method, f"{self.url}/api/v1/{path}", headers=headers, timeout=15, **kwargs)

    def run_task(self, name: str, *args: Any) -> None:
        from config.celery import app

        app.send_task(name, args=list(args), queue="billing")

    def send(self, envelope: Envelope) -> None:
        """Deliver a command the way the orchestrator does: onto the billing queue."""
        from config.celery import app
        from oficina_common.messaging import CeleryPublisher

        CeleryPublisher(app).publish(envelope)
