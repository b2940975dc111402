"""Prometheus metrics: request latency and CPU by URL pattern, Celery task outcomes and CPU, how sagas end.

Every process serves them on a port of its own, ``METRICS_PORT``, never on the port the ingress
routes to (the public URL confs have no ``/metrics``): the web process's gunicorn master from its
``when_ready`` hook (docker/gunicorn.conf.py), a Celery worker when it is ready
(:func:`install_celery_metrics`); both through :func:`serve_metrics`. Under gunicorn's workers or
Celery's prefork pool several processes count: with ``PROMETHEUS_MULTIPROC_DIR`` set, each writes
its numbers to files there and a scrape adds up every process's files (prometheus_client's
multiprocess mode).

Every label takes a bounded set of values (URL patterns, task names, fixed words), never an id.
"""
from __future__ import annotations

import fcntl
import itertools
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector

from .messages import ROUTES, envelope_type

logger = logging.getLogger(__name__)

MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
_slot: dict[str, Any] = {"pid": None, "name": "", "lock": None}


def process_slot() -> str:
    """Names this process's metric files in multiprocess mode: the first slot no live process holds.

    Named by pid (prometheus_client's default), the files of every gunicorn worker recycled after
    GUNICORN_MAX_REQUESTS would stay behind, and every scrape would read them all, for as long as
    the pod lives. A slot's files pass, counts and all, to the next process that takes the slot;
    the lock (released by the kernel when its holder dies) keeps two live processes apart."""
    if _slot["pid"] != os.getpid():
        for number in itertools.count():
            lock = open(os.path.join(MULTIPROCESS_DIR, f"slot-{number}.lock"), "a")  # open while the process lives
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                lock.close()
                continue
            _slot.update(pid=os.getpid(), name=f"slot{number}", lock=lock)
            break
    return _slot["name"]


if MULTIPROCESS_DIR:
    # prometheus_client writes there from the first observation on; /tmp starts empty in a pod.
    os.makedirs(MULTIPROCESS_DIR, exist_ok=True)
    values.ValueClass = values.MultiProcessValue(process_identifier=process_slot)

