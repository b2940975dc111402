"""OpenTelemetry: off without a collector; on, one trace follows a message through the outbox."""
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from celery import Celery, signals
from celery.contrib.testing.worker import start_worker
from django.test import Client
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from oficina_common import tracing
from oficina_common.correlation import logging_config
from oficina_common.messages import Envelope, InvalidMessage, handler_task_name
from oficina_common.messaging import CeleryPublisher, Dispatcher

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def spans(monkeypatch):
    """Tracing on in this process, its spans kept in memory (a collector is not needed)."""
    monkeypatch.delenv(tracing.ENDPOINT_VARIABLE, raising=False)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    assert tracing.start_tracing("os", provider=provider)
    yield exporter
    tracing.stop_tracing()


def test_without_an_endpoint_nothing_is_traced(monkeypatch):
    monkeypatch.delenv(tracing.ENDPOINT_VARIABLE, raising=False)
    threads = threading.active_count()
    receivers = len(signals.worker_process_init.receivers)

    assert tracing.start_tracing("os") is False
    tracing.install_celery_tracing(Celery("os"), "os")

    assert not tracing.enabled()
    assert len(signals.worker_process_init.receivers) == receivers, "nothing waits for the worker"
    assert threading.active_count() == threads, "no exporter thread"
    assert not hasattr(requests.Session.send, "__wrapped__"), "requests is not instrumented"
    assert tracing.current_trace_id() == "-"
    envelope = Envelope(type="os.DiagnosisCompleted", saga_id="s-1", service_order_id="o-1")
    assert envelope.traceparent is None
    assert "traceparent" not in envelope.to_dict(), "the envelope is the one of before tracing"


def test_an_envelope_keeps_the_trace_it_was_built_in(spans):
    tracer = trace.get_tracer(__name__, tracer_provider=tracing._provider)
    with tracer.start_as_current_span("diagnosis") as span:
        envelope = Envelope(type="os.DiagnosisCompleted", saga_id="s-1", service_order_id="o-1")
    context = span.get_span_context()
    assert envelope.traceparent.startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")
    data = envelope.to_dict()
    assert Envelope.from_dict(data) == envelope, "kept in the outbox and published later, unchanged"


def test_an_envelope_of_before_tracing_is_read_without_a_context(spans):
    old = Envelope(type="os.DiagnosisCompleted", saga_id="s-1", service_order_id="o-1").to_dict()
    old.pop("traceparent", None)
    tracer = trace.get_tracer(__name__, tracer_provider=tracing._provider)
    with tracer.start_as_current_span("sweep"):
        assert Envelope.from_dict(old).traceparent is None, "not the reader's context"


def test_a_traceparent_must_be_w3c():
    data = Envelope(type="os.DiagnosisCompleted", saga_id="s-1", service_order_id="o-1").to_dict()
    assert Envelope.from_dict({**data, "traceparent": TRACEPARENT}).traceparent == TRACEPARENT
    with pytest.raises(InvalidMessage, match="traceparent"):
        Envelope.from_dict({**data, "traceparent": "not-a-trace"})


def test_the_consumer_continues_the_trace_of_the_span_that_built_the_message(spans, apps):
    """Built in a request's span, published later by a sweeper in a trace of its own (the outbox),
    consumed by another service's worker over real Redis: the consumer's span is a child of the
    request's, and what the consumer sends on continues the same trace."""
    publisher_app, consumer_app = apps
    seen: dict[str, object] = {}
    done = threading.Event()

    def on_diagnosis(envelope: Envelope) -> None:
        seen["trace_id"] = tracing.current_trace_id()
        seen["reply"] = envelope.reply("billing.CreateBudget")
        done.set()

    dispatcher = Dispatcher({"os.DiagnosisCompleted": on_diagnosis})

    # Another test's consumer, shared with every app made since (Celery's shared tasks), must not
    # answer for this one.
    consumer_app.finalize()
    consumer_app.tasks.pop(handler_task_name("execution"), None)

    @consumer_app.task(name=handler_task_name("execution"), acks_late=True, shared=False)
    def handle_message(data):
        return dispatcher.dispatch(data, None)

    tracer = trace.get_tracer(__name__, tracer_provider=tracing._provider)
    with tracer.start_as_current_span("POST diagnosis") as request_span:
        envelope = Envelope(type="os.DiagnosisCompleted", saga_id="saga-1", service_order_id="o-1")
    with start_worker(consumer_app, pool="solo", perform_ping_check=False, queues=["execution"],
                      shutdown_timeout=10):
        with tracer.start_as_current_span("relay outbox") as sweep_span:
            CeleryPublisher(publisher_app).publish(envelope)
        assert done.wait(15)
        for _ in range(100):  # the span ends after the task returns
            if any(s.name == "process os.DiagnosisCompleted" for s in spans.get_finished_spans()):
                break
            threading.Event().wait(0.05)

    producer = request_span.get_span_context()
    assert sweep_span.get_span_context().trace_id != producer.trace_id
    consumer = next(s for s in spans.get_finished_spans() if s.name == "process os.DiagnosisCompleted")
    assert consumer.kind == trace.SpanKind.CONSUMER
    assert consumer.context.trace_id == producer.trace_id
    assert consumer.parent.span_id == producer.span_id
    assert consumer.attributes["oficina.saga_id"] == "saga-1"
    assert consumer.attributes["oficina.message_id"] == envelope.message_id
    assert seen["trace_id"] == f"{producer.trace_id:032x}", "log lines in the consumer show the trace"
    assert seen["reply"].traceparent.startswith(f"00-{producer.trace_id:032x}-{consumer.context.span_id:016x}-")


