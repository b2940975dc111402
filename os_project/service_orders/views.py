"""The customer's tracking page (HTML, Portuguese, phone-friendly): the link in every e-mail."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.money import cents_to_decimal
from customers.domain import first_name
from notifications.services import NEXT_STEP
from oficina_common.errors import NotFound

from . import selectors
from .domain import ACTIVE_ORDER, LABELS, Status
from .serializers import summary_of, totals_data

BUDGET_STATUS = {
    "PENDING_APPROVAL": "Aguardando sua aprovação",
    "APPROVED": "Aprovado",
    "REJECTED": "Recusado",
    "SUPERSEDED": "Substituído por uma nova versão",
    "EXPIRED": "Expirado",
    "CANCELLED": "Cancelado",
}
PAYMENT_STATUS = {
    "PENDING": "Aguardando pagamento",
    "APPROVED": "Pago",
    "REJECTED": "Recusado",
    "CANCELLED": "Cancelado",
    "REFUNDED": "Estornado",
}
# The happy path, drawn as the timeline's steps.
JOURNEY = (*reversed(ACTIVE_ORDER), Status.FINISHED, Status.DELIVERED)


def _money(cents: Any) -> str | None:
    if isinstance(cents, int) and not isinstance(cents, bool):
        return "R$ " + cents_to_decimal(cents).replace(".", ",")
    return None


@require_GET
def track_page(request: HttpRequest, tracking_code: str) -> HttpResponse:
    try:
        order = selectors.service_order_by_tracking_code(tracking_code)
    except NotFound:
        return render(request, "service_orders/track_not_found.html", status=404)
    reached = {entry.to_status: entry.at for entry in order.status_history.all()}
    steps = [{"label": LABELS[status], "at": reached.get(status.value), "current": order.status == status,
              "done": status.value in reached} for status in JOURNEY]
    budget, payment = summary_of(order, "budget"), summary_of(order, "payment")
    context = {
        "customer_time_zone": settings.CUSTOMER_TIME_ZONE,
        "order": order,
        "customer_first_name": first_name(order.customer.name),
        "status_label": LABELS[Status(order.status)],
        "cancelled": order.status == Status.CANCELLED,
        "next_step": NEXT_STEP.get(order.status, ""),
        "steps": steps,
        "history": order.status_history.all(),
        "labels": {s.value: LABELS[s] for s in Status},
        "total": _money(totals_data(order)["total_cents"]),
        "items": [{"description": item.description, "quantity": item.quantity, "total": _money(item.total_cents)}
                  for item in order.items.all()],
        "budget": budget,
        "budget_status": BUDGET_STATUS.get(str(budget.get("status", "")), budget.get("status")),
        "budget_total": _money(budget.get("total_cents")),
        "budget_link": budget.get("review_url") or budget.get("approval_url"),
        "payment": payment,
        "payment_status": PAYMENT_STATUS.get(str(payment.get("status", "")), payment.get("status")),
        "payment_amount": _money(payment.get("amount_cents")),
        "payment_link": payment.get("payment_url") or payment.get("init_point"),
        "pix_code": payment.get("qr_code"),
        "waiting": order.status in (Status.AWAITING_APPROVAL, Status.AWAITING_PAYMENT),
    }
    return render(request, "service_orders/track.html", context)