REQUEST_DURATION = Histogram(
    "oficina_http_request_duration_seconds", "Time to answer an HTTP request, by the URL pattern it matched.",
    ["service", "method", "route", "status"],
)
# CPU time, not wall time: what a handler costs the machine, whatever it waited for (the database,
# DynamoDB, Mercado Pago). Measured on the thread that ran it (time.thread_time), so that under
# gunicorn's threads and Celery's thread pool one handler is not charged for another.
REQUEST_CPU = Counter(
    "oficina_http_request_cpu_seconds_total",
    "CPU time of the thread that answered a request, from the first middleware on, by the URL pattern it matched.",
    ["service", "method", "route"],
)
TASKS = Counter(
    "oficina_celery_tasks_total", "Celery tasks run, by outcome (succeeded, failed, retried, rejected).",
    ["service", "task", "outcome"],
)
TASK_DURATION = Histogram(
    "oficina_celery_task_duration_seconds", "Time a Celery task ran, whatever its outcome.", ["service", "task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
TASK_CPU = Counter(
    "oficina_celery_task_cpu_seconds_total",
    "CPU time of the thread that ran a task (its body: not the worker's receiving or acknowledging it), "
    "by task and by the type of the message it handled (empty for a task that takes none).",
    ["service", "task", "message"],
)
# What the consumer policy gave up on (oficina_common/consumer.py): dead letters go to the OS's
# admin; a dropped message (a business refusal: not found, not allowed now) only to the logs.
DEAD_LETTERS = Counter(
    "oficina_celery_dead_letters_total",
    "Messages given up on and sent to the dead-letter store, by reason (retries_exhausted, error, lost).",
    ["service", "task", "reason"],
)
MESSAGES_DROPPED = Counter(
    "oficina_celery_messages_dropped_total", "Messages dropped as never able to succeed, by error code.",
    ["service", "task", "code"],
)
SAGAS_FINISHED = Counter(
    "oficina_saga_finished_total", "Sagas that reached a final status, by outcome and reason.", ["outcome", "reason"],
)
# On-demand tables are billed per request, and each request is a round trip: what a saga costs.
DYNAMODB_REQUESTS = Counter(
    "oficina_dynamodb_requests_total",
    "DynamoDB API calls, by table, operation and outcome (ok, the error code, or the exception class).",
    ["service", "table", "operation", "outcome"],
)
# Labelled, so that (in multiprocess mode) only a process that counts one writes a file.
SAGAS_RETRIED = Counter("oficina_saga_retried_total", "FAILED sagas an admin sent on again (they finish again).",
                        ["service"])

UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def message_label(args: Any) -> str:
    """The type of the message among a task's arguments, when it is one of the catalogue's (a bounded
    set: a message of any other type, or none, is labelled "")."""
    kind = envelope_type(args)
    return kind if kind in ROUTES else ""


def route_of(request: Any) -> str:
    """The URL pattern the request resolved to (``/api/v1/jobs/<str:queue_id>/``), never its path."""
    match = getattr(request, "resolver_match", None)
    return f"/{match.route}" if match is not None and match.route is not None else UNMATCHED


class RequestMetricsMiddleware:
    """Times every request; first in ``MIDDLEWARE`` so the time includes the other middleware."""

    def __init__(self, get_response: Callable):
        self.get_response = get_response
        self.service = getattr(settings, "SERVICE_NAME", "")

    def __call__(self, request: Any) -> Any:
        started, cpu = time.perf_counter(), time.thread_time()
        response = self.get_response(request)
        method = request.method if request.method in _METHODS else "other"
        route = route_of(request)
        REQUEST_DURATION.labels(self.service, method, route, str(response.status_code)).observe(
            time.perf_counter() - started)
        REQUEST_CPU.labels(self.service, method, route).inc(time.thread_time() - cpu)
        return response


# --- DynamoDB ------------------------------------------------------------------------------------
def count_dynamodb_requests(events: Any) -> None:
    """Count every call a boto3 DynamoDB client makes (register once per client's event system).

    The table and operation are noted in the call's context before the request is built, so that
    a call that never got an answer (connection refused, timeout) is counted too."""
    def note(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        context["oficina_call"] = (params.get("TableName") or "several", model.name)

    def count(context: dict[str, Any], outcome: str) -> None:
        table, operation = context.get("oficina_call", ("unknown", "unknown"))
        DYNAMODB_REQUESTS.labels(getattr(settings, "SERVICE_NAME", ""), table, operation, outcome).inc()

    def answered(http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        ok = http_response.status_code < 300
        count(context, "ok" if ok else (parsed.get("Error") or {}).get("Code") or str(http_response.status_code))

    def unanswered(exception: BaseException, context: dict[str, Any], **_: Any) -> None:
        count(context, type(exception).__name__)

    events.register("before-parameter-build.dynamodb", note, unique_id="oficina-dynamodb-note")
    events.register("after-call.dynamodb", answered, unique_id="oficina-dynamodb-answered")
    events.register("after-call-error.dynamodb", unanswered, unique_id="oficina-dynamodb-unanswered")


# --- serving them ---------------------------------------------------------------------------------
def scrape_registry() -> Any:
    """What a scrape shows: every process's numbers in multiprocess mode, else this process's."""
    if not MULTIPROCESS_DIR:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=MULTIPROCESS_DIR)
    return registry


def metrics_text() -> str:
    """The scrape's body (Prometheus' text format), for tests and for a look from a shell."""
    return generate_latest(scrape_registry()).decode()


def serve_metrics(port: int | str | None, *, addr: str = "0.0.0.0") -> Any | None:  # noqa: S104 (the pod's IP)
    """Serve ``/metrics`` on ``port`` (0 or empty: nowhere), apart from the service's own port, so
    the ingress never reaches it and a NetworkPolicy opens it to the scraper alone. Returns the
    server, or None when the port is taken (a second worker on one machine runs on without)."""
    port = int(port or 0)
    if not port:
        return None
    try:
        server, _thread = start_http_server(port, addr=addr, registry=scrape_registry())
    except OSError as exc:
        logger.warning("metrics not served on port %s: %s", port, exc)
        return None
    logger.info("metrics served on port %s at /metrics", port)
    return server


serve_worker_metrics = serve_metrics  # its name before the web process served on its own port too


# --- Celery --------------------------------------------------------------------------------------


def install_celery_metrics(app: Any, service: str, *, port: int | str | None = None) -> None:
    """Count the app's tasks by outcome and time them; its worker serves the numbers on ``port``."""
    from celery import signals, states
    from celery.exceptions import Reject

    if getattr(app, "_oficina_metrics_installed", False):
        return
    app._oficina_metrics_installed = True
    port = int(port or 0)

    def ours(task: Any) -> bool:
        return task is not None and getattr(task, "app", None) is app

    def count(task: Any, outcome: str) -> None:
        if ours(task):
            TASKS.labels(service, task.name, outcome).inc()

    @signals.task_prerun.connect(weak=False)
    def _started(task: Any = None, **_: Any) -> None:
        if ours(task):
            task.request._metrics_started = (time.perf_counter(), time.thread_time())

    @signals.task_postrun.connect(weak=False)
    def _finished(task: Any = None, state: str | None = None, args: Any = None, **_: Any) -> None:
        if not ours(task):
            return
        started = getattr(task.request, "_metrics_started", None)
        if started is not None:
            TASK_DURATION.labels(service, task.name).observe(time.perf_counter() - started[0])
            TASK_CPU.labels(service, task.name, message_label(args)).inc(time.thread_time() - started[1])
        if state == states.REJECTED:  # celery.exceptions.Reject has no signal of its own
            count(task, "rejected")

    @signals.task_success.connect(weak=False)
    def _succeeded(sender: Any = None, **_: Any) -> None:
        count(sender, "succeeded")

    @signals.task_failure.connect(weak=False)
    def _failed(sender: Any = None, exception: BaseException | None = None, **_: Any) -> None:
        if not isinstance(exception, Reject):  # Celery sends task_failure for a Reject too: counted above
            count(sender, "failed")

    @signals.task_retry.connect(weak=False)
    def _retried(sender: Any = None, **_: Any) -> None:
        count(sender, "retried")

    @signals.worker_ready.connect(weak=False)
    def _serve(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is not app:
            return
        pool = getattr(sender, "pool", None)
        if port and not MULTIPROCESS_DIR and type(pool).__module__ == "celery.concurrency.prefork":
            logger.warning("tasks run in the pool's child processes: set PROMETHEUS_MULTIPROC_DIR, or run "
                           "the worker with --pool threads, or its task metrics stay at zero")
        serve_metrics(port)