def test_log_lines_carry_the_trace_id_beside_the_correlation_id(spans, capsys):
    logging.config.dictConfig(logging_config("billing", json=True))
    tracer = trace.get_tracer(__name__, tracer_provider=tracing._provider)
    try:
        with tracer.start_as_current_span("payment") as span:
            logging.getLogger("billing.test").warning("payment approved")
        logging.getLogger("billing.test").warning("outside any span")
    finally:
        logging.config.dictConfig(logging_config("billing", json=False))
    inside, outside = (json.loads(line) for line in capsys.readouterr().err.strip().splitlines()[-2:])
    assert inside["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    assert "correlation_id" in inside
    assert outside["trace_id"] == "-"


@pytest.fixture
def collector():
    """A stand-in OpenTelemetry Collector: keeps every OTLP/HTTP export it is sent."""
    received: list[tuple[str, bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            received.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def test_with_an_endpoint_a_request_is_exported_to_the_collector(collector, monkeypatch):
    """What wsgi.py does in every web process: the request's span reaches the collector over OTLP,
    named after its service and URL pattern, with the trace id its log lines show."""
    endpoint, received = collector
    monkeypatch.setenv(tracing.ENDPOINT_VARIABLE, endpoint)
    assert tracing.start_tracing("billing")
    try:
        assert tracing.start_tracing("billing"), "a second start changes nothing"
        response = Client().post("/raise/missing/")
    finally:
        tracing.stop_tracing()  # flushes the batch
    assert response.status_code == 404
    assert [path for path, _ in received] == ["/v1/traces"]
    export = ExportTraceServiceRequest.FromString(received[0][1])
    resource = {a.key: a.value.string_value for a in export.resource_spans[0].resource.attributes}
    assert resource["service.name"] == "oficina-billing" and resource["oficina.process"] == "web"
    spans = [span for scope in export.resource_spans[0].scope_spans for span in scope.spans]
    assert [span.name for span in spans] == ["POST raise/<str:kind>/"]


def test_a_worker_traces_in_each_pool_process(collector, monkeypatch):
    """What config/celery.py does: tracing starts in each prefork child as it starts (Celery's
    worker_process_init), its spans named after the service, from a worker process."""
    endpoint, received = collector
    monkeypatch.setenv(tracing.ENDPOINT_VARIABLE, endpoint)
    before = list(signals.worker_process_init.receivers), list(signals.worker_ready.receivers)
    try:
        tracing.install_celery_tracing(Celery("execution"), "execution")
        assert not tracing.enabled(), "not in the worker's main process: its children fork from it"
        signals.worker_process_init.send(sender=None)
        assert tracing.enabled()
        with trace.get_tracer(__name__, tracer_provider=tracing._provider).start_as_current_span("a task"):
            pass
    finally:
        tracing.stop_tracing()
        signals.worker_process_init.receivers[:], signals.worker_ready.receivers[:] = before
    export = ExportTraceServiceRequest.FromString(received[0][1])
    resource = {a.key: a.value.string_value for a in export.resource_spans[0].resource.attributes}
    assert resource["service.name"] == "oficina-execution" and resource["oficina.process"] == "worker"
