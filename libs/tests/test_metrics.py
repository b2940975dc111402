"""Prometheus metrics: what a scrape shows after requests, Celery tasks and worker processes."""
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from celery.exceptions import Reject
from django.conf import settings
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from oficina_common.celery_config import celery_settings
from oficina_common.metrics import install_celery_metrics, metrics_text, serve_metrics, serve_worker_metrics
from oficina_common.testing import free_port, stop

QUEUE = "metrics-test"


def requests_seen(**labels: str) -> float:
    return REGISTRY.get_sample_value("oficina_http_request_duration_seconds_count", {"service": "libs", **labels}) or 0


def tasks_seen(task: str, outcome: str) -> float:
    labels = {"service": "billing", "task": task, "outcome": outcome}
    return REGISTRY.get_sample_value("oficina_celery_tasks_total", labels) or 0


def samples(text: str) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture
def client() -> APIClient:
    return APIClient(raise_request_exception=False)


def test_requests_are_timed_by_url_pattern_and_status_never_by_raw_path(client):
    before = {
        "conflict": requests_seen(method="POST", route="/raise/<str:kind>/", status="409"),
        "ok": requests_seen(method="POST", route="/raise/<str:kind>/", status="200"),
        "denied": requests_seen(method="GET", route="/whoami/", status="401"),
        "unmatched": requests_seen(method="GET", route="unmatched", status="404"),
        "odd_method": requests_seen(method="other", route="/whoami/", status="401"),
    }
    client.post("/raise/conflict/")
    client.post("/raise/anything-at-all/")
    client.post("/raise/something-else/")
    client.get("/whoami/")
    client.get("/orders/123/no-such-page/")
    client.generic("BREW", "/whoami/")

    assert requests_seen(method="POST", route="/raise/<str:kind>/", status="409") == before["conflict"] + 1
    assert requests_seen(method="POST", route="/raise/<str:kind>/", status="200") == before["ok"] + 2
    assert requests_seen(method="GET", route="/whoami/", status="401") == before["denied"] + 1
    assert requests_seen(method="GET", route="unmatched", status="404") == before["unmatched"] + 1
    assert requests_seen(method="other", route="/whoami/", status="401") == before["odd_method"] + 1
    assert REGISTRY.get_sample_value("oficina_http_request_duration_seconds_count",
                                     {"service": "libs", "method": "GET", "route": "/orders/123/no-such-page/",
                                      "status": "404"}) is None


def test_the_metrics_are_served_on_their_own_port_never_on_the_services(client):
    client.post("/raise/conflict/")
    assert client.get("/metrics").status_code == 404  # the port the ingress routes to has none
    port = free_port()
    server = serve_metrics(port, addr="127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            found = samples(response.read().decode())
    finally:
        server.shutdown()
        server.server_close()
    key = ("oficina_http_request_duration_seconds_count",
           (("method", "POST"), ("route", "/raise/<str:kind>/"), ("service", "libs"), ("status", "409")))
    assert found[key] >= 1
    assert samples(metrics_text())[key] == found[key]


def request_cpu(route: str) -> float:
    labels = {"service": "libs", "method": "POST", "route": route}
    return REGISTRY.get_sample_value("oficina_http_request_cpu_seconds_total", labels) or 0


def test_a_requests_cpu_is_its_own_threads_not_what_it_waited_for_nor_what_others_used(client):
    """The CPU counted for a route is the answering thread's: not its wall time (a request that
    waits counts next to nothing), and not another thread's busy CPU meanwhile."""
    route = "/raise/<str:kind>/"
    spinning = threading.Event()

    def spin() -> None:
        while not spinning.is_set():
            sum(range(1000))

    other = threading.Thread(target=spin)
    before = request_cpu(route)
    other.start()
    try:
        assert client.post("/raise/wait/").status_code == 200  # 0.3 s of waiting
    finally:
        spinning.set()
        other.join()
    waited = request_cpu(route) - before
    assert 0 < waited < 0.1

    before = request_cpu(route)
    for _ in range(20):
        client.post("/raise/anything/", {"n": list(range(200))}, format="json")
    assert request_cpu(route) > before


GUNICORN_APP = """
def app(environ, start_response):
    from oficina_common.metrics import REQUEST_DURATION

    REQUEST_DURATION.labels("gunicorn-test", "GET", "/ping/", "200").observe(0.01)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"pong"]
"""


def test_gunicorn_serves_what_all_its_workers_counted_on_the_metrics_port(tmp_path):
    """docker/gunicorn.conf.py: the master serves METRICS_PORT, adding up its worker processes'."""
    from oficina_common.testing import REPO_ROOT, wait_for_port

    (tmp_path / "ping_app.py").write_text(GUNICORN_APP)
    port, metrics_port = free_port(), free_port()
    # A worker gets 5 s to finish on SIGTERM, not the images' 25 s: a fresh-clone CI run on a loaded
    # machine once waited past the 20 s below for the stop (the test is about the metrics, not the stop).
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "METRICS_PORT": str(metrics_port), "GUNICORN_WORKERS": "2",
           "GUNICORN_GRACEFUL_TIMEOUT": "5"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the config makes a folder of its own
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "ping_app:app", "--config", str(REPO_ROOT / "docker" / "gunicorn.conf.py"),
         "--bind", f"127.0.0.1:{port}"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port)
        wait_for_port(metrics_port)
        for _ in range(6):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ping/", timeout=5).read()
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
            found = samples(response.read().decode())
    finally:
        server.terminate()
        server.wait(timeout=20)
    key = ("oficina_http_request_duration_seconds_count",
           (("method", "GET"), ("route", "/ping/"), ("service", "gunicorn-test"), ("status", "200")))
    assert found[key] == 6


