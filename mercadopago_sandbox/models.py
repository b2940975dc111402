"""Validation of request bodies and construction of Mercado Pago shaped objects."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from . import pix
from .errors import bad_request

STATUSES = (
    "pending",
    "approved",
    "authorized",
    "in_process",
    "in_mediation",
    "rejected",
    "cancelled",
    "refunded",
    "charged_back",
)
CANCELLABLE = frozenset({"pending", "in_process", "authorized"})
CARD_METHODS = frozenset({"visa", "master", "amex", "elo", "hipercard", "cabal", "debvisa", "debmaster", "debelo"})
TICKET_METHODS = frozenset({"bolbradesco", "pec"})
PAYMENT_TYPES = {"pix": "bank_transfer", "account_money": "account_money"}
STATUS_DETAILS = {
    "approved": "accredited",
    "authorized": "pending_capture",
    "in_process": "pending_review_manual",
    "in_mediation": "in_mediation",
    "rejected": "cc_rejected_other_reason",
    "cancelled": "by_collector",
    "refunded": "refunded",
    "charged_back": "settled",
}
BRT = timezone(timedelta(hours=-3))
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CENT = Decimal("0.01")
PIX_KEY = "sandbox@oficina.example"


def now() -> datetime:
    return datetime.now(BRT)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def to_money(value: Decimal) -> float:
    return float(value.quantize(CENT))


def parse_amount(value: Any, field: str, code: int = 4037) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise bad_request(f"{field} must be a positive number", code)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise bad_request(f"{field} must be a positive number", code) from None
    if not amount.is_finite() or amount <= 0:
        raise bad_request(f"{field} must be a positive number", code)
    return amount.quantize(CENT)


def validate_url(value: Any, field: str = "notification_url") -> str | None:
    if value is None:
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise bad_request(f"{field} attribute must be url valid", 4020)
    return value


def optional_text(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise bad_request(f"{field} must be a string")
    return str(value)


def optional_dict(body: dict[str, Any], field: str) -> dict[str, Any]:
    value = body.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request(f"{field} must be an object")
    return value


def require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    return body


def payment_type(method: str) -> str:
    if method in CARD_METHODS:
        return "debit_card" if method.startswith("deb") else "credit_card"
    if method in TICKET_METHODS:
        return "ticket"
    return PAYMENT_TYPES[method]


def validate_payment(body: dict[str, Any]) -> dict[str, Any]:
    """Return the cleaned fields of a ``POST /v1/payments`` body or raise a 400."""
    amount = parse_amount(body.get("transaction_amount"), "transaction_amount")
    method = body.get("payment_method_id")
    known = CARD_METHODS | TICKET_METHODS | set(PAYMENT_TYPES)
    if not isinstance(method, str) or method not in known:
        raise bad_request("payment_method_id is invalid or not supported", 4050)
    if method in CARD_METHODS and not body.get("token"):
        raise bad_request("token is required for card payments", 2006)
    payer = optional_dict(body, "payer")
    if not isinstance(payer.get("email"), str) or not EMAIL_RE.match(payer["email"]):
        raise bad_request("payer.email must be a valid email", 4050)
    installments = body.get("installments", 1)
    if isinstance(installments, bool) or not isinstance(installments, int) or installments < 1:
        raise bad_request("installments must be a positive integer", 3011)
    return {
        "amount": amount,
        "method": method,
        "payer": payer,
        "installments": installments,
        "description": optional_text(body, "description"),
        "external_reference": optional_text(body, "external_reference"),
        "notification_url": validate_url(body.get("notification_url")),
        "metadata": optional_dict(body, "metadata"),
        "additional_info": optional_dict(body, "additional_info"),
        "statement_descriptor": optional_text(body, "statement_descriptor"),
        "date_of_expiration": optional_text(body, "date_of_expiration"),
    }


def default_status_detail(status: str, method: str) -> str:
    if status == "pending":
        return "pending_waiting_transfer" if method == "pix" else "pending_waiting_payment"
    if status == "rejected" and method not in CARD_METHODS:
        return "rejected_by_bank"
    return STATUS_DETAILS[status]


def build_payment(
    payment_id: int, fields: dict[str, Any], collector_id: int, base_url: str, status: str = "pending"
) -> dict[str, Any]:
    created = now()
    method: str = fields["method"]
    amount: Decimal = fields["amount"]
    expiration = fields.get("date_of_expiration") or iso(created + timedelta(days=1))
    payment = {
        "id": payment_id,
        "date_created": iso(created),
        "date_approved": None,
        "date_last_updated": iso(created),
        "date_of_expiration": expiration,
        "money_release_date": None,
        "operation_type": "regular_payment",
        "issuer_id": None,
        "payment_method_id": method,
        "payment_type_id": payment_type(method),
        "payment_method": {"id": method, "type": payment_type(method)},
        "status": status,
        "status_detail": default_status_detail(status, method),
        "currency_id": "BRL",
        "description": fields.get("description"),
        "live_mode": False,
        "collector_id": collector_id,
        "payer": {"id": None, "type": None, **fields["payer"]},
        "metadata": fields.get("metadata") or {},
        "additional_info": fields.get("additional_info") or {},
        "external_reference": fields.get("external_reference"),
        "transaction_amount": to_money(amount),
        "transaction_amount_refunded": 0,
        "installments": fields.get("installments", 1),
        "captured": True,
        "binary_mode": False,
        "statement_descriptor": fields.get("statement_descriptor"),
        "notification_url": fields.get("notification_url"),
        "refunds": [],
        "fee_details": [],
        "transaction_details": {
            "net_received_amount": 0,
            "total_paid_amount": to_money(amount),
            "overpaid_amount": 0,
            "installment_amount": 0,
            "external_resource_url": None,
            "financial_institution": None,
            "payment_method_reference_id": None,
        },
        "point_of_interaction": {},
    }
    ticket_url = f"{base_url}/payments/{payment_id}/ticket"
    if method == "pix":
        payment["point_of_interaction"] = pix_point_of_interaction(payment_id, amount, ticket_url)
    elif method in TICKET_METHODS:
        payment["transaction_details"]["external_resource_url"] = ticket_url
    if status == "approved":
        mark_approved(payment)
    return payment


def pix_point_of_interaction(payment_id: int, amount: Decimal, ticket_url: str) -> dict[str, Any]:
    txid = f"mpsandbox{payment_id}"
    code = pix.pix_copy_paste(PIX_KEY, amount, txid, "OFICINA SANDBOX", "SAO PAULO")
    return {
        "type": "OPENPLATFORM",
        "sub_type": None,
        "application_data": {"name": None, "version": None},
        "transaction_data": {
            "qr_code": code,
            "qr_code_base64": pix.qr_png_base64(code),
            "ticket_url": ticket_url,
            "transaction_id": None,
            "bank_transfer_id": None,
            "financial_institution": None,
            "bank_info": {
                "payer": {"account_id": None, "id": None, "long_name": None},
                "collector": {"account_holder_name": "Oficina Sandbox", "long_name": None},
                "is_same_bank_account_owner": None,
            },
        },
    }


def mark_approved(payment: dict[str, Any]) -> None:
    moment = iso(now())
    payment["date_approved"] = payment.get("date_approved") or moment
    payment["money_release_date"] = payment.get("money_release_date") or moment
    payment["transaction_details"]["net_received_amount"] = payment["transaction_amount"]
    if payment["payment_method_id"] == "pix":
        payment["point_of_interaction"]["transaction_data"]["transaction_id"] = f"PIXE{payment['id']}"


def apply_status(payment: dict[str, Any], status: str, detail: str | None = None) -> None:
    payment["status"] = status
    payment["status_detail"] = detail or default_status_detail(status, payment["payment_method_id"])
    payment["date_last_updated"] = iso(now())
    if status == "approved":
        mark_approved(payment)


def remaining_amount(payment: dict[str, Any]) -> Decimal:
    paid = Decimal(str(payment["transaction_amount"]))
    refunded = Decimal(str(payment.get("transaction_amount_refunded") or 0))
    return (paid - refunded).quantize(CENT)


def build_refund(refund_id: int, payment: dict[str, Any], amount: Decimal, metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": refund_id,
        "payment_id": payment["id"],
        "amount": to_money(amount),
        "metadata": metadata,
        "source": {"id": str(payment["collector_id"]), "name": "Oficina Sandbox", "type": "collector"},
        "date_created": iso(now()),
        "unique_sequence_number": None,
        "refund_mode": "standard",
        "adjustment_amount": 0,
        "status": "approved",
        "reason": None,
        "labels": [],
        "amount_refunded_to_payer": to_money(amount),
        "partition_details": [],
    }


def validate_items(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise bad_request("items must be a non-empty list", 3001)
    return [_validate_item(item, index) for index, item in enumerate(raw)]


def _validate_item(item: Any, index: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise bad_request(f"items[{index}] must be an object", 3001)
    title = item.get("title")
    if not isinstance(title, str) or not title.strip():
        raise bad_request(f"items[{index}].title is required", 3002)
    quantity = item.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise bad_request(f"items[{index}].quantity must be a positive integer", 3003)
    unit_price = parse_amount(item.get("unit_price"), f"items[{index}].unit_price", 3004)
    return {
        **item,
        "id": str(item.get("id") or index + 1),
        "title": title,
        "quantity": quantity,
        "unit_price": to_money(unit_price),
        "currency_id": item.get("currency_id") or "BRL",
    }


def items_total(items: list[dict[str, Any]]) -> Decimal:
    total = sum(Decimal(str(i["unit_price"])) * i["quantity"] for i in items)
    return Decimal(total).quantize(CENT)


def build_preference(body: dict[str, Any], collector_id: int, base_url: str) -> dict[str, Any]:
    items = validate_items(body.get("items"))
    preference_id = f"{collector_id}-{uuid.uuid4()}"
    checkout_url = f"{base_url}/checkout/{preference_id}"
    back_urls = optional_dict(body, "back_urls")
    return {
        "id": preference_id,
        "collector_id": collector_id,
        "client_id": str(collector_id),
        "site_id": "MLB",
        "operation_type": "regular_payment",
        "items": items,
        "payer": optional_dict(body, "payer"),
        "back_urls": {key: back_urls.get(key, "") for key in ("success", "pending", "failure")},
        "auto_return": optional_text(body, "auto_return") or "",
        "external_reference": optional_text(body, "external_reference") or "",
        "notification_url": validate_url(body.get("notification_url")),
        "metadata": optional_dict(body, "metadata"),
        "statement_descriptor": optional_text(body, "statement_descriptor"),
        "payment_methods": optional_dict(body, "payment_methods"),
        "expires": bool(body.get("expires", False)),
        "expiration_date_from": optional_text(body, "expiration_date_from"),
        "expiration_date_to": optional_text(body, "expiration_date_to"),
        "date_created": iso(now()),
        "marketplace": "NONE",
        "init_point": checkout_url,
        "sandbox_init_point": checkout_url,
    }


def notification_payload(notification_id: int, payment_id: int, action: str, user_id: int) -> dict[str, Any]:
    return {
        "action": action,
        "api_version": "v1",
        "data": {"id": str(payment_id)},
        "date_created": iso(now()),
        "id": notification_id,
        "live_mode": False,
        "type": "payment",
        "user_id": str(user_id),
    }
