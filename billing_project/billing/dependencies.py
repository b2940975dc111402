"""What the services work with: repositories, Mercado Pago, the clock, task scheduling.

Built from settings on first use (``oficina_common.wiring``); tests swap in fakes with ``override``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from oficina_common.messaging import Publisher
from oficina_common.wiring import Wiring

from .ports import ApprovalTokens, Budgets, MercadoPago, Payments

SEND_APPROVAL_LINK_TASK = "billing.send_budget_approval_link"
PROCESS_NOTIFICATION_TASK = "billing.process_mercadopago_notification"


def utc_now() -> datetime:
    return datetime.now(UTC)


def _send_task(name: str, *args: Any) -> None:
    from config.celery import app

    app.send_task(name, args=list(args), queue="billing")


@dataclass
class Dependencies:
    budgets: Budgets
    payments: Payments
    approval_tokens: ApprovalTokens
    mercadopago: MercadoPago
    publisher: Publisher | None = None
    schedule_approval_email: Callable[[str, int], None] = field(
        default=lambda budget_id, version: _send_task(SEND_APPROVAL_LINK_TASK, budget_id, version))
    enqueue_notification: Callable[[str, str], None] = field(
        default=lambda mp_id, request_id: _send_task(PROCESS_NOTIFICATION_TASK, mp_id, request_id))
    clock: Callable[[], datetime] = utc_now


def mercadopago_from_settings() -> MercadoPago:
    from django.conf import settings

    from .mercadopago import MercadoPagoGateway

    return MercadoPagoGateway(base_url=settings.MERCADOPAGO_BASE_URL, access_token=settings.MERCADOPAGO_ACCESS_TOKEN,
                              connect_timeout=settings.MERCADOPAGO_CONNECT_TIMEOUT_SECONDS,
                              read_timeout=settings.MERCADOPAGO_READ_TIMEOUT_SECONDS)


def _outbox_receipts() -> Any:
    """Receipts of published messages in the cache (Redis): a published message leaves its item
    with the item's next write instead of one more write (``OUTBOX_RECEIPTS``)."""
    from django.conf import settings
    from django.core.cache import caches

    from oficina_common.outbox import CacheReceipts

    return CacheReceipts(caches["default"]) if settings.OUTBOX_RECEIPTS else None


def from_settings(*, publisher: Publisher | None = None, **overrides: Any) -> Dependencies:
    from .repositories import ApprovalTokenRepository, BudgetRepository, PaymentRepository, default_publisher

    publisher = publisher or default_publisher()
    receipts = _outbox_receipts()
    values: dict[str, Any] = {
        "budgets": BudgetRepository(publisher=publisher, receipts=receipts),
        "payments": PaymentRepository(publisher=publisher, receipts=receipts),
        "approval_tokens": ApprovalTokenRepository(),
        "mercadopago": mercadopago_from_settings(),
        "publisher": publisher,
    }
    values.update(overrides)
    return Dependencies(**values)


_wiring: Wiring[Dependencies] = Wiring(from_settings).rebuild_when_settings_change()
dependencies = _wiring.get
install = _wiring.install
override = _wiring.override
