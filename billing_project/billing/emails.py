"""The e-mail that carries a budget's approval link to the customer (Portuguese, plain text + HTML)."""
from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from oficina_common.mail import workshop_reply_to

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
        # Several jobs: the customer may approve some and decline others on the page.
        "choose": len(budget.open_jobs) > 1,
        "tracking_url": budget.tracking_url,
    }
    subject = (f"Reparo adicional na OS {order}: precisamos da sua aprovação" if budget.is_revision
               else f"Seu orçamento da OS {order} está pronto")
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("billing/email/budget_approval.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[budget.customer_email],
        reply_to=workshop_reply_to(),  # the e-mail invites a reply; the sender is a no-reply address
    )
    message.attach_alternative(render_to_string("billing/email/budget_approval.html", context), "text/html")
    message.send()