@pytest.fixture
def worker_app():
    app = Celery("billing")
    app.config_from_object(celery_settings(QUEUE, settings.CELERY_BROKER_URL))
    install_celery_metrics(app, "billing")
    install_celery_metrics(app, "billing")  # twice: still counted once
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(QUEUE)
    return app


def test_celery_tasks_are_counted_by_outcome_and_timed(worker_app):
    app = worker_app

    @app.task(name="billing.test_ok")
    def ok():
        return "done"

    @app.task(name="billing.test_boom")
    def boom():
        raise ValueError("no")

    @app.task(name="billing.test_flaky", bind=True, max_retries=1)
    def flaky(self):
        if self.request.retries == 0:
            raise self.retry(countdown=0)

    @app.task(name="billing.test_refused", acks_late=True)
    def refused():
        raise Reject("not for us", requeue=False)

    names = ["billing.test_ok", "billing.test_boom", "billing.test_flaky", "billing.test_refused"]
    before = {(name, outcome): tasks_seen(name, outcome)
              for name in names for outcome in ("succeeded", "failed", "retried", "rejected")}
    timed_before = REGISTRY.get_sample_value("oficina_celery_task_duration_seconds_count",
                                             {"service": "billing", "task": "billing.test_ok"}) or 0
    expected = {("billing.test_ok", "succeeded"): 1, ("billing.test_boom", "failed"): 1,
                ("billing.test_flaky", "retried"): 1, ("billing.test_flaky", "succeeded"): 1,
                ("billing.test_refused", "rejected"): 1}

    def counted() -> dict[tuple[str, str], float]:
        return {key: tasks_seen(*key) - value for key, value in before.items() if tasks_seen(*key) != value}

    with start_worker(app, pool="solo", perform_ping_check=False, queues=[QUEUE], shutdown_timeout=10):
        for task in (ok, boom, flaky, refused):
            task.delay()
        for _ in range(200):
            if counted() == expected:
                break
            threading.Event().wait(0.05)
    assert counted() == expected
    assert REGISTRY.get_sample_value("oficina_celery_task_duration_seconds_count",
                                     {"service": "billing", "task": "billing.test_ok"}) == timed_before + 1


def task_cpu(task: str, message: str) -> float | None:
    labels = {"service": "billing", "task": task, "message": message}
    return REGISTRY.get_sample_value("oficina_celery_task_cpu_seconds_total", labels)


def test_a_tasks_cpu_is_counted_by_the_type_of_message_it_handled_and_only_the_catalogues(worker_app):
    app = worker_app

    @app.task(name="billing.test_handle")
    def handle(data, spin=0):
        end = time.thread_time() + spin
        while time.thread_time() < end:
            pass

    def envelope(kind: str) -> dict:
        return {"message_id": str(uuid.uuid4()), "type": kind, "payload": {}}

    def seen() -> tuple:
        return (task_cpu("billing.test_handle", "billing.CreateBudget") or 0,
                task_cpu("billing.test_handle", "") or 0)

    before, ran = seen(), tasks_seen("billing.test_handle", "succeeded")
    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, queues=[QUEUE],
                      shutdown_timeout=10):
        handle.delay(envelope("billing.CreateBudget"), spin=0.05)
        handle.delay(envelope("no.SuchType"))  # not in the catalogue: no label of its own
        handle.delay({"not": "an envelope"})
        for _ in range(200):
            if tasks_seen("billing.test_handle", "succeeded") == ran + 3:
                break
            threading.Event().wait(0.05)
    created, other = (after - prior for after, prior in zip(seen(), before, strict=True))
    assert 0.05 <= created < 0.5
    assert 0 < other < 0.05
    assert task_cpu("billing.test_handle", "no.SuchType") is None


