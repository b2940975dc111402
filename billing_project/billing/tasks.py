"""Celery entry points: ids and JSON in, one service call, transient failures retried with backoff."""
from __future__ import annotations

import logging
import smtplib
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from celery import shared_task
from kombu.exceptions import OperationalError as BrokerError

from oficina_common.celery_config import backoff
from oficina_common.errors import ApplicationError, UpstreamUnavailable

from . import handlers, services
from .mercadopago import MercadoPagoNotFound

logger = logging.getLogger(__name__)

MAX_RETRIES = 12
_TRANSIENT_DYNAMO_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable", "LimitExceededException",
})


def is_transient(exc: BaseException) -> bool:
    """Worth retrying later: Mercado Pago, DynamoDB, the broker or the mail server was unavailable."""
    if isinstance(exc, UpstreamUnavailable | BotoCoreError | BrokerError | smtplib.SMTPException
                  | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error.get("Code") in _TRANSIENT_DYNAMO_CODES or status >= 500
    return False


def _run(task: Any, what: str, call: Any, *, retry: bool = True) -> Any:
    try:
        return call()
    except Exception as exc:
        if is_transient(exc) and not retry:
            logger.warning("%s skipped this time (%s); the next run tries again", what, exc)
            return None
        if is_transient(exc):
            countdown = backoff(task.request.retries)
            logger.warning("%s failed for now (%s); retry %d in %ds", what, exc, task.request.retries + 1, countdown)
            raise task.retry(exc=exc, countdown=countdown, max_retries=MAX_RETRIES) from exc
        if isinstance(exc, ApplicationError):
            logger.error("%s dropped: %s (%s)", what, exc.message, exc.code)
            return None
        logger.exception("%s failed", what)
        raise


@shared_task(name="billing.handle_message", bind=True, acks_late=True)
def handle_message(self: Any, data: Any) -> Any:
    """Billing's consumer: every command on the ``billing`` queue; a repeat is answered again (handlers.py)."""
    kind = data.get("type") if isinstance(data, dict) else None
    return _run(self, f"message {kind}", lambda: handlers.dispatcher().dispatch(data, None))


@shared_task(name="billing.process_mercadopago_notification", bind=True, acks_late=True)
def process_mercadopago_notification(self: Any, mercadopago_payment_id: str, request_id: str = "") -> Any:
    def sync() -> Any:
        try:
            payment = services.payment_sync_from_mercadopago(mercadopago_payment_id=str(mercadopago_payment_id),
                                                             request_id=request_id)
        except MercadoPagoNotFound:
            logger.warning("Mercado Pago has no payment %s (notification %s); ignored", mercadopago_payment_id,
                           request_id or "-")
            return None
        return payment.status.value if payment else None

    return _run(self, f"Mercado Pago notification {mercadopago_payment_id}", sync)


@shared_task(name="billing.send_budget_approval_link", bind=True, acks_late=True)
def send_budget_approval_link(self: Any, budget_id: str, version: int) -> Any:
    return _run(self, f"approval e-mail of budget {budget_id}",
                lambda: services.budget_send_approval_link(budget_id=budget_id, version=int(version)))


# Beat runs these every minute or so: a failed run is not retried, the next one does the work.
@shared_task(name="billing.reconcile_pending_payments", bind=True, acks_late=True)
def reconcile_pending_payments(self: Any) -> Any:
    return _run(self, "payment reconciliation", services.payments_reconcile, retry=False)


@shared_task(name="billing.expire_budgets", bind=True, acks_late=True)
def expire_budgets(self: Any) -> Any:
    return _run(self, "budget expiry", services.budgets_expire, retry=False)


@shared_task(name="billing.sweep_outbox", bind=True, acks_late=True)
def sweep_outbox(self: Any) -> Any:
    return _run(self, "outbox sweep", services.outbox_sweep, retry=False)
