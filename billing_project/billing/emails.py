"""The e-mail that carries a budget's approval link to the customer (Portuguese, plain text + HTML)."""
from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from .domain import Budget
from .formatting import brl, first_name, local_time

__all__ = ["brl", "send_approval_email"]


def send_approval_email(budget: Budget, link: str) -> None:
    """``link`` is absolute (PUBLIC_BASE_URL): the customer opens it from a phone's mail app."""
    order = budget.order_number or budget.service_order_id
    context = {
        "budget": budget,
        "order": order,
        "customer_name": first_name(budget.customer_name),
        "lines": [{"description": line.description, "quantity": line.quantity,
                   "unit_price": brl(line.unit_price_cents), "total": brl(line.total_cents)}
                  for line in budget.lines],
        "total": brl(budget.total_cents),
        "additional_total": brl(budget.additional_total_cents) if budget.is_revision else "",
        "expires_at": local_time(budget.expires_at),
        "link": link,
        "tracking_url": budget.tracking_url,
    }
    subject = (f"Reparo adicional na OS {order}: precisamos da sua aprovação" if budget.is_revision
               else f"Seu orçamento da OS {order} está pronto")
    send_mail(
        subject,
        render_to_string("billing/email/budget_approval.txt", context),
        settings.DEFAULT_FROM_EMAIL,
        [budget.customer_email],
        html_message=render_to_string("billing/email/budget_approval.html", context),
    )
