"""Celery entry points: ids and JSON in, one service call; retries, drops and dead letters follow
the consumer policy every service shares (oficina_common.consumer)."""
from __future__ import annotations

import logging
from typing import Any

from oficina_common.consumer import ConsumerPolicy, consumer_task, periodic_task

from . import handlers, services
from .mercadopago import MercadoPagoNotFound

logger = logging.getLogger(__name__)

POLICY = ConsumerPolicy()
is_transient = POLICY.is_transient


@consumer_task(name="billing.handle_message", policy=POLICY)
def handle_message(data: Any) -> Any:
    """Billing's consumer: every command on the ``billing`` queue; a repeat is answered again (handlers.py)."""
    return handlers.dispatcher().dispatch(data, None)


@consumer_task(name="billing.process_mercadopago_notification", policy=POLICY)
def process_mercadopago_notification(mercadopago_payment_id: str, request_id: str = "") -> Any:
    try:
        payment = services.payment_sync_from_mercadopago(mercadopago_payment_id=str(mercadopago_payment_id),
                                                         request_id=request_id)
    except MercadoPagoNotFound:
        logger.warning("Mercado Pago has no payment %s (notification %s); ignored", mercadopago_payment_id,
                       request_id or "-")
        return None
    return payment.status.value if payment else None


@consumer_task(name="billing.send_budget_approval_link", policy=POLICY)
def send_budget_approval_link(budget_id: str, version: int) -> Any:
    return services.budget_send_approval_link(budget_id=budget_id, version=int(version))


@periodic_task(name="billing.reconcile_pending_payments", what="payment reconciliation")
def reconcile_pending_payments() -> Any:
    return services.payments_reconcile()


@periodic_task(name="billing.expire_budgets", what="budget expiry")
def expire_budgets() -> Any:
    return services.budgets_expire()


@periodic_task(name="billing.sweep_outbox", what="outbox sweep")
def sweep_outbox() -> Any:
    return services.outbox_sweep()
