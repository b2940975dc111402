"""OpenTelemetry traces of every service, exported over OTLP; off unless an endpoint is set.

With ``OTEL_EXPORTER_OTLP_ENDPOINT`` set (``http://collector:4318``), each process that serves
requests or runs tasks traces Django, Celery, botocore (DynamoDB), requests (Mercado Pago) and
psycopg2, and sends the spans in batches to that collector (docs/tracing.md). Without it nothing
is imported, instrumented or started: no span, no exporter thread, and the two calls on the hot
path (:func:`current_traceparent`, :func:`current_trace_id`) return at once.

The entry points call in: ``config/wsgi.py`` (the gunicorn workers, ``runserver``) with
:func:`start_tracing`, ``config/celery.py`` with :func:`install_celery_tracing`, which starts it in
the process that runs the tasks (each prefork child, or the worker itself with another pool).

A saga's messages wait in an outbox and are published later, by the request's commit hook or by a
sweeper, so the context Celery carries in a task's headers is the publisher's, not the cause's.
The cause travels in the envelope instead: :func:`current_traceparent` is what the envelope keeps
(its ``traceparent``, W3C trace context) when it is built, and a consumed envelope's traceparent
replaces the header's before Celery's instrumentation starts the task's span, which thus becomes
the child of the span that built the message: one trace from the diagnosis to the delivery.
"""
from __future__ import annotations

import logging
import os
from typing import Any

logger = logging.getLogger(__name__)

ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACEPARENT = "traceparent"
NO_TRACE = "-"

# The tracer provider of this process once tracing has started; None: off.
_provider: Any = None
_instrumentors: list[Any] = []


def enabled() -> bool:
    """Whether this process traces (started, with a collector to export to or a test's provider)."""
    return _provider is not None


def configured() -> bool:
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip())


def start_tracing(service: str, *, process: str = "web", provider: Any = None) -> bool:
    """Trace this process if a collector is configured (or ``provider`` is given: tests).

    ``service`` names the spans' source (``oficina-<service>``). Call it once the settings module
    is known and before the WSGI application is built: Django's instrumentation adds a middleware.
    Starting twice in one process does nothing; True when the process traces."""
    global _provider
    if _provider is not None:
        return True
    if provider is None:
        if not configured():
            return False
        provider = _otlp_provider(service, process)
    _instrument(provider)
    _provider = provider
    logger.info("tracing on: spans of oficina-%s (%s) go to %s", service, process,
                os.environ.get(ENDPOINT_VARIABLE) or "a test's exporter")
    return True


def stop_tracing() -> None:
    """Undo :func:`start_tracing` in this process (tests), sending what is still buffered."""
    global _provider
    while _instrumentors:
        _instrumentors.pop().uninstrument()
    _disconnect_envelope_context()
    if _provider is not None:
        _provider.shutdown()  # sends what is still buffered, ends the exporter's thread
    _provider = None


def install_celery_tracing(app: Any, service: str) -> None:
    """Start tracing where the app's tasks run: in each prefork child as it starts (threads made
    before a fork do not survive it, the exporter's included), or in the worker itself with a pool
    that does not fork. Without a configured collector this connects nothing."""
    if not configured():
        return
    from celery import signals

    @signals.worker_process_init.connect(weak=False)
    def _in_each_child(**_: Any) -> None:
        start_tracing(service, process="worker")

    @signals.worker_ready.connect(weak=False)
    def _in_the_worker(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is app and type(getattr(sender, "pool", None)).__module__ != \
                "celery.concurrency.prefork":
            start_tracing(service, process="worker")


# --- the hot path: both return at once when tracing is off -------------------------------------
def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span (what an envelope built now keeps), or None."""
    if _provider is None:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get(TRACEPARENT)


def current_trace_id() -> str:
    """The current trace's id as 32 hex digits (what a log line shows), or ``-``."""
    if _provider is None:
        return NO_TRACE
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else NO_TRACE


# --- setting up ---------------------------------------------------------------------------------
def _otlp_provider(service: str, process: str) -> Any:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # Resource.create also reads OTEL_RESOURCE_ATTRIBUTES; the sampler comes from OTEL_TRACES_SAMPLER.
    resource = Resource.create({"service.name": f"oficina-{service}", "service.namespace": "oficina",
                                "oficina.process": process})
    provider = TracerProvider(resource=resource)
    # OTLP over HTTP to $OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces, in batches from a thread of its own.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def _instrument(provider: Any) -> None:
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg2 import Psycopg2Instrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    # Before Celery's instrumentation: its task_prerun handler must find the envelope's context.
    _connect_envelope_context()
    for instrumentor in (DjangoInstrumentor(), CeleryInstrumentor(), BotocoreInstrumentor(),
                         RequestsInstrumentor(), Psycopg2Instrumentor()):
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=provider)
            _instrumentors.append(instrumentor)


# --- the envelope's context on the consumer's side ----------------------------------------------
def _restore_envelope_context(task: Any = None, args: Any = None, **_: Any) -> None:
    """The task's span will be a child of the envelope's context: Celery's instrumentation reads the
    trace context from the task's request, where the headers put the publisher's."""
    from .messages import envelope_in  # messages imports this module

    envelope = envelope_in(args)
    if task is None or envelope is None:
        return
    traceparent = envelope.get(TRACEPARENT)
    if traceparent:
        task.request.traceparent = traceparent
        task.request.tracestate = None


def _describe_consumer_span(task: Any = None, args: Any = None, **_: Any) -> None:
    """Name the task's span after the message it handled (every consumer task has one name)."""
    from .messages import envelope_in  # messages imports this module

    envelope = envelope_in(args)
    if envelope is None:
        return
    from opentelemetry import trace

    span = trace.get_current_span()
    if span.is_recording():
        span.update_name(f"process {envelope['type']}")
        span.set_attributes({"oficina.message_id": str(envelope["message_id"]),
                             "oficina.message_type": str(envelope["type"]),
                             "oficina.saga_id": str(envelope.get("saga_id", "")),
                             "oficina.service_order_id": str(envelope.get("service_order_id", ""))})


def _connect_envelope_context() -> None:
    from celery import signals

    signals.task_prerun.connect(_restore_envelope_context, weak=False)
    # Before the instrumentation's task_postrun handler, which ends the span.
    signals.task_postrun.connect(_describe_consumer_span, weak=False)


def _disconnect_envelope_context() -> None:
    from celery import signals

    signals.task_prerun.disconnect(_restore_envelope_context)
    signals.task_postrun.disconnect(_describe_consumer_span)
