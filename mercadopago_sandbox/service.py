"""The sandbox's behaviour: payments, refunds, preferences and their notifications."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from . import models
from .config import SandboxConfig
from .errors import bad_request, not_found
from .faults import Faults
from .notifier import Delivery, Notifier
from .store import State, Store

SEARCH_SORTS = ("date_created", "date_approved", "date_last_updated", "id")
SEARCH_FILTERS = ("external_reference", "status", "payment_method_id", "payment_type_id")
MAX_SEARCH_LIMIT = 1000


class Sandbox:
    def __init__(self, config: SandboxConfig, store: Store, notifier: Notifier) -> None:
        self.config = config
        self.store = store
        self.notifier = notifier
        self.faults = Faults()

    # Mercado Pago API -------------------------------------------------------

    def create_payment(self, body: Any, idempotency_key: str | None, base_url: str) -> dict[str, Any]:
        fields = models.validate_payment(models.require_object(body))
        deliveries: list[Delivery] = []
        with self.store.transaction() as state:
            existing = self._idempotent(state, f"payment:{idempotency_key}", idempotency_key)
            if existing is not None:
                return copy.deepcopy(state["payments"][str(existing)])
            payment_id = Store.next_id(state, "payment")
            payment = models.build_payment(payment_id, fields, self.config.collector_id, base_url)
            state["payments"][str(payment_id)] = payment
            if idempotency_key:
                state["idempotency"][f"payment:{idempotency_key}"] = payment_id
            if self.config.notify_on_create:
                deliveries += self._notification(state, payment, "payment.created")
            result = copy.deepcopy(payment)
        self._deliver(deliveries)
        return result

    def get_payment(self, payment_id: str) -> dict[str, Any]:
        with self.store.transaction(write=False) as state:
            return copy.deepcopy(self._payment(state, payment_id))

    def search_payments(self, params: Mapping[str, str]) -> dict[str, Any]:
        limit = _int_param(params, "limit", 30, 1, MAX_SEARCH_LIMIT)
        offset = _int_param(params, "offset", 0, 0, None)
        sort = params.get("sort") or "date_created"
        if sort not in SEARCH_SORTS:
            raise bad_request(f"sort must be one of {', '.join(SEARCH_SORTS)}")
        criteria = params.get("criteria") or "asc"
        if criteria not in ("asc", "desc"):
            raise bad_request("criteria must be asc or desc")
        with self.store.transaction(write=False) as state:
            matches = [p for p in state["payments"].values() if _matches(p, params)]
            matches.sort(key=_sort_key(sort), reverse=criteria == "desc")
            page = copy.deepcopy(matches[offset : offset + limit])
        return {"paging": {"total": len(matches), "limit": limit, "offset": offset}, "results": page}

    def update_payment(self, payment_id: str, body: Any) -> dict[str, Any]:
        body = models.require_object(body)
        unsupported = set(body) - {"status", "capture", "metadata", "date_of_expiration"}
        if unsupported:
            raise bad_request(f"cannot update {', '.join(sorted(unsupported))}")
        deliveries: list[Delivery] = []
        with self.store.transaction() as state:
            payment = self._payment(state, payment_id)
            new_status = _requested_status(payment, body)
            self._update_fields(payment, body)
            if new_status is not None and new_status != payment["status"]:
                models.apply_status(payment, new_status)
                deliveries += self._notification(state, payment, "payment.updated")
            result = copy.deepcopy(payment)
        self._deliver(deliveries)
        return result

    def create_refund(self, payment_id: str, body: Any, idempotency_key: str | None) -> dict[str, Any]:
        body = models.require_object({} if body is None else body)
        deliveries: list[Delivery] = []
        with self.store.transaction() as state:
            payment = self._payment(state, payment_id)
            scope = f"refund:{payment['id']}:{idempotency_key}"
            existing = self._idempotent(state, scope, idempotency_key)
            if existing is not None:
                return copy.deepcopy(_find_refund(payment, existing))
            amount = _refund_amount(payment, body)
            metadata = models.optional_dict(body, "metadata")
            refund = models.build_refund(Store.next_id(state, "refund"), payment, amount, metadata)
            _apply_refund(payment, refund, amount)
            if idempotency_key:
                state["idempotency"][scope] = refund["id"]
            deliveries += self._notification(state, payment, "payment.updated")
            result = copy.deepcopy(refund)
        self._deliver(deliveries)
        return result

    def list_refunds(self, payment_id: str) -> list[dict[str, Any]]:
        return self.get_payment(payment_id)["refunds"]

    def get_refund(self, payment_id: str, refund_id: str) -> dict[str, Any]:
        payment = self.get_payment(payment_id)
        if not refund_id.isdigit():
            raise not_found("Refund not found")
        return _find_refund(payment, int(refund_id))

    def create_preference(self, body: Any, base_url: str) -> dict[str, Any]:
        body = models.require_object(body)
        preference = models.build_preference(body, self.config.collector_id, base_url)
        with self.store.transaction() as state:
            state["preferences"][preference["id"]] = preference
        return copy.deepcopy(preference)

    def get_preference(self, preference_id: str) -> dict[str, Any]:
        with self.store.transaction(write=False) as state:
            return copy.deepcopy(self._preference(state, preference_id))

    # Checkout page ------------------------------------------------------------

    def pay_preference(self, preference_id: str, approve: bool) -> dict[str, Any]:
        """A person paid (or failed to pay) on the checkout page."""
        deliveries: list[Delivery] = []
        with self.store.transaction() as state:
            preference = self._preference(state, preference_id)
            paid = self._approved_payment_for(state, preference_id)
            if paid is not None:
                return copy.deepcopy(paid)
            payment = self._checkout_payment(state, preference, approve)
            state["preference_payments"].setdefault(preference_id, []).append(payment["id"])
            deliveries += self._notification(state, payment, "payment.created")
            result = copy.deepcopy(payment)
        self._deliver(deliveries)
        return result

    def preference_payments(self, preference_id: str) -> list[dict[str, Any]]:
        with self.store.transaction(write=False) as state:
            ids = state["preference_payments"].get(preference_id, [])
            return [copy.deepcopy(state["payments"][str(i)]) for i in ids]

    # Control endpoints ----------------------------------------------------------

    def set_status(self, payment_id: str, status: Any, status_detail: Any = None) -> dict[str, Any]:
        if status not in models.STATUSES:
            raise bad_request(f"status must be one of {', '.join(models.STATUSES)}")
        if status_detail is not None and not isinstance(status_detail, str):
            raise bad_request("status_detail must be a string")
        deliveries: list[Delivery] = []
        with self.store.transaction() as state:
            payment = self._payment(state, payment_id)
            if _status_changes(payment, status, status_detail):
                models.apply_status(payment, status, status_detail)
                deliveries += self._notification(state, payment, "payment.updated")
            result = copy.deepcopy(payment)
        self._deliver(deliveries)
        return result

    def list_payments(self) -> list[dict[str, Any]]:
        with self.store.transaction(write=False) as state:
            payments = copy.deepcopy(list(state["payments"].values()))
        return sorted(payments, key=lambda p: p["id"], reverse=True)

    def notifications(self, payment_id: str | None = None) -> list[dict[str, Any]]:
        attempts = self.store.attempts()
        if payment_id is None:
            return attempts
        return [a for a in attempts if a["payment_id"] == payment_id]

    def resend(self, payment_id: str) -> dict[str, Any]:
        with self.store.transaction() as state:
            payment = self._payment(state, payment_id)
            url = self._notification_url(payment)
            if url is None:
                raise bad_request("the payment has no notification_url to notify")
            payload = state["last_notifications"].get(str(payment["id"]))
            if payload is None:
                return self._resend_fresh(state, payment)
        delivery = Delivery(url=url, payload=payload)
        self._deliver([delivery])
        return {"url": delivery.target, "payload": payload}

    def reset(self) -> None:
        self.notifier.cancel_pending()
        self.store.reset()

    # Internals ----------------------------------------------------------------

    def _resend_fresh(self, state: State, payment: dict[str, Any]) -> dict[str, Any]:
        deliveries = self._notification(state, payment, "payment.updated")
        self._deliver(deliveries)
        return {"url": deliveries[0].target, "payload": deliveries[0].payload}

    @staticmethod
    def _idempotent(state: State, scope: str, key: str | None) -> int | None:
        return state["idempotency"].get(scope) if key else None

    @staticmethod
    def _payment(state: State, payment_id: str) -> dict[str, Any]:
        payment = state["payments"].get(str(payment_id).strip())
        if payment is None:
            raise not_found("Payment not found")
        return payment

    @staticmethod
    def _preference(state: State, preference_id: str) -> dict[str, Any]:
        preference = state["preferences"].get(preference_id)
        if preference is None:
            raise not_found("Preference not found", 2001)
        return preference

    @staticmethod
    def _approved_payment_for(state: State, preference_id: str) -> dict[str, Any] | None:
        for payment_id in state["preference_payments"].get(preference_id, []):
            payment = state["payments"][str(payment_id)]
            if payment["status"] == "approved":
                return payment
        return None

    def _checkout_payment(self, state: State, preference: dict[str, Any], approve: bool) -> dict[str, Any]:
        items = preference["items"]
        payer = {"email": "test_user@testuser.com", **preference.get("payer", {})}
        fields = {
            "amount": models.items_total(items),
            "method": "account_money" if approve else "visa",
            "payer": payer,
            "description": items[0]["title"],
            "external_reference": preference["external_reference"] or None,
            "notification_url": preference["notification_url"],
            "metadata": preference["metadata"],
        }
        payment_id = Store.next_id(state, "payment")
        status = "approved" if approve else "rejected"
        payment = models.build_payment(payment_id, fields, self.config.collector_id, "", status=status)
        state["payments"][str(payment_id)] = payment
        return payment

    @staticmethod
    def _update_fields(payment: dict[str, Any], body: dict[str, Any]) -> None:
        if "metadata" in body:
            payment["metadata"] = models.optional_dict(body, "metadata")
        if "date_of_expiration" in body:
            payment["date_of_expiration"] = models.optional_text(body, "date_of_expiration")
        if body.keys() & {"metadata", "date_of_expiration"}:
            payment["date_last_updated"] = models.iso(models.now())

    def _notification_url(self, payment: dict[str, Any]) -> str | None:
        return payment.get("notification_url") or self.config.default_notification_url

    def _notification(self, state: State, payment: dict[str, Any], action: str) -> list[Delivery]:
        notification_id = Store.next_id(state, "notification")
        payload = models.notification_payload(notification_id, payment["id"], action, self.config.collector_id)
        state["last_notifications"][str(payment["id"])] = payload
        url = self._notification_url(payment)
        return [Delivery(url=url, payload=payload)] if url else []

    def _deliver(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            for delay in self.faults.webhook_delays():  # one copy, at once, unless a fault window says otherwise
                self.notifier.deliver(delivery, delay=delay)


def _int_param(params: Mapping[str, str], name: str, default: int, minimum: int, maximum: int | None) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name} must be an integer") from None
    if value < minimum:
        raise bad_request(f"{name} must be at least {minimum}")
    return min(value, maximum) if maximum is not None else value


def _matches(payment: dict[str, Any], params: Mapping[str, str]) -> bool:
    if params.get("id") and str(payment["id"]) != params["id"]:
        return False
    return all(str(payment.get(name) or "") == params[name] for name in SEARCH_FILTERS if params.get(name))


def _sort_key(field: str) -> Callable[[dict[str, Any]], Any]:
    if field == "id":
        return lambda payment: payment["id"]
    return lambda payment: (payment.get(field) or "", payment["id"])


def _status_changes(payment: dict[str, Any], status: str, detail: str | None) -> bool:
    return payment["status"] != status or detail not in (None, payment["status_detail"])


def _requested_status(payment: dict[str, Any], body: dict[str, Any]) -> str | None:
    if "status" in body:
        if body["status"] != "cancelled":
            raise bad_request("status can only be updated to cancelled", 4040)
        if payment["status"] == "cancelled":
            return None
        if payment["status"] not in models.CANCELLABLE:
            raise bad_request(f"a payment with status {payment['status']} cannot be cancelled", 4041)
        return "cancelled"
    if body.get("capture") is True:
        if payment["status"] != "authorized":
            raise bad_request("only authorized payments can be captured", 4042)
        return "approved"
    return None


def _refund_amount(payment: dict[str, Any], body: dict[str, Any]) -> Decimal:
    if payment["status"] != "approved":
        raise bad_request(f"a payment with status {payment['status']} cannot be refunded", 4043)
    remaining = models.remaining_amount(payment)
    if body.get("amount") is None:
        return remaining
    amount = models.parse_amount(body["amount"], "amount", 4044)
    if amount > remaining:
        raise bad_request(f"amount exceeds the refundable {remaining}", 4044)
    return amount


def _apply_refund(payment: dict[str, Any], refund: dict[str, Any], amount: Decimal) -> None:
    payment["refunds"].append(refund)
    refunded = Decimal(str(payment["transaction_amount_refunded"])) + amount
    payment["transaction_amount_refunded"] = models.to_money(refunded)
    if models.remaining_amount(payment) == 0:
        models.apply_status(payment, "refunded", "refunded")
    else:
        payment["status_detail"] = "partially_refunded"
        payment["date_last_updated"] = models.iso(models.now())


def _find_refund(payment: dict[str, Any], refund_id: int) -> dict[str, Any]:
    for refund in payment["refunds"]:
        if refund["id"] == refund_id:
            return refund
    raise not_found("Refund not found")
