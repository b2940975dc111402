"""The whole Oficina system started on free local ports, for cross-service tests and benchmarks.

Real PostgreSQL (a fresh database), real Redis (its own database number), dynalite as the
DynamoDB endpoint (data in a temporary folder), the Mercado Pago sandbox, the three web services,
their Celery workers and beats — each a separate process, driven only over HTTP.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
SERVICES = ("os", "billing", "execution")
PROJECT_DIRS = {"os": ROOT / "os_project", "billing": ROOT / "billing_project",
                "execution": ROOT / "execution_project"}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0, process: subprocess.Popen | None = None,
              log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text()[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"process for {url} exited with {process.returncode}:\n{tail}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


@dataclass
class Process:
    name: str
    args: list[str]
    cwd: Path
    log: Path
    popen: subprocess.Popen | None = None

    def start(self, env: dict[str, str]) -> None:
        handle = self.log.open("ab")
        self.popen = subprocess.Popen(self.args, cwd=self.cwd, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                      start_new_session=True)

    def kill(self, sig: int = signal.SIGTERM) -> None:
        if self.popen and self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)


@dataclass
class System:
    workdir: Path
    env: dict[str, str]
    ports: dict[str, int]
    processes: dict[str, Process] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def urls(self):  # noqa: ANN201 - the client's Urls
        from oficina_client import Urls

        return Urls(os=self.url("os"), billing=self.url("billing"), execution=self.url("execution"),
                    sandbox=self.url("sandbox"))

    def manage(self, service: str, *args: str) -> str:
        result = subprocess.run([str(VENV_BIN / "python"), "manage.py", *args], cwd=PROJECT_DIRS[service],
                                env=self.env, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"{service} manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    @property
    def mail_dir(self) -> Path:
        """Billing's and the OS's e-mails (the approval links, the payment page) as files, for the
        browser tests to read."""
        return self.workdir / "mail"

    def add(self, name: str, args: list[str], cwd: Path, extra_env: dict[str, str] | None = None) -> Process:
        process = Process(name, args, cwd, self.workdir / f"{name}.log")
        self.processes[name] = process
        env = {**self.env, **(extra_env or {})}
        if cwd in (PROJECT_DIRS["billing"], PROJECT_DIRS["os"]):
            env = {**env, "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
                   "EMAIL_FILE_PATH": str(self.mail_dir)}
        process.start(env)
        return process

    def worker(self, service: str) -> Process:
        return self.add(f"{service}-worker", [str(VENV_BIN / "celery"), "-A", "config", "worker", "-Q", service,
                                              "--hostname", f"{service}-{uuid.uuid4().hex[:6]}@%h", "--pool",
                                              "threads", "--concurrency", "4", "--loglevel", "INFO",
                                              "--without-gossip", "--without-mingle", "--without-heartbeat"],
                        PROJECT_DIRS[service], {"METRICS_PORT": str(self.ports[f"{service}-worker"])})

    def metrics_urls(self) -> dict[str, str]:
        """Every process that serves Prometheus metrics, each on its own METRICS_PORT (never the
        service's port): the web services (gunicorn's master) and their workers."""
        return {**{f"{s}-web": f"{self.url(f'{s}-metrics')}/metrics" for s in SERVICES},
                **{f"{s}-worker": f"{self.url(f'{s}-worker')}/metrics" for s in SERVICES}}

    def web(self, service: str) -> Process:
        """The web process as the images run it: gunicorn with the images' own settings file."""
        return self.add(f"{service}-web", [str(VENV_BIN / "gunicorn"), "config.wsgi:application", "--config",
                                           str(ROOT / "docker" / "gunicorn.conf.py"),
                                           "--bind", f"127.0.0.1:{self.ports[service]}"],
                        PROJECT_DIRS[service], {"THROTTLE_RATES": SYSTEM_THROTTLE_RATES.get(service, ""),
                                                "METRICS_PORT": str(self.ports[f"{service}-metrics"])})

    def restart_worker(self, service: str, sig: int = signal.SIGKILL) -> None:
        self.processes[f"{service}-worker"].kill(sig)
        self.worker(service)

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.kill()

    def logs(self, name: str, tail: int = 4000) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""


# Every client of the test system (the suites, the benchmark) comes from 127.0.0.1, many logins a
# minute: the throttles stay on, far above that; each service's own suite tests their real rates.
SYSTEM_THROTTLE_RATES = {
    "os": "staff_login=10000/min,customer_token=10000/min,token_refresh=10000/min",
    "billing": "budget_decision=10000/min,budget_review=10000/min,mercadopago_webhook=100000/min",
}


