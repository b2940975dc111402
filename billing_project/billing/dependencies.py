"""What the services work with: repositories, Mercado Pago, the clock, task scheduling.

Built from settings on first use (``oficina_common.wiring``); tests swap in fakes with ``override``.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from oficina_common.copies import RecentCopies
from oficina_common.messaging import Publisher
from oficina_common.wiring import Wiring

from .domain import Payment
from .ports import ApprovalTokens, Budgets, MercadoPago, Payments

logger = logging.getLogger(__name__)

SEND_APPROVAL_LINK_TASK = "billing.send_budget_approval_link"
PROCESS_NOTIFICATION_TASK = "billing.process_mercadopago_notification"
# Mercado Pago notifies a payment's creation within seconds (and retries a failed delivery for a while).
CREATED_MARKER_SECONDS = 15 * 60
MARKER_POLL_SECONDS = 0.01


def utc_now() -> datetime:
    return datetime.now(UTC)


def _send_task(name: str, *args: Any) -> None:
    from config.celery import app

    app.send_task(name, args=list(args), queue="billing")


class CreatedPayments:
    """The Mercado Pago payments Billing created itself and whose create answer it holds: their
    ``payment.created`` notification has nothing to tell it, so the webhook queues no task for it.

    A short-lived marker in the cache (Redis), keyed by Mercado Pago's payment id. Best effort both
    ways: a marker that was never written, or is lost, only costs the task that reads the payment
    again, as for any notification.
    """

    def __init__(self, cache: Any = None):
        self._cache = cache

    @property
    def cache(self) -> Any:
        from django.core.cache import caches

        return self._cache if self._cache is not None else caches["default"]

    @staticmethod
    def _key(mercadopago_payment_id: str) -> str:
        return f"mercadopago:created-by-us:{mercadopago_payment_id}"

    def remember(self, mercadopago_payment_id: str) -> None:
        try:
            self.cache.set(self._key(mercadopago_payment_id), 1, CREATED_MARKER_SECONDS)
        except Exception:  # noqa: BLE001 - without the marker the notification's task runs, as ever
            logger.warning("could not mark Mercado Pago payment %s as created by Billing", mercadopago_payment_id,
                           exc_info=True)

    def knows(self, mercadopago_payment_id: str, *, wait: float = 0.0) -> bool:
        """Whether the marker is there, looking again for up to ``wait`` seconds: Mercado Pago may
        notify a creation as it answers it, a moment before its creator has written the marker."""
        deadline = time.monotonic() + wait
        try:
            while self.cache.get(self._key(mercadopago_payment_id)) is None:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(MARKER_POLL_SECONDS)
        except Exception:  # noqa: BLE001 - unknown: the notification's task runs, as ever
            logger.warning("could not read the created-by-Billing marker of Mercado Pago payment %s",
                           mercadopago_payment_id, exc_info=True)
            return False
        return True


class RecentPayments(RecentCopies[Payment]):
    """The payments this process wrote last, by id (see :class:`~oficina_common.copies.RecentCopies`):
    Mercado Pago's news of a payment this worker asked it for is applied without reading the
    payment first. The write is conditional on the copy's status and revision, so a copy gone stale
    (a cancellation, a refund, news applied by another process) fails it and the payment is read."""

    def __init__(self, size: int = 2048):
        # A payment is immutable (a frozen dataclass): the copy kept is the one handed out.
        super().__init__(size, key_of=lambda payment: payment.payment_id, copy_of=lambda payment: payment,
                         newer=lambda kept, payment: kept.rev > payment.rev)


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
    created_payments: CreatedPayments = field(default_factory=CreatedPayments)
    recent_payments: RecentPayments = field(default_factory=RecentPayments)


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
    from django.conf import settings

    from .repositories import ApprovalTokenRepository, BudgetRepository, PaymentRepository, default_publisher

    publisher = publisher or default_publisher()
    receipts = _outbox_receipts()
    values: dict[str, Any] = {
        "budgets": BudgetRepository(publisher=publisher, receipts=receipts),
        "payments": PaymentRepository(publisher=publisher, receipts=receipts),
        "approval_tokens": ApprovalTokenRepository(),
        "mercadopago": mercadopago_from_settings(),
        "publisher": publisher,
        "recent_payments": RecentPayments(size=settings.BILLING_PAYMENT_COPIES),
    }
    values.update(overrides)
    return Dependencies(**values)


_wiring: Wiring[Dependencies] = Wiring(from_settings).rebuild_when_settings_change()
dependencies = _wiring.get
install = _wiring.install
override = _wiring.override
