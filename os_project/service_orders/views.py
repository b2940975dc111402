"""The customer's tracking page (HTML, Portuguese, phone-friendly): the link in every e-mail."""
from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_GET, require_http_methods
from rest_framework.fields import DateTimeField

from customers.domain import first_name, mask_plate
from oficina_common.errors import ApplicationError, NotFound
from oficina_common.formatting import format_brl_or

from . import selectors, services
from .domain import (
    ACTIVE_ORDER,
    BUDGET_LABELS,
    LABELS,
    PAYMENT_LABELS,
    Decision,
    LinkExpired,
    Status,
    next_action,
    payment_to_make,
)
from .links import tracking_url
from .models import DeclinedWork, ServiceOrder
from .serializers import decision_totals, summary_of, totals_data

logger = logging.getLogger(__name__)

# The happy path: the steps still ahead are drawn greyed out after those already reached.
JOURNEY = (*reversed(ACTIVE_ORDER), Status.FINISHED, Status.DELIVERED)
# Orders that can still change, so their page keeps asking whether they did.
POLL_SECONDS = 5


def tracking_version(order: ServiceOrder) -> str:
    """What the page compares with the tracking API's ``updated_at`` to know it is stale."""
    return DateTimeField().to_representation(order.updated_at)


def _timeline(order: ServiceOrder) -> list[dict[str, Any]]:
    history = list(order.status_history.all())
    entries = [{"status": entry.to_status, "label": LABELS[Status(entry.to_status)], "at": entry.at,
                "state": "done"} for entry in history]
    if entries and order.status not in (Status.DELIVERED, Status.CANCELLED):
        entries[-1]["state"] = "current"
    elif entries and order.status == Status.CANCELLED:
        entries[-1]["state"] = "cancelled"
    if order.status != Status.CANCELLED:
        reached = {entry.to_status for entry in history}
        entries += [{"status": status.value, "label": LABELS[status], "at": None, "state": "pending"}
                    for status in JOURNEY if status.value not in reached]
    return entries


def _items_total(order: ServiceOrder, items: list[Any]) -> dict[str, Any]:
    """The items' total; once the customer declined some, what they approved."""
    if any(item.decision == Decision.DECLINED for item in items):
        return {"total": format_brl_or(decision_totals(order)["approved_total_cents"]), "total_label": "Total aprovado"}
    return {"total": format_brl_or(totals_data(order)["total_cents"]), "total_label": "Total"}


def _vehicle(order: ServiceOrder) -> dict[str, str]:
    """The vehicle as the customer's pages show it: no full plate."""
    vehicle = order.vehicle
    return {"description": " ".join(str(part) for part in (vehicle.brand, vehicle.model, vehicle.year) if part),
            "plate": mask_plate(vehicle.plate)}


def _declined_lines(rows: Any) -> dict[str, Any] | None:
    rows = list(rows)
    if not rows:
        return None
    return {"lines": [{"description": row.description, "quantity": row.quantity,
                       "total": format_brl_or(row.total_cents)} for row in rows],
            "total": format_brl_or(sum(row.total_cents for row in rows))}


def _budget(order: ServiceOrder) -> dict[str, Any] | None:
    budget = summary_of(order, "budget")
    if not budget.get("status") and budget.get("total_cents") is None:
        return None
    status = str(budget.get("status") or "")
    return {"status": status, "label": BUDGET_LABELS.get(status, status),
            "total": format_brl_or(budget.get("total_cents")),
            "version": budget.get("version") if isinstance(budget.get("version"), int) else None}


def _payment(order: ServiceOrder) -> dict[str, Any] | None:
    payment = summary_of(order, "payment")
    if not payment.get("status"):
        return None
    status = str(payment["status"])
    # The ways to pay are shown only while the payment waits and the order can still be paid.
    to_pay = payment_to_make(order.status, order.saga_summary)
    return {"status": status, "label": PAYMENT_LABELS.get(status, status),
            "amount": format_brl_or(payment.get("amount_cents")),
            "page_url": to_pay.page_url if to_pay else "",
            "pix_code": to_pay.pix_code if to_pay else "",
            "link": to_pay.checkout_url if to_pay else ""}


@never_cache
@require_GET
def track_page(request: HttpRequest, tracking_code: str) -> HttpResponse:
    try:
        order = selectors.service_order_by_tracking_code(tracking_code)
    except NotFound:
        return track_not_found(request)
    items = list(order.items.all())
    polling = order.status not in (Status.DELIVERED, Status.CANCELLED)
    context = {
        "customer_time_zone": settings.CUSTOMER_TIME_ZONE,
        "order": order,
        "customer_first_name": first_name(order.customer.name),
        "vehicle": _vehicle(order),
        "status_label": LABELS[Status(order.status)],
        "cancelled": order.status == Status.CANCELLED,
        "next_action": next_action(order.status, order.saga_summary),
        "timeline": _timeline(order),
        "items": [{"description": item.description, "quantity": item.quantity, "total": format_brl_or(item.total_cents),
                   "declined": item.decision == Decision.DECLINED} for item in items],
        "declined_work": _declined_lines(order.declined_work.all()),
        **_items_total(order, items),
        "budget": _budget(order),
        "payment": _payment(order),
        "polling": polling,
        "poll_seconds": POLL_SECONDS,
        "tracking_api_url": reverse("tracking-detail", args=[order.tracking_code]),
        "version": tracking_version(order),
    }
    return render(request, "service_orders/track.html", context)


@never_cache
def track_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Any /track/ link that leads nowhere: a page in Portuguese, never JSON or a debug page."""
    return render(request, "service_orders/track_not_found.html", status=404)


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def declined_work_page(request: HttpRequest, token: str) -> HttpResponse:
    """The reminder e-mail's link: the declined work, and "Quero agendar" to open an order for it.

    A POST opens the order once (a repeat shows the same one) and redirects back here, so a
    reload never posts again. An unknown link is a 404 page, an expired one a 410 page.
    """
    try:
        if request.method == "POST":
            services.declined_work_come_back(token=token)
            return HttpResponseRedirect(request.path)
        offer = services.declined_work_offer_get(token)
    except LinkExpired:
        return render(request, "service_orders/declined_work_gone.html", status=410)
    except NotFound:
        return render(request, "service_orders/declined_work_gone.html", {"unknown": True}, status=404)
    except ApplicationError as exc:  # e.g. the vehicle changed hands since: the workshop books it by hand
        logger.warning("declined work not booked from its link: %s", exc.message)
        return render(request, "service_orders/declined_work_gone.html", {"refused": True}, status=409)
    order, new_order = offer.service_order, offer.new_order
    rows = (DeclinedWork.objects.filter(service_order=order, came_back_in__isnull=True) if new_order is None
            else DeclinedWork.objects.filter(service_order=order, came_back_in=new_order))
    context = {
        "customer_time_zone": settings.CUSTOMER_TIME_ZONE,
        "order": order,
        "customer_first_name": first_name(order.customer.name),
        "vehicle": _vehicle(order),
        "declined_work": _declined_lines(rows.order_by("version", "line_id")),
        "new_order": new_order,
        "new_order_url": tracking_url(new_order.tracking_code) if new_order else "",
        "expires_at": offer.expires_at,
    }
    return render(request, "service_orders/declined_work.html", context)