def _psql(sql: str, env: dict[str, str]) -> None:
    subprocess.run(["psql", "-h", env["POSTGRES_HOST"], "-p", env["POSTGRES_PORT"], "-U", env["POSTGRES_USER"],
                    "-d", "postgres", "-qc", sql], check=True, env=env, capture_output=True)


@contextmanager
def running_system(*, redis_db: int = 13, extra_env: dict[str, str] | None = None,
                   keep_logs: Path | None = None) -> Iterator[System]:
    workdir = Path(tempfile.mkdtemp(prefix="oficina-system-"))
    ports = {name: free_port() for name in ("os", "billing", "execution", "sandbox", "dynamodb",
                                            *(f"{service}-worker" for service in SERVICES),
                                            *(f"{service}-metrics" for service in SERVICES))}
    database = f"oficina_os_e2e_{uuid.uuid4().hex[:8]}"
    broker = f"redis://127.0.0.1:6379/{redis_db}"
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "DEBUG": "true",
        "POSTGRES_HOST": os.environ.get("POSTGRES_HOST", "127.0.0.1"),
        "POSTGRES_PORT": os.environ.get("POSTGRES_PORT", "5432"),
        "POSTGRES_USER": os.environ.get("POSTGRES_USER", "postgres"),
        "CELERY_BROKER_URL": broker,
        "CELERY_VISIBILITY_TIMEOUT": "8",
        "DYNAMODB_ENDPOINT_URL": f"http://127.0.0.1:{ports['dynamodb']}",
        "DYNAMODB_TABLE_PREFIX": "e2e_",
        "AWS_REGION": "us-east-1",
        "OS_SERVICE_URL": f"http://127.0.0.1:{ports['os']}",
        "BILLING_SERVICE_URL": f"http://127.0.0.1:{ports['billing']}",
        "EXECUTION_SERVICE_URL": f"http://127.0.0.1:{ports['execution']}",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{ports['billing']}",
        "MERCADOPAGO_BASE_URL": f"http://127.0.0.1:{ports['sandbox']}",
        "MERCADOPAGO_ACCESS_TOKEN": "TEST-sandbox-access-token",
        "MERCADOPAGO_WEBHOOK_SECRET": "e2e-webhook-secret",
        "ADMIN_USERNAME": "admin",
        "ADMIN_PASSWORD": "admin",
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
        "LOG_JSON": "false",
        # As in production (gunicorn's threads and the workers keep their PostgreSQL connections).
        "CONN_MAX_AGE": "60",
        "GUNICORN_WORKERS": "1",
        # No recycling after N requests (production's guard against slow leaks): a benchmark's
        # thousands of requests would otherwise see the worker restart mid-run.
        "GUNICORN_MAX_REQUESTS": "0",
        "GUNICORN_LOG_LEVEL": "warning",
        "GUNICORN_WORKER_TMP_DIR": str(workdir),
    }
    env["DATABASE_URL"] = f"postgres://{env['POSTGRES_USER']}@{env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}/{database}"
    env.update(extra_env or {})
    system = System(workdir=workdir, env=env, ports=ports)
    import redis

    redis.Redis.from_url(broker).flushdb()
    _psql(f'CREATE DATABASE "{database}"', env)
    try:
        dynalite = ROOT / "node_modules" / ".bin" / "dynalite"
        system.add("dynalite", [str(dynalite), "--port", str(ports["dynamodb"]), "--path", str(workdir / "dynalite")],
                   ROOT)
        sandbox = system.add("sandbox", [str(VENV_BIN / "python"), "-m", "mercadopago_sandbox", "--host", "127.0.0.1",
                                         "--port", str(ports["sandbox"])], ROOT)
        wait_http(f"{system.url('dynamodb')}/", 30)
        system.manage("os", "migrate", "--noinput")
        system.manage("os", "ensure_admin")
        system.manage("billing", "create_tables")
        system.manage("execution", "create_tables")
        webs = {}
        for service in SERVICES:
            webs[service] = system.web(service)
            system.worker(service)
            system.add(f"{service}-beat", [str(VENV_BIN / "celery"), "-A", "config", "beat", "--schedule",
                                           str(workdir / f"{service}-beat"), "--loglevel", "INFO"],
                       PROJECT_DIRS[service])
        wait_http(f"{system.url('sandbox')}/healthz", 30, sandbox.popen, sandbox.log)
        for service, web in webs.items():
            wait_http(f"{system.url(service)}/healthz", 60, web.popen, web.log)
        yield system
    finally:
        system.stop()
        if keep_logs:
            keep_logs.mkdir(parents=True, exist_ok=True)
            for log in workdir.glob("*.log"):
                (keep_logs / log.name).write_bytes(log.read_bytes())
        try:
            _psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)', env)
        except subprocess.CalledProcessError:
            pass
