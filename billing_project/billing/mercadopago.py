"""Mercado Pago through its official SDK, pointed at ``MERCADOPAGO_BASE_URL``.

The SDK builds every URL from a fixed ``https://api.mercadopago.com`` and sends a fresh random
``X-Idempotency-Key`` on each call. Our HTTP client rewrites the base URL, and every call passes
a key derived from our payment record, so a retried task never creates a second charge.
Its own urllib3 retries are off: Celery retries with backoff instead, and says so in the logs.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import mercadopago
import requests
from mercadopago.config import RequestOptions
from mercadopago.config.config import Config
from mercadopago.http import HttpClient

from oficina_common.correlation import outgoing_headers
from oficina_common.errors import ApplicationError, UpstreamUnavailable

from .domain import MercadoPagoPayment

logger = logging.getLogger(__name__)

SDK_BASE_URL = Config().api_base_url
TRANSIENT_STATUSES = frozenset({408, 409, 423, 424, 425, 429})
# The per-payment notification_url is how Mercado Pago (and the sandbox) knows where to notify us.
warnings.filterwarnings("ignore", message="notification_url is deprecated", category=DeprecationWarning)


class MercadoPagoUnavailable(UpstreamUnavailable):
    """Mercado Pago timed out, was unreachable or answered 5xx/429: try again later."""

    code = "mercadopago_unavailable"


class MercadoPagoRefused(ApplicationError):
    """Mercado Pago answered 4xx: retrying the same request would be refused again."""

    status_code = 502
    code = "mercadopago_refused"

    def __init__(self, message: str, *, status: int, body: Any = None):
        super().__init__(message, extra={"status": status})
        self.status = status
        self.body = body


class MercadoPagoNotFound(MercadoPagoRefused):
    code = "mercadopago_not_found"


class RedirectingHttpClient(HttpClient):
    """The SDK's transport, sent to our base URL, with timeouts and our correlation id."""

    def __init__(self, base_url: str, *, connect_timeout: float = 3.0, read_timeout: float = 10.0,
                 session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.session = session or requests.Session()

    def request(self, method: str, url: str, maxretries: Any = None, retry_on: Any = None,
                backoff_factor: Any = None, **kwargs: Any) -> dict[str, Any]:
        if url.startswith(SDK_BASE_URL):
            url = self.base_url + url[len(SDK_BASE_URL):]
        kwargs["timeout"] = self.timeout
        kwargs["headers"] = {**(kwargs.get("headers") or {}), **outgoing_headers()}
        try:
            response = self.session.request(method, url, **kwargs)
        except requests.Timeout as exc:
            raise MercadoPagoUnavailable(f"Mercado Pago timed out on {method} {_path(url)}.") from exc
        except requests.RequestException as exc:
            raise MercadoPagoUnavailable(f"Mercado Pago is unreachable ({type(exc).__name__}).") from exc
        body: Any = None
        if response.status_code != 204 and response.content:
            try:
                body = response.json()
            except ValueError as exc:
                if response.status_code < 400:
                    # A 2xx that is not Mercado Pago's JSON (a proxy's page): try again later.
                    raise MercadoPagoUnavailable(f"Mercado Pago answered {response.status_code} without JSON "
                                                 f"on {method} {_path(url)}.") from exc
                body = {"message": response.text[:200]}
        return {"status": response.status_code, "response": body}


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[-1].split("/", 1)[-1] if "://" in url else url


def _check(result: dict[str, Any], action: str) -> dict[str, Any]:
    status = int(result.get("status") or 0)
    body = result.get("response")
    if 200 <= status < 300:
        return body if isinstance(body, dict) else {}
    message = body.get("message") if isinstance(body, dict) else ""
    text = f"Mercado Pago answered {status} to {action}" + (f": {message}" if message else ".")
    if status >= 500 or status in TRANSIENT_STATUSES or status == 0:
        raise MercadoPagoUnavailable(text)
    if status == 404:
        raise MercadoPagoNotFound(text, status=status, body=body)
    raise MercadoPagoRefused(text, status=status, body=body)


def _reais(cents: int) -> float:
    # Mercado Pago takes a decimal amount in reais; two decimals are exact for whole cents.
    return float(Decimal(cents) / 100)


@dataclass(frozen=True)
class CheckoutPreference:
    id: str
    init_point: str


class MercadoPagoGateway:
    """The Mercado Pago calls Billing makes; each one either answers, refuses (4xx) or is transient."""

    def __init__(self, *, base_url: str, access_token: str, connect_timeout: float = 3.0,
                 read_timeout: float = 10.0, http_client: HttpClient | None = None):
        self.base_url = base_url
        self.sdk = mercadopago.SDK(
            access_token or "missing-access-token",
            http_client=http_client or RedirectingHttpClient(base_url, connect_timeout=connect_timeout,
                                                             read_timeout=read_timeout),
            request_options=RequestOptions(connection_timeout=float(read_timeout), max_retries=0),
        )
        self.timeout = float(read_timeout)

    def _options(self, idempotency_key: str | None = None) -> RequestOptions:
        headers = {"x-idempotency-key": idempotency_key} if idempotency_key else {}
        return RequestOptions(connection_timeout=self.timeout, max_retries=0, custom_headers=headers)

    def create_pix_payment(self, *, idempotency_key: str, amount_cents: int, description: str, payer_email: str,
                           external_reference: str, notification_url: str) -> MercadoPagoPayment:
        body = {
            "transaction_amount": _reais(amount_cents),
            "payment_method_id": "pix",
            "description": description[:250] or "Oficina",
            "external_reference": external_reference,
            "notification_url": notification_url,
            "payer": {"email": payer_email},
        }
        result = self.sdk.payment().create(body, request_options=self._options(idempotency_key))
        return MercadoPagoPayment.from_api(_check(result, "create a Pix payment"))

    def create_checkout_preference(self, *, idempotency_key: str, amount_cents: int, description: str,
                                   payer_email: str, external_reference: str,
                                   notification_url: str) -> CheckoutPreference:
        body = {
            "items": [{"id": external_reference, "title": description[:250] or "Oficina", "quantity": 1,
                       "currency_id": "BRL", "unit_price": _reais(amount_cents)}],
            "payer": {"email": payer_email},
            "external_reference": external_reference,
            "notification_url": notification_url,
        }
        result = self.sdk.preference().create(body, request_options=self._options(idempotency_key))
        data = _check(result, "create a checkout preference")
        return CheckoutPreference(id=str(data.get("id", "")), init_point=str(data.get("init_point", "")))

    def get_payment(self, mercadopago_payment_id: str) -> MercadoPagoPayment:
        result = self.sdk.payment().get(mercadopago_payment_id, request_options=self._options())
        return MercadoPagoPayment.from_api(_check(result, f"read payment {mercadopago_payment_id}"))

    def find_payments(self, external_reference: str) -> list[MercadoPagoPayment]:
        result = self.sdk.payment().search({"external_reference": external_reference, "sort": "date_created",
                                             "criteria": "desc"}, request_options=self._options())
        data = _check(result, f"search payments of {external_reference}")
        return [MercadoPagoPayment.from_api(p) for p in data.get("results") or [] if isinstance(p, dict)]

    def cancel_payment(self, mercadopago_payment_id: str, *, idempotency_key: str) -> MercadoPagoPayment:
        result = self.sdk.payment().update(mercadopago_payment_id, {"status": "cancelled"},
                                           request_options=self._options(idempotency_key))
        return MercadoPagoPayment.from_api(_check(result, f"cancel payment {mercadopago_payment_id}"))

    def refund_payment(self, mercadopago_payment_id: str, *, idempotency_key: str) -> str:
        """A full refund; the same key never refunds twice. Returns the refund id."""
        result = self.sdk.refund().create(mercadopago_payment_id, None,
                                          request_options=self._options(idempotency_key))
        data = _check(result, f"refund payment {mercadopago_payment_id}")
        return str(data.get("id", ""))
