"""Fakes implementing the repositories' and the Mercado Pago gateway's interfaces, for unit tests.

They keep the semantics that matter: conditional writes on status + revision, AlreadyExists on a
second create, messages published with the write that carries them.
"""
from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from billing.dependencies import Dependencies
from billing.domain import (
    ApprovalToken,
    Budget,
    BudgetStatus,
    MercadoPagoPayment,
    Payment,
    PaymentStatus,
    iso,
)
from billing.mercadopago import CheckoutPreference, MercadoPagoNotFound, MercadoPagoRefused
from oficina_common.dynamodb import Page
from oficina_common.errors import AlreadyExists, ConcurrencyConflict, ValidationFailed
from oficina_common.messages import Envelope
from oficina_common.messaging import RecordingPublisher


class Clock:
    def __init__(self, now: datetime | None = None):
        self.now = now or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class InMemoryBudgetRepository:
    def __init__(self, publisher: RecordingPublisher):
        self.publisher = publisher
        self.items: dict[tuple[str, int], Budget] = {}
        self.claims: dict[tuple[str, int], datetime] = {}
        self.lock = threading.Lock()

    def get(self, budget_id: str, version: int) -> Budget | None:
        return self.items.get((budget_id, version))

    def latest(self, budget_id: str) -> Budget | None:
        versions = self.versions(budget_id)
        return versions[-1] if versions else None

    def get_with_latest_version(self, budget_id: str, version: int) -> tuple[Budget | None, int]:
        later = [b.version for b in self.versions(budget_id) if b.version >= version]
        return self.get(budget_id, version), max(later, default=0)

    def versions(self, budget_id: str) -> list[Budget]:
        return sorted((b for (bid, _), b in self.items.items() if bid == budget_id), key=lambda b: b.version)

    def list_by_service_order(self, service_order_id: str) -> list[Budget]:
        ids = sorted({b.budget_id for b in self.items.values() if b.service_order_id == service_order_id})
        return [self.latest(i) for i in ids]

    def list_by_status(self, status: BudgetStatus, *, limit: int = 50,
                       page_token: str | None = None) -> Page[Budget]:
        """Pages as the status index gives them, each starting after the previous page's last key."""
        if page_token is not None and "|" not in page_token:
            raise ValidationFailed("Invalid page token.", code="invalid_page_token")
        found = sorted((b for b in self.items.values() if b.status == status), key=lambda b: (b.budget_id, b.version))
        after = page_token.split("|") if page_token else None
        page = [b for b in found if after is None or (b.budget_id, b.version) > (after[0], int(after[1]))][:limit]
        more = len(page) == limit and page[-1] is not found[-1]
        return Page(page, f"{page[-1].budget_id}|{page[-1].version}" if more else None)

    def due_for_expiry(self, now: datetime, *, limit: int = 100) -> list[tuple[str, int]]:
        due = [k for k, b in self.items.items() if b.status == BudgetStatus.PENDING_APPROVAL and b.expires_at <= now]
        return due[:limit]

    def add(self, budget: Budget, messages: Sequence[Envelope] = (), *,
            link_claimed_at: datetime | None = None) -> Budget:
        with self.lock:
            key = (budget.budget_id, budget.version)
            if key in self.items:
                raise AlreadyExists("exists")
            self.items[key] = budget
            if link_claimed_at is not None:
                self.claims[key] = link_claimed_at
        for message in messages:
            self.publisher.publish(message)
        return budget

    def save(self, budget: Budget, *, expected: Budget, messages: Sequence[Envelope] = ()) -> Budget:
        with self.lock:
            key = (budget.budget_id, budget.version)
            current = self.items.get(key)
            if current is None or current.status != expected.status or current.rev != expected.rev:
                raise ConcurrencyConflict("changed meanwhile")
            # As the table's: a move leaves the link's mark as mark_link_sent wrote it.
            saved = replace(budget, rev=expected.rev + 1, link_sent_at=current.link_sent_at)
            self.items[key] = saved
        for message in messages:
            self.publisher.publish(message)
        return saved

    def claim_link_sending(self, budget: Budget, now: datetime, *, stale_after: timedelta) -> bool:
        with self.lock:
            key = (budget.budget_id, budget.version)
            claimed = self.claims.get(key)
            if self.items[key].link_sent_at is not None or (claimed and claimed > now - stale_after):
                return False
            self.claims[key] = now
            return True

    def release_link_claim(self, budget: Budget) -> None:
        self.claims.pop((budget.budget_id, budget.version), None)

    def mark_link_sent(self, budget: Budget, when: datetime) -> None:
        key = (budget.budget_id, budget.version)
        self.items[key] = replace(self.items[key], link_sent_at=when)

    def republish(self, budget: Budget, messages: Sequence[Envelope]) -> None:
        for message in messages:
            self.publisher.publish(message)

    def sweep_outbox(self) -> int:
        return 0


