"""Test helpers: real DynamoDB endpoints over HTTP (moto's server, dynalite) on free ports; a cache per test."""
from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DYNALITE_BIN = REPO_ROOT / "node_modules" / ".bin" / "dynalite"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing answered on {host}:{port} within {timeout}s")


def stop(process: subprocess.Popen, timeout: float = 30.0) -> str:
    """Stop a process a test started (SIGTERM, then SIGKILL past ``timeout``) and return what it
    wrote to stderr, for the assertion's message."""
    process.terminate()
    try:
        _out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        _out, err = process.communicate()
    return err or ""


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's DynamoDB over real HTTP, in this process, on a free port, one request at a time.

    moto's backend evaluates a ConditionExpression and then writes without a lock, so on its
    threaded server two racing conditional writes to one item can both succeed; DynamoDB and
    dynalite never allow that. Serializing the requests gives moto DynamoDB's per-item atomicity.
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def one_at_a_time(environ: dict, start_response: object) -> object:
        with lock:
            return app(environ, start_response)

    server = make_server("127.0.0.1", 0, one_at_a_time, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    thread.start()
    try:
        wait_for_port(server.server_port)
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def dynalite_available() -> bool:
    return DYNALITE_BIN.exists() and shutil.which("node") is not None


@contextmanager
def dynalite_server() -> Iterator[str]:
    """dynalite (npm) in a subprocess with its data in a temporary folder."""
    if not dynalite_available():
        raise RuntimeError("dynalite is not installed: run ./manage_all.sh install")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="dynalite-") as data:
        # Tables become ACTIVE at once (dynalite waits half a second per table by default).
        process = subprocess.Popen([str(DYNALITE_BIN), "--port", str(port), "--path", data, "--createTableMs", "0",
                                    "--deleteTableMs", "0", "--updateTableMs", "0"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=10)


def scraped_request_counts(body: str, service: str) -> dict[tuple[str, str, str], float]:
    """A /metrics scrape's request counts of one service, by (route, method, status)."""
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.labels["route"], s.labels["method"], s.labels["status"]): s.value
            for family in text_string_to_metric_families(body) for s in family.samples
            if s.name == "oficina_http_request_duration_seconds_count" and s.labels["service"] == service}


def isolated_caches(caches: dict) -> dict:
    """``CACHES`` for one test: the same Redis under a key prefix of the test's own, so throttle
    counters never carry over from another test or another run. Nothing is flushed: the Redis
    database may be shared with a running system or another suite."""
    return {alias: {**config, "KEY_PREFIX": f"test-{uuid.uuid4().hex}"} for alias, config in caches.items()}


_production_keys: dict[str, str] = {}


def production_jwt_environment(*, signs_tokens: bool) -> dict[str, str]:
    """``JWT_PUBLIC_KEY`` (and, for the OS, ``JWT_PRIVATE_KEY``) of a fresh RSA pair that production
    settings accept, for tests that start a service with ``config.settings_production``. One pair
    per test process: generating one takes a moment."""
    if not _production_keys:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _production_keys["JWT_PRIVATE_KEY"] = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
        _production_keys["JWT_PUBLIC_KEY"] = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return dict(_production_keys) if signs_tokens else {"JWT_PUBLIC_KEY": _production_keys["JWT_PUBLIC_KEY"]}
