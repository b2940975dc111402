"""The Mercado Pago REST API surface (``/v1/payments``, ``/checkout/preferences``)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from werkzeug.wrappers import Response

from .errors import unauthorized
from .web import base_url, current_sandbox, json_body

blueprint = Blueprint("mercadopago_api", __name__)


@blueprint.before_request
def require_bearer_token() -> None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized()


def _idempotency_key() -> str | None:
    return request.headers.get("X-Idempotency-Key") or None


@blueprint.before_request
def simulated_faults() -> None:
    current_sandbox().faults.apply(request.method, request.path)


@blueprint.post("/v1/payments")
def create_payment() -> tuple[Response, int]:
    payment = current_sandbox().create_payment(json_body(), _idempotency_key(), base_url())
    return jsonify(payment), 201


@blueprint.get("/v1/payments/search")
def search_payments() -> Response:
    return jsonify(current_sandbox().search_payments(request.args))


@blueprint.get("/v1/payments/<payment_id>")
def get_payment(payment_id: str) -> Response:
    return jsonify(current_sandbox().get_payment(payment_id))


@blueprint.put("/v1/payments/<payment_id>")
def update_payment(payment_id: str) -> Response:
    return jsonify(current_sandbox().update_payment(payment_id, json_body()))


@blueprint.post("/v1/payments/<payment_id>/refunds")
def create_refund(payment_id: str) -> tuple[Response, int]:
    refund = current_sandbox().create_refund(payment_id, json_body(), _idempotency_key())
    return jsonify(refund), 201


@blueprint.get("/v1/payments/<payment_id>/refunds")
def list_refunds(payment_id: str) -> Response:
    return jsonify(current_sandbox().list_refunds(payment_id))


@blueprint.get("/v1/payments/<payment_id>/refunds/<refund_id>")
def get_refund(payment_id: str, refund_id: str) -> Response:
    return jsonify(current_sandbox().get_refund(payment_id, refund_id))


@blueprint.post("/checkout/preferences")
def create_preference() -> tuple[Response, int]:
    return jsonify(current_sandbox().create_preference(json_body(), base_url())), 201


@blueprint.get("/checkout/preferences/<preference_id>")
def get_preference(preference_id: str) -> Response:
    return jsonify(current_sandbox().get_preference(preference_id))