class InMemoryApprovalTokenRepository:
    def __init__(self) -> None:
        self.items: dict[str, ApprovalToken] = {}

    def add(self, token: ApprovalToken) -> None:
        if token.token_hash in self.items:
            raise AlreadyExists("exists")
        self.items[token.token_hash] = token

    def get(self, token_hash: str, *, now: datetime | None = None,
            include_expired: bool = False) -> ApprovalToken | None:
        token = self.items.get(token_hash)
        if token is None or (not include_expired and token.is_expired(now or datetime.now(UTC))):
            return None
        return token

    def mark_used(self, token_hash: str, decision: str, when: datetime) -> None:
        token = self.items[token_hash]
        if token.used_decision and token.used_decision != decision:
            raise ConcurrencyConflict("used")
        self.items[token_hash] = replace(token, used_at=when, used_decision=decision)


class InMemoryPaymentRepository:
    def __init__(self, publisher: RecordingPublisher):
        self.publisher = publisher
        self.items: dict[str, Payment] = {}
        self.cursor: str | None = None
        self.lock = threading.Lock()

    def get(self, payment_id: str) -> Payment | None:
        return self.items.get(payment_id)

    def find_by_mercadopago_id(self, mercadopago_payment_id: str) -> Payment | None:
        return next((p for p in self.items.values() if p.mercadopago_payment_id == mercadopago_payment_id), None)

    def list_by_service_order(self, service_order_id: str, *, limit: int = 50,
                              page_token: str | None = None) -> Page[Payment]:
        return Page([p for p in self.items.values() if p.service_order_id == service_order_id][:limit])

    def list_by_budget(self, budget_id: str) -> list[Payment]:
        return [p for p in self.items.values() if p.budget_id == budget_id]

    def pending_created_before(self, cutoff: datetime, *, limit: int = 100,
                               page_token: str | None = None) -> Page[Payment]:
        """Pages as DynamoDB's index gives them: oldest first, the next page starting after the last
        key (whatever became of that payment since), a token whenever a page is full."""
        pending = sorted((p for p in self.items.values() if p.status == PaymentStatus.PENDING
                          and p.created_at <= cutoff), key=self._position)
        page = [p for p in pending if page_token is None or self._position(p) > tuple(page_token.split("|"))][:limit]
        return Page(page, "|".join(self._position(page[-1])) if len(page) == limit else None)

    @staticmethod
    def _position(payment: Payment) -> tuple[str, str]:
        return iso(payment.created_at), payment.payment_id

    def reconcile_cursor(self) -> str | None:
        return self.cursor

    def save_reconcile_cursor(self, page_token: str | None) -> None:
        self.cursor = page_token

    def add(self, payment: Payment, messages: Sequence[Envelope] = ()) -> Payment:
        with self.lock:
            if payment.payment_id in self.items:
                raise AlreadyExists("exists")
            self.items[payment.payment_id] = payment
        for message in messages:
            self.publisher.publish(message)
        return payment

    def save(self, payment: Payment, *, expected: Payment, messages: Sequence[Envelope] = ()) -> Payment:
        with self.lock:
            current = self.items.get(payment.payment_id)
            if current is None or current.status != expected.status or current.rev != expected.rev:
                raise ConcurrencyConflict("changed meanwhile")
            saved = replace(payment, rev=expected.rev + 1)
            self.items[payment.payment_id] = saved
        for message in messages:
            self.publisher.publish(message)
        return saved

    def republish(self, payment: Payment, messages: Sequence[Envelope]) -> None:
        for message in messages:
            self.publisher.publish(message)

    def sweep_outbox(self) -> int:
        return 0


@dataclass
class FakeMercadoPagoPayment:
    id: str
    status: str
    amount_cents: int
    external_reference: str
    status_detail: str = ""

    def view(self) -> MercadoPagoPayment:
        return MercadoPagoPayment(id=self.id, status=self.status, status_detail=self.status_detail,
                                  external_reference=self.external_reference, amount_cents=self.amount_cents,
                                  qr_code=f"pix-code-{self.id}", qr_code_base64="iVBORw0KGgo=",
                                  ticket_url=f"https://mp.example/payments/{self.id}/ticket")


