"""`./manage_all.sh up` as a person runs it, on its own ports, data folder, database and broker:
it comes up, and Ctrl-C or a closed terminal stops every process it started, also when its output
went through a pipe that the same Ctrl-C killed (`./manage_all.sh up | tee up.log`); pointed at
another Mercado Pago than the sandbox, it does not wait for it and keeps serving."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from system import ROOT, _psql, free_port

UP_TIMEOUT = 240  # a first `up` migrates, creates the tables and waits for every service
# The old `up` waited for a Mercado Pago without /healthz and gave up after a minute, before it said
# it was up: that is caught as soon as `up` answers. After that the system must keep serving while its
# periodic work runs against the Mercado Pago that does not answer: Billing's beat is set to run every
# 5 s, so the watch sees each of its tasks run several times (it watched 120 s, past the default 60 s
# intervals, which was a third of the cross-service suite's time).
STILL_SERVING_SECONDS = 30
FAST_BEAT = {"BEAT_RECONCILE_SECONDS": "5", "BEAT_EXPIRE_BUDGETS_SECONDS": "5", "BEAT_OUTBOX_SWEEP_SECONDS": "5"}


def _alive(pid: int) -> bool:
    """Running (Linux /proc); a zombie, killed but not yet reaped by its parent, is gone."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.fixture
def up_env(tmp_path):
    ports = {name: free_port() for name in ("OS_PORT", "BILLING_PORT", "EXECUTION_PORT", "SANDBOX_PORT",
                                            "DYNAMODB_PORT")}
    database = f"oficina_os_up_{uuid.uuid4().hex[:8]}"
    env = {**os.environ, **{k: str(v) for k, v in ports.items()},
           "OFICINA_DATA_DIR": str(tmp_path / "data"),
           "POSTGRES_HOST": os.environ.get("POSTGRES_HOST", "127.0.0.1"),
           "POSTGRES_PORT": os.environ.get("POSTGRES_PORT", "5432"),
           "POSTGRES_USER": os.environ.get("POSTGRES_USER", "postgres"),
           "REDIS_URL": "redis://127.0.0.1:6379/15", "CELERY_BROKER_URL": "redis://127.0.0.1:6379/15"}
    env["DATABASE_URL"] = f"postgres://{env['POSTGRES_USER']}@{env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}/{database}"
    for name in ("DYNAMODB_ENDPOINT_URL", "OS_SERVICE_URL", "BILLING_SERVICE_URL", "EXECUTION_SERVICE_URL",
                 "MERCADOPAGO_BASE_URL", "PUBLIC_BASE_URL", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)  # derived from the ports above by the script
    yield env, ports
    for pid_file in (tmp_path / "data" / "logs").glob("*.pid"):
        try:
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    _psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)', env)


def _start_up(env: dict[str, str]) -> tuple[subprocess.Popen, list[str]]:
    """`./manage_all.sh up` in its own session, read until it says it is up (or UP_TIMEOUT)."""
    up = subprocess.Popen(["./manage_all.sh", "up"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []

    def read_until_up() -> None:
        for line in up.stdout:
            lines.append(line)
            if "Oficina is up" in line:
                return

    reader = threading.Thread(target=read_until_up, daemon=True)
    reader.start()
    reader.join(UP_TIMEOUT)
    return up, lines


def _started(tmp_path: Path) -> dict[str, int]:
    return {p.stem: int(p.read_text()) for p in (tmp_path / "data" / "logs").glob("*.pid")}


def _stop_and_check_everything_stopped(up: subprocess.Popen, started: dict[str, int], stop_signal: int) -> None:
    # Only the script is signalled: whatever the children do with a terminal's signal, the
    # script alone must stop every one of them.
    os.kill(up.pid, stop_signal)
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in started.values()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert [name for name, pid in started.items() if _alive(pid)] == []


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGHUP], ids=["ctrl-c", "terminal-closed"])
def test_up_stops_everything_it_started_even_when_its_output_is_gone(up_env, tmp_path, stop_signal):
    env, ports = up_env
    # Our end of the pipe plays `tee`, killed by the same Ctrl-C (or the closed terminal): the
    # script's next line of output, its "stopping everything", meets a pipe with no reader.
    up, lines = _start_up(env)
    try:
        assert any("Oficina is up" in line for line in lines), "up did not come up:\n" + "".join(lines)
        assert requests.get(f"http://127.0.0.1:{ports['EXECUTION_PORT']}/healthz", timeout=5).ok
        assert requests.get(f"http://127.0.0.1:{ports['SANDBOX_PORT']}/healthz", timeout=5).ok
        started = _started(tmp_path)
        assert {"os-worker", "billing-worker", "execution-worker", "os-web", "dynalite", "sandbox"} <= set(started)

        up.stdout.close()
        _stop_and_check_everything_stopped(up, started, stop_signal)
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
        up.wait(10)


def test_up_against_another_mercado_pago_does_not_wait_for_it_and_keeps_serving(up_env, tmp_path):
    env, ports = up_env
    # Nothing listens there, as nothing answers /healthz at the real https://api.mercadopago.com.
    elsewhere = f"http://127.0.0.1:{free_port()}"
    env = {**env, "MERCADOPAGO_BASE_URL": elsewhere, **FAST_BEAT}
    env.pop("MERCADOPAGO_ACCESS_TOKEN", None)  # the sandbox's, which up warns about
    up, lines = _start_up(env)
    try:
        output = "".join(lines)
        assert "Oficina is up" in output, "up did not come up:\n" + output
        assert f"Billing uses the Mercado Pago at {elsewhere}: the sandbox is not started" in output
        assert "MERCADOPAGO_ACCESS_TOKEN is still the sandbox's" in output
        started = _started(tmp_path)
        assert "sandbox" not in started and {"billing-web", "billing-worker", "os-web"} <= set(started)
        billing_environment = Path(f"/proc/{started['billing-web']}/environ").read_bytes().split(b"\0")
        assert f"MERCADOPAGO_BASE_URL={elsewhere}".encode() in billing_environment

        # Keep reading (a full pipe would stall the script) while checking it goes on serving.
        threading.Thread(target=lambda: [lines.append(line) for line in up.stdout], daemon=True).start()
        came_up = time.monotonic()
        while time.monotonic() - came_up < STILL_SERVING_SECONDS:
            assert up.poll() is None, "up stopped:\n" + "".join(lines)
            for name in ("OS_PORT", "BILLING_PORT", "EXECUTION_PORT"):
                assert requests.get(f"http://127.0.0.1:{ports[name]}/healthz", timeout=5).ok, name
            time.sleep(5)
        assert up.poll() is None and not any("did not answer" in line for line in lines), "".join(lines)
        worker_log = (tmp_path / "data" / "logs" / "billing-worker.log").read_text()
        ran = len([line for line in worker_log.splitlines()  # one "received" and one "succeeded" line a run
                   if "billing.reconcile_pending_payments[" in line and "succeeded" in line])
        assert ran >= 4, f"Billing's reconciliation ran {ran} times in {STILL_SERVING_SECONDS} s:\n{worker_log[-3000:]}"
        assert [name for name, pid in started.items() if not _alive(pid)] == []

        _stop_and_check_everything_stopped(up, started, signal.SIGINT)
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
        up.wait(10)
