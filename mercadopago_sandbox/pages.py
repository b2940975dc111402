"""Pages a person sees: the checkout behind ``init_point`` and the Pix ticket."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, redirect, render_template, request
from werkzeug.wrappers import Response

from . import models
from .web import current_sandbox

blueprint = Blueprint("sandbox_pages", __name__)


@blueprint.get("/checkout/<preference_id>")
def checkout(preference_id: str) -> str:
    sandbox = current_sandbox()
    preference = sandbox.get_preference(preference_id)
    return render_template(
        "checkout.html",
        preference=preference,
        total=models.to_money(models.items_total(preference["items"])),
        payments=sandbox.preference_payments(preference_id),
    )


@blueprint.post("/checkout/<preference_id>/pay")
def pay(preference_id: str) -> Response | str:
    sandbox = current_sandbox()
    approve = request.form.get("outcome", "approve") != "reject"
    payment = sandbox.pay_preference(preference_id, approve)
    preference = sandbox.get_preference(preference_id)
    back_url = _back_url(preference, payment)
    auto_return = preference["auto_return"] in ("approved", "all")
    if back_url and auto_return and payment["status"] == "approved":
        return redirect(back_url, code=303)
    return render_template("checkout_result.html", payment=payment, back_url=back_url, preference=preference)


@blueprint.get("/payments/<payment_id>/ticket")
def ticket(payment_id: str) -> str:
    payment = current_sandbox().get_payment(payment_id)
    transaction = payment.get("point_of_interaction", {}).get("transaction_data", {})
    return render_template("ticket.html", payment=payment, transaction=transaction)


def _back_url(preference: dict[str, Any], payment: dict[str, Any]) -> str | None:
    key = {"approved": "success", "rejected": "failure"}.get(payment["status"], "pending")
    url = preference["back_urls"].get(key)
    if not url:
        return None
    params = {
        "collection_id": payment["id"],
        "collection_status": payment["status"],
        "payment_id": payment["id"],
        "status": payment["status"],
        "external_reference": payment["external_reference"] or "null",
        "payment_type": payment["payment_type_id"],
        "preference_id": preference["id"],
        "site_id": "MLB",
    }
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