def test_tasks_of_another_app_are_not_counted_as_this_services(worker_app):
    other = Celery("os")
    other.config_from_object(celery_settings("os", settings.CELERY_BROKER_URL, eager=True))

    @other.task(name="os.test_elsewhere")
    def elsewhere():
        return 1

    elsewhere.delay()
    assert tasks_seen("os.test_elsewhere", "succeeded") == 0


def test_a_worker_serves_its_metrics_on_its_own_port_only_when_given_one():
    assert serve_worker_metrics("") is None and serve_worker_metrics(0) is None
    port = free_port()
    server = serve_worker_metrics(str(port))
    assert server is not None
    try:
        assert serve_worker_metrics(port) is None  # the port is taken: the worker runs on without
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            body = response.read().decode()
        assert "oficina_celery_tasks_total" in body
    finally:
        server.shutdown()
        server.server_close()


WORKER_APP = """
import os

from celery import Celery

from oficina_common.celery_config import celery_settings
from oficina_common.metrics import install_celery_metrics

app = Celery("billing")
app.config_from_object(celery_settings("metrics-prefork-test", os.environ["TEST_BROKER_URL"]))
install_celery_metrics(app, "billing", port=os.environ["TEST_METRICS_PORT"])


@app.task(name="billing.test_in_pool")
def in_pool():
    return os.getpid()
"""


def test_a_prefork_worker_serves_what_all_its_pool_processes_counted(tmp_path):
    """As in production: tasks run in the pool's child processes, the parent serves the metrics
    (multiprocess mode), started when the worker is ready."""
    (tmp_path / "metrics_worker_app.py").write_text(WORKER_APP)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "TEST_BROKER_URL": settings.CELERY_BROKER_URL,
           "TEST_METRICS_PORT": str(port), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus")}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # a bare Celery app: no Django project to set up
    publisher = Celery("billing")
    publisher.config_from_object(celery_settings("metrics-prefork-test", settings.CELERY_BROKER_URL))
    with publisher.connection_for_write() as conn:
        conn.default_channel.queue_purge("metrics-prefork-test")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "metrics_worker_app", "worker", "-Q", "metrics-prefork-test",
         "--pool", "prefork", "--concurrency", "2", "--loglevel", "INFO"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    key = ("oficina_celery_tasks_total",
           (("outcome", "succeeded"), ("service", "billing"), ("task", "billing.test_in_pool")))
    seen = None
    try:
        for _ in range(4):
            publisher.send_task("billing.test_in_pool")
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                    seen = samples(response.read().decode()).get(key)
            except OSError:
                seen = None  # not ready yet
            if seen == 4:
                break
            threading.Event().wait(0.1)
    finally:
        err = stop(worker)
    assert seen == 4, err[-3000:]


SLOTS = """
import multiprocessing
import os
import sys

from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from oficina_common import metrics


def run_a_task(barrier=None):
    metrics.TASKS.labels("billing", "billing.handle_message", "succeeded").inc()
    if barrier is not None:
        barrier.wait(10)  # both alive at once


if __name__ == "__main__":
    fork = multiprocessing.get_context("fork")
    for _ in range(2):  # one after the other, as gunicorn recycles a worker
        child = fork.Process(target=run_a_task)
        child.start()
        child.join()
    barrier = fork.Barrier(2)
    together = [fork.Process(target=run_a_task, args=(barrier,)) for _ in range(2)]
    for child in together:
        child.start()
    for child in together:
        child.join()
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    print(registry.get_sample_value("oficina_celery_tasks_total",
                                    {"service": "billing", "task": "billing.handle_message", "outcome": "succeeded"}))
    print(" ".join(sorted(name for name in os.listdir(sys.argv[1]) if name.endswith(".db"))))
"""


def test_a_process_that_replaces_a_dead_one_takes_over_its_files_and_counts(tmp_path):
    """Files per live process, not per process ever started: a long-lived pod whose gunicorn recycles
    its workers does not pile up files that every scrape must read."""
    directory = tmp_path / "prometheus"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    result = subprocess.run([sys.executable, "-c", SLOTS, str(directory)], env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    total, files = result.stdout.splitlines()
    assert float(total) == 4
    assert files.split() == ["counter_slot1.db", "counter_slot2.db"]  # slot0: the parent, which counted nothing
