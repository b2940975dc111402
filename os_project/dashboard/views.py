"""The staff dashboard in the admin: orders by status, opened per day, time in each status, low stock."""
from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext, ngettext

from oficina_common.auth import STAFF_ROLES, role_of
from oficina_common.formatting import day_label, format_brl, month_label
from service_orders.domain import LABELS, Status

from . import selectors
from .charts import column_chart, format_duration, horizontal_bars


def dashboard_view(request: HttpRequest) -> HttpResponse:
    """Reached through ``admin_view`` (a logged-in, active staff account); the role must be a staff one too."""
    if role_of(request.user) not in STAFF_ROLES:
        raise PermissionDenied
    data = selectors.dashboard()
    orders_url = reverse("admin:service_orders_serviceorder_changelist")
    context = {
        **admin.site.each_context(request),
        "title": gettext("Dashboard"),
        "data": data,
        "per_status": horizontal_bars(
            (status.value, LABELS[status], data.per_status[status.value], str(data.per_status[status.value]))
            for status in Status),
        "orders_url": orders_url,
        "per_day": column_chart([(day.isoformat(), day_label(day), count)
                                 for day, count in data.opened_per_day]),
        "time_in_status": horizontal_bars(
            (row["status"], LABELS[Status(row["status"])], row["average_seconds"],
             f"{format_duration(row['average_seconds'])} · {_stays(row['samples'])}")
            for row in data.time_in_status),
        "execution_per_service": horizontal_bars(
            (str(row["catalog_id"]), row["name"], row["average_execution_seconds"],
             f"{format_duration(row['average_execution_seconds'])} · {_orders(row['orders'])}")
            for row in data.execution_per_service),
        "low_stock": [{"part": part, "percent": _fill(part.free, part.minimum)} for part in data.low_stock],
        "declined_per_month": _declined_rows(data.declined_per_month),
        "declined_total": format_brl(data.declined_cents),
        "came_back_total": format_brl(data.came_back_cents),
        "declined_work_url": reverse("admin:service_orders_declinedwork_changelist"),
        "low_stock_url": reverse("admin:catalog_part_changelist") + "?stock=low",
    }
    return TemplateResponse(request, "admin/dashboard.html", context)


def _stays(n: int) -> str:
    return ngettext("%(count)d stay", "%(count)d stays", n) % {"count": n}


def _orders(n: int) -> str:
    return ngettext("%(count)d order", "%(count)d orders", n) % {"count": n}


def _fill(free: int, minimum: int) -> float:
    """How full a part's shelf is against its minimum (a part at its minimum is a full bar, in red)."""
    if minimum <= 0:
        return 100.0 if free > 0 else 0.0
    return round(100 * min(max(free, 0), minimum) / minimum, 1)


def _declined_rows(months: list[selectors.DeclinedMonth]) -> list[dict[str, object]]:
    """Each month's declined revenue as a bar (against the largest month), with the part that came back."""
    largest = max((month.declined_cents for month in months), default=0)
    return [{"month": month, "label": month_label(month.month), "declined": format_brl(month.declined_cents),
             "came_back": format_brl(month.came_back_cents),
             "percent": round(100 * month.declined_cents / largest, 1) if largest else 0.0,
             "back_percent": round(100 * month.came_back_cents / largest, 1) if largest else 0.0}
            for month in months]
