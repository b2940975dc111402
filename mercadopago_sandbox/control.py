"""Control endpoints for tests and people; not part of Mercado Pago's API."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, jsonify, render_template, request
from werkzeug.wrappers import Response

from .errors import bad_request
from .faults import Fault, WebhookFault
from .web import current_sandbox, is_form_post, json_body, redirect_back

blueprint = Blueprint("sandbox_control", __name__, url_prefix="/sandbox")

SHORTCUTS = {"approve": "approved", "reject": "rejected", "cancel": "cancelled"}


@blueprint.get("/")
def index() -> str:
    sandbox = current_sandbox()
    return render_template(
        "sandbox_index.html",
        payments=sandbox.list_payments(),
        notifications=sandbox.notifications()[-20:][::-1],
    )


@blueprint.get("/payments")
def list_payments() -> Response:
    payments = current_sandbox().list_payments()
    return jsonify({"results": payments, "total": len(payments)})


@blueprint.post("/payments/<payment_id>/<any(approve, reject, cancel):action>")
def shortcut(payment_id: str, action: str) -> Response:
    detail = request.form.get("status_detail") if is_form_post() else _body().get("status_detail")
    payment = current_sandbox().set_status(payment_id, SHORTCUTS[action], detail or None)
    return _answer(payment)


@blueprint.post("/payments/<payment_id>/status")
def set_status(payment_id: str) -> Response:
    body = request.form.to_dict() if is_form_post() else _body()
    payment = current_sandbox().set_status(payment_id, body.get("status"), body.get("status_detail") or None)
    return _answer(payment)


@blueprint.get("/notifications")
def notifications() -> Response:
    attempts = current_sandbox().notifications(request.args.get("payment_id"))
    return jsonify({"results": attempts, "total": len(attempts)})


@blueprint.post("/notifications/<payment_id>/resend")
def resend(payment_id: str) -> tuple[Response, int] | Response:
    sent = current_sandbox().resend(payment_id)
    if is_form_post():
        return redirect_back("/sandbox/")
    return jsonify(sent), 202


MAX_FAULT_WINDOW_SECONDS = 3600


@blueprint.post("/faults")
def set_faults() -> Response:
    body = _body()
    try:
        seconds = _window(body)
        fault = Fault(delay_seconds=float(body.get("delay_seconds", 0)), status=int(body.get("status", 0)),
                      times=int(body.get("times", 1)), path_prefix=str(body.get("path_prefix", "/v1/")),
                      method=str(body.get("method", "")).upper(),
                      until=None if seconds is None else time.monotonic() + seconds)
    except (TypeError, ValueError):
        raise bad_request("delay_seconds, status, times and seconds must be numbers") from None
    if fault.times < 1 or not 0 <= fault.delay_seconds <= 60 or fault.status not in (0, *range(400, 600)):
        raise bad_request("times >= 1, delay_seconds 0..60, status 0 or 400..599")
    current_sandbox().faults.set(fault)
    return jsonify(fault.to_dict())


@blueprint.post("/faults/webhooks")
def set_webhook_faults() -> Response:
    """For a window, every notification is delivered ``copies`` times, each copy late by up to
    ``delay_seconds`` (at random: they arrive out of order)."""
    body = _body()
    try:
        seconds = _window(body)
        fault = WebhookFault(delay_seconds=float(body.get("delay_seconds", 0)), copies=int(body.get("copies", 1)),
                             until=time.monotonic() + (seconds or 0))
    except (TypeError, ValueError):
        raise bad_request("delay_seconds, copies and seconds must be numbers") from None
    if seconds is None or not 1 <= fault.copies <= 5 or not 0 <= fault.delay_seconds <= 60:
        raise bad_request(f"seconds 0..{MAX_FAULT_WINDOW_SECONDS} (required), copies 1..5, delay_seconds 0..60")
    current_sandbox().faults.set_webhooks(fault)
    return jsonify(fault.to_dict())


@blueprint.delete("/faults")
def clear_faults() -> Response:
    current_sandbox().faults.clear()
    return jsonify({})


def _window(body: dict[str, Any]) -> float | None:
    """The fault window's length in seconds, if the body names one."""
    if body.get("seconds") is None:
        return None
    seconds = float(body["seconds"])
    if not 0 < seconds <= MAX_FAULT_WINDOW_SECONDS:
        raise ValueError(seconds)
    return seconds


@blueprint.post("/reset")
def reset() -> Response:
    current_sandbox().reset()
    if is_form_post():
        return redirect_back("/sandbox/")
    return jsonify({"reset": True})


def _body() -> dict[str, Any]:
    body = json_body()
    return body if isinstance(body, dict) else {}


def _answer(payment: dict[str, Any]) -> Response:
    if is_form_post():
        return redirect_back("/sandbox/")
    return jsonify(payment)