class FakeMercadoPago:
    """Mercado Pago as the gateway sees it: idempotent by key (also for calls at the same moment),
    statuses set by the test."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.payments: dict[str, FakeMercadoPagoPayment] = {}
        self.keys: dict[str, str] = {}
        self.preferences: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, str] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail_next: Exception | None = None
        self._next = uuid.uuid4().int % 10**12  # unique across tests sharing the tables

    def _maybe_fail(self, call: str, key: str = "") -> None:
        self.calls.append((call, key))
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error

    def _new_id(self) -> str:
        self._next += 1
        return str(self._next)

    def create_pix_payment(self, *, idempotency_key: str, amount_cents: int, description: str, payer_email: str,
                           external_reference: str, notification_url: str) -> MercadoPagoPayment:
        self._maybe_fail("create_pix_payment", idempotency_key)
        with self.lock:
            if idempotency_key not in self.keys:
                payment = FakeMercadoPagoPayment(self._new_id(), "pending", amount_cents, external_reference)
                self.payments[payment.id] = payment
                self.keys[idempotency_key] = payment.id
            return self.payments[self.keys[idempotency_key]].view()

    def create_checkout_preference(self, *, idempotency_key: str, amount_cents: int, description: str,
                                   payer_email: str, external_reference: str,
                                   notification_url: str) -> CheckoutPreference:
        self._maybe_fail("create_checkout_preference", idempotency_key)
        with self.lock:
            preference_id = self.keys.setdefault(idempotency_key, f"pref-{self._new_id()}")
        self.preferences[preference_id] = {"external_reference": external_reference, "amount_cents": amount_cents}
        return CheckoutPreference(id=preference_id, init_point=f"https://mp.example/checkout/{preference_id}")

    def pay_checkout(self, preference_id: str, status: str = "approved") -> FakeMercadoPagoPayment:
        preference = self.preferences[preference_id]
        payment = FakeMercadoPagoPayment(self._new_id(), status, preference["amount_cents"],
                                         preference["external_reference"])
        self.payments[payment.id] = payment
        return payment

    def get_payment(self, mercadopago_payment_id: str) -> MercadoPagoPayment:
        self._maybe_fail("get_payment", mercadopago_payment_id)
        if mercadopago_payment_id not in self.payments:
            raise MercadoPagoNotFound("Mercado Pago answered 404.", status=404)
        return self.payments[mercadopago_payment_id].view()

    def find_payments(self, external_reference: str) -> list[MercadoPagoPayment]:
        self._maybe_fail("find_payments", external_reference)
        return [p.view() for p in self.payments.values() if p.external_reference == external_reference]

    def cancel_payment(self, mercadopago_payment_id: str, *, idempotency_key: str) -> MercadoPagoPayment:
        self._maybe_fail("cancel_payment", idempotency_key)
        with self.lock:
            payment = self.payments[mercadopago_payment_id]
            if payment.status not in ("pending", "in_process", "authorized", "cancelled"):
                raise MercadoPagoRefused(f"a payment with status {payment.status} cannot be cancelled", status=400)
            payment.status = "cancelled"
            return payment.view()

    def refund_payment(self, mercadopago_payment_id: str, *, idempotency_key: str) -> str:
        self._maybe_fail("refund_payment", idempotency_key)
        with self.lock:
            if idempotency_key in self.refunds:
                return self.refunds[idempotency_key]
            payment = self.payments[mercadopago_payment_id]
            if payment.status != "approved":
                raise MercadoPagoRefused(f"a payment with status {payment.status} cannot be refunded", status=400)
            payment.status = "refunded"
            self.refunds[idempotency_key] = f"refund-{mercadopago_payment_id}"
            return self.refunds[idempotency_key]

    def set_status(self, mercadopago_payment_id: str, status: str, detail: str = "") -> None:
        self.payments[mercadopago_payment_id].status = status
        self.payments[mercadopago_payment_id].status_detail = detail


@dataclass
class FakeBilling:
    """Everything a unit test drives: the fakes, the clock, what was published and scheduled."""

    deps: Dependencies
    publisher: RecordingPublisher
    mercadopago: FakeMercadoPago
    clock: Clock
    scheduled_emails: list[tuple[str, int]]
    notifications: list[tuple[str, str]]

    def published(self, message_type: str | None = None) -> list[Envelope]:
        return [e for e in self.publisher.published if message_type is None or e.type == message_type]


def fake_billing(*, send_emails_inline: bool = True) -> FakeBilling:
    publisher = RecordingPublisher()
    mercadopago = FakeMercadoPago()
    clock = Clock()
    scheduled: list[tuple[str, int]] = []
    notifications: list[tuple[str, str]] = []

    def schedule(budget_id: str, version: int) -> None:
        scheduled.append((budget_id, version))
        if send_emails_inline:
            from billing import services

            try:
                services.budget_send_approval_link(budget_id=budget_id, version=version)
            except ConcurrencyConflict:
                pass  # another sender holds the link's claim: the task would try again later

    deps = Dependencies(
        budgets=InMemoryBudgetRepository(publisher), payments=InMemoryPaymentRepository(publisher),
        approval_tokens=InMemoryApprovalTokenRepository(), mercadopago=mercadopago, publisher=publisher,
        schedule_approval_email=schedule,
        enqueue_notification=lambda mp_id, request_id: notifications.append((mp_id, request_id)),
        clock=clock,
    )
    return FakeBilling(deps=deps, publisher=publisher, mercadopago=mercadopago, clock=clock,
                       scheduled_emails=scheduled, notifications=notifications)
