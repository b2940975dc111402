"""Fixtures: the sandbox and a webhook receiver, both served over real HTTP in threads."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from mercadopago.config.config import Config
from mercadopago.http import HttpClient
from werkzeug.serving import make_server

from mercadopago_sandbox import create_app
from mercadopago_sandbox.service import Sandbox
from mercadopago_sandbox.web import EXTENSION_KEY

TEST_SECRET = "test-webhook-secret"
TOKEN = "TEST-0000000000000000-000000-sandbox"


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout:.1f}s")


# --- the webhook receiver --------------------------------------------------------------


@dataclass
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    base_url: str = ""
    requests: list[Received] = field(default_factory=list)
    scripted: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"{self.base_url}/webhooks/mercadopago/"

    def answer_with(self, *codes: int) -> None:
        with self.lock:
            self.scripted = list(codes)

    def next_status(self) -> int:
        with self.lock:
            return self.scripted.pop(0) if self.scripted else 200

    def record(self, received: Received) -> None:
        with self.lock:
            self.requests.append(received)

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.requests)

    def wait_for_count(self, count: int, timeout: float = 5.0) -> list[Received]:
        return wait_for(lambda: len(self.received()) >= count and self.received(), timeout)


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            parts = urlsplit(self.path)
            status = receiver.next_status()
            receiver.record(
                Received(
                    path=parts.path,
                    query={k: v[0] for k, v in parse_qs(parts.query).items()},
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=json.loads(raw or b"{}"),
                )
            )
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
    state.base_url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


# --- the sandbox -----------------------------------------------------------------------


@dataclass
class RunningSandbox:
    base_url: str
    sandbox: Sandbox
    session: requests.Session

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.url(path), **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.delete(self.url(path), **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.post(self.url(path), **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.put(self.url(path), **kwargs)

    def create_pix(self, notification_url: str | None = None, **overrides: Any) -> dict[str, Any]:
        body = {
            "transaction_amount": 150.75,
            "description": "Budget OS-1",
            "payment_method_id": "pix",
            "payer": {"email": "cliente@example.com", "first_name": "Ana"},
            "external_reference": "budget-1:v1",
            "metadata": {"service_order_id": "so-1"},
            **overrides,
        }
        if notification_url:
            body["notification_url"] = notification_url
        response = self.post("/v1/payments", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def attempts(self, payment_id: int | None = None) -> list[dict[str, Any]]:
        params = {"payment_id": str(payment_id)} if payment_id is not None else {}
        return self.get("/sandbox/notifications", params=params).json()["results"]


SandboxFactory = Callable[..., RunningSandbox]


@pytest.fixture
def start_sandbox() -> Iterator[SandboxFactory]:
    servers: list[tuple[Any, RunningSandbox]] = []

    def start(**overrides: Any) -> RunningSandbox:
        config = {
            "webhook_secret": TEST_SECRET,
            "retry_base_seconds": 0.05,
            "max_attempts": 4,
            "delivery_timeout_seconds": 2.0,
            **overrides,
        }
        app = create_app(config)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        running = RunningSandbox(f"http://127.0.0.1:{server.server_port}", app.extensions[EXTENSION_KEY], session)
        servers.append((server, running))
        return running

    yield start
    for server, running in servers:
        running.sandbox.notifier.stop()
        running.sandbox.notifier.wait_idle(5)
        server.shutdown()
        server.server_close()
        running.session.close()


@pytest.fixture
def mp(start_sandbox: SandboxFactory) -> RunningSandbox:
    return start_sandbox()


# --- the official SDK pointed at the sandbox ----------------------------------------------


class BaseUrlHttpClient(HttpClient):
    """The SDK's own HTTP client, sending to another base URL (the way Billing does it)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def request(
        self,
        method,
        url,
        maxretries=None,
        retry_on=None,
        backoff_factor=None,  # noqa: ANN001
        **kwargs,
    ):  # noqa: ANN003
        default = Config().api_base_url
        if url.startswith(default):
            url = self.base_url + url[len(default) :]
        return super().request(method, url, maxretries, retry_on, backoff_factor, **kwargs)
