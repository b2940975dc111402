"""The e-mail that carries a budget's approval link to the customer (Portuguese, plain text + HTML)."""
from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from .domain import Budget


def brl(cents: int) -> str:
    """``123456`` -> ``R$ 1.234,56``."""
    reais, centavos = divmod(abs(int(cents)), 100)
    grouped = f"{reais:,}".replace(",", ".")
    sign = "-" if cents < 0 else ""
    return f"{sign}R$ {grouped},{centavos:02d}"


def send_approval_email(budget: Budget, link: str) -> None:
    order = budget.order_number or budget.service_order_id
    context = {
        "budget": budget,
        "order": order,
        "customer_name": budget.customer_name or "cliente",
        "lines": [{"description": line.description, "quantity": line.quantity,
                   "unit_price": brl(line.unit_price_cents), "total": brl(line.total_cents)}
                  for line in budget.lines],
        "total": brl(budget.total_cents),
        "additional_total": brl(budget.additional_total_cents) if budget.is_revision else "",
        "expires_at": budget.expires_at.strftime("%d/%m/%Y %H:%M UTC"),
        "link": link,
        "tracking_url": budget.tracking_url,
    }
    subject = (f"Orçamento adicional da OS {order}: aprove ou recuse" if budget.is_revision
               else f"Orçamento da OS {order}: aprove ou recuse")
    send_mail(
        subject,
        render_to_string("billing/email/budget_approval.txt", context),
        settings.DEFAULT_FROM_EMAIL,
        [budget.customer_email],
        html_message=render_to_string("billing/email/budget_approval.html", context),
    )
