"""The gateway over real HTTP: the project's Mercado Pago sandbox, and a server that misbehaves."""
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from billing.mercadopago import (
    MercadoPagoGateway,
    MercadoPagoNotFound,
    MercadoPagoRefused,
    MercadoPagoUnavailable,
)
from oficina_common.correlation import bind_correlation_id


@pytest.fixture
def gateway(sandbox) -> MercadoPagoGateway:
    return MercadoPagoGateway(base_url=sandbox.url, access_token="TEST-token", read_timeout=5)


def pix(gateway: MercadoPagoGateway, reference: str, key: str | None = None, amount_cents: int = 12200):
    return gateway.create_pix_payment(idempotency_key=key or f"payment-{reference}", amount_cents=amount_cents,
                                      description="OS-1 Troca de óleo", payer_email="maria@example.com",
                                      external_reference=reference, notification_url="http://127.0.0.1:9/hook/")


class TestAgainstTheSandbox:
    def test_pix_payment_with_qr_code(self, gateway):
        reference = str(uuid.uuid4())
        created = pix(gateway, reference)
        assert created.status == "pending" and created.amount_cents == 12200
        assert created.external_reference == reference
        assert created.qr_code.startswith("000201") and created.qr_code_base64 and created.ticket_url

    def test_the_same_idempotency_key_never_makes_a_second_payment(self, gateway, sandbox):
        reference = str(uuid.uuid4())
        first = pix(gateway, reference)
        second = pix(gateway, reference)
        assert first.id == second.id
        assert len(sandbox.payments(reference)) == 1
        third = pix(gateway, reference, key=f"other-{reference}")
        assert third.id != first.id  # (what a fresh random key, the SDK's default, would do)

    def test_read_cancel_and_refund(self, gateway, sandbox):
        pending = pix(gateway, str(uuid.uuid4()))
        assert gateway.cancel_payment(pending.id, idempotency_key=f"cancel-{pending.id}").status == "cancelled"
        paid = pix(gateway, str(uuid.uuid4()))
        sandbox.approve(paid.id)
        assert gateway.get_payment(paid.id).status == "approved"
        refund_id = gateway.refund_payment(paid.id, idempotency_key=f"refund-{paid.id}")
        assert gateway.refund_payment(paid.id, idempotency_key=f"refund-{paid.id}") == refund_id
        assert gateway.get_payment(paid.id).status == "refunded"
        assert len(sandbox.payment(paid.id)["refunds"]) == 1

    def test_checkout_preference_and_search(self, gateway):
        reference = str(uuid.uuid4())
        preference = gateway.create_checkout_preference(
            idempotency_key=f"payment-{reference}", amount_cents=5000, description="OS-2", payer_email="a@b.co",
            external_reference=reference, notification_url="http://127.0.0.1:9/hook/")
        assert preference.id and "/checkout/" in preference.init_point
        assert gateway.find_payments(reference) == []

    def test_refusals_are_4xx_with_mercado_pagos_message(self, gateway):
        with pytest.raises(MercadoPagoNotFound):
            gateway.get_payment("999999999")
        paid = pix(gateway, str(uuid.uuid4()))
        with pytest.raises(MercadoPagoRefused, match="cannot be refunded"):
            gateway.refund_payment(paid.id, idempotency_key="r")
        with pytest.raises(MercadoPagoRefused, match="payer.email"):
            gateway.create_pix_payment(idempotency_key="k", amount_cents=100, description="x",
                                       payer_email="not-an-email", external_reference="r",
                                       notification_url="http://127.0.0.1:9/")


class Misbehaving:
    """An HTTP server answering 503, 400, garbage, or nothing in time; it records the headers it got."""

    def __init__(self):
        self.mode = "503"
        self.headers: list[dict[str, str]] = []

    def __call__(self, environ, start_response):
        request = Request(environ)
        self.headers.append(dict(request.headers))
        if self.mode == "slow":
            time.sleep(1.5)
            response = Response("{}", status=200, content_type="application/json")
        elif self.mode == "garbage":
            response = Response("<html>oops</html>", status=200, content_type="text/html")
        elif self.mode == "429":
            response = Response('{"message": "too many"}', status=429, content_type="application/json")
        else:
            status = int(self.mode)
            response = Response(f'{{"message": "nope", "error": "x", "status": {status}}}', status=status,
                                content_type="application/json")
        return response(environ, start_response)


@pytest.fixture
def misbehaving() -> Iterator[tuple[Misbehaving, MercadoPagoGateway]]:
    app = Misbehaving()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    gateway = MercadoPagoGateway(base_url=f"http://127.0.0.1:{server.server_port}", access_token="t",
                                 connect_timeout=1, read_timeout=0.5)
    try:
        yield app, gateway
    finally:
        server.shutdown()


class TestWhenMercadoPagoMisbehaves:
    @pytest.mark.parametrize("mode", ["500", "503", "429", "slow"])
    def test_5xx_throttling_and_timeouts_are_transient(self, misbehaving, mode):
        app, gateway = misbehaving
        app.mode = mode
        with pytest.raises(MercadoPagoUnavailable):
            gateway.get_payment("1")
        assert len(app.headers) == 1  # no hidden retries: Celery retries with backoff

    def test_4xx_is_a_refusal(self, misbehaving):
        app, gateway = misbehaving
        app.mode = "400"
        with pytest.raises(MercadoPagoRefused, match="400 to create a Pix payment: nope"):
            pix(gateway, "r")

    def test_a_2xx_that_is_not_json_is_transient(self, misbehaving):
        app, gateway = misbehaving
        app.mode = "garbage"
        with pytest.raises(MercadoPagoUnavailable, match="without JSON"):
            gateway.get_payment("1")

    def test_unreachable_is_transient(self):
        gateway = MercadoPagoGateway(base_url="http://127.0.0.1:9", access_token="t", connect_timeout=0.5)
        with pytest.raises(MercadoPagoUnavailable, match="unreachable"):
            gateway.get_payment("1")

    def test_requests_carry_our_key_token_and_correlation_id(self, misbehaving):
        app, gateway = misbehaving
        app.mode = "503"
        with bind_correlation_id("saga-123"), pytest.raises(MercadoPagoUnavailable):
            pix(gateway, "ref-1", key="payment-ref-1")
        (headers,) = app.headers
        assert headers["X-Idempotency-Key"] == "payment-ref-1"
        assert headers["Authorization"] == "Bearer t"
        assert headers["X-Correlation-Id"] == "saga-123"
