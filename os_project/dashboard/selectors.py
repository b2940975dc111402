"""The numbers behind the staff dashboard: one aggregate query each, whatever the number of rows."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from catalog.models import Part
from catalog.selectors import low_stock
from service_orders.domain import Status
from service_orders.models import DeclinedWork, ServiceOrder
from service_orders.selectors import execution_time_report

DAYS = 30
LOW_STOCK_LIMIT = 15
MONTHS = 12


@dataclass(frozen=True)
class DeclinedMonth:
    month: date  # the first day of the month (the workshop's calendar)
    declined_cents: int
    declined_lines: int
    came_back_cents: int
    came_back_lines: int

    @property
    def came_back_percent(self) -> float:
        return round(100 * self.came_back_cents / self.declined_cents, 1) if self.declined_cents else 0.0


@dataclass(frozen=True)
class LowStockPart:
    id: int
    sku: str
    name: str
    in_stock: int
    reserved: int
    free: int
    minimum: int


@dataclass(frozen=True)
class Dashboard:
    per_status: dict[str, int]  # every status, zeros included
    opened_per_day: list[tuple[date, int]]  # oldest first, every day of the window
    time_in_status: list[dict[str, Any]]  # execution_time_report()["per_status"]
    execution_per_service: list[dict[str, Any]]  # execution_time_report()["per_service"]
    low_stock: list[LowStockPart]
    more_low_stock: bool
    declined_per_month: list[DeclinedMonth]  # oldest first, every month of the window

    @property
    def declined_cents(self) -> int:
        return sum(month.declined_cents for month in self.declined_per_month)

    @property
    def came_back_cents(self) -> int:
        return sum(month.came_back_cents for month in self.declined_per_month)

    @property
    def active_orders(self) -> int:
        return sum(count for status, count in self.per_status.items()
                   if status not in (Status.FINISHED, Status.DELIVERED, Status.CANCELLED))

    @property
    def opened_in_window(self) -> int:
        return sum(count for _, count in self.opened_per_day)


def orders_per_status() -> dict[str, int]:
    counts = dict(ServiceOrder.objects.order_by().values_list("status").annotate(count=Count("pk")))
    return {status.value: counts.get(status.value, 0) for status in Status}


def orders_opened_per_day(*, today: date, days: int = DAYS, zone: ZoneInfo | None = None) -> list[tuple[date, int]]:
    """Orders opened on each of the last ``days`` days (the workshop's calendar days), today included."""
    zone = zone or ZoneInfo(settings.CUSTOMER_TIME_ZONE)
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time.min, tzinfo=zone)
    until = datetime.combine(today + timedelta(days=1), time.min, tzinfo=zone)
    counts = dict(ServiceOrder.objects.filter(created_at__gte=since, created_at__lt=until)
                  .annotate(day=TruncDate("created_at", tzinfo=zone))
                  .order_by().values_list("day").annotate(count=Count("pk")))
    return [(first + timedelta(days=n), counts.get(first + timedelta(days=n), 0)) for n in range(days)]


def low_stock_parts(*, limit: int = LOW_STOCK_LIMIT) -> tuple[list[LowStockPart], bool]:
    """Active parts whose free quantity is at or below their minimum, the emptiest first."""
    rows = list(low_stock(Part.objects.filter(active=True))
                .annotate(free=F("quantity_in_stock") - F("quantity_reserved"))
                .order_by("free", "sku")
                .values_list("id", "sku", "name", "quantity_in_stock", "quantity_reserved", "free",
                             "minimum_stock")[:limit + 1])
    return [LowStockPart(*row) for row in rows[:limit]], len(rows) > limit


def _month_back(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def declined_per_month(*, today: date, months: int = MONTHS, zone: ZoneInfo | None = None) -> list[DeclinedMonth]:
    """Declined revenue per month (by the month it was declined, the workshop's calendar) over the
    last ``months`` months, this one included, and how much of it came back in a new order."""
    zone = zone or ZoneInfo(settings.CUSTOMER_TIME_ZONE)
    this_month = today.replace(day=1)
    first = _month_back(this_month, months - 1)
    since = datetime.combine(first, time.min, tzinfo=zone)
    value = F("quantity") * F("unit_price_cents")
    came_back = Q(came_back_in__isnull=False)
    rows = (DeclinedWork.objects.filter(declined_at__gte=since)
            .annotate(month=TruncMonth("declined_at", tzinfo=zone))
            .order_by().values("month")
            .annotate(declined=Sum(value), lines=Count("pk"), back=Sum(value, filter=came_back),
                      back_lines=Count("pk", filter=came_back)))
    found = {(row["month"].date() if isinstance(row["month"], datetime) else row["month"]): row for row in rows}
    months_list = [_month_back(this_month, n) for n in reversed(range(months))]
    return [DeclinedMonth(month=month, declined_cents=int((found.get(month) or {}).get("declined") or 0),
                          declined_lines=int((found.get(month) or {}).get("lines") or 0),
                          came_back_cents=int((found.get(month) or {}).get("back") or 0),
                          came_back_lines=int((found.get(month) or {}).get("back_lines") or 0))
            for month in months_list]


def dashboard(*, now: datetime | None = None) -> Dashboard:
    zone = ZoneInfo(settings.CUSTOMER_TIME_ZONE)
    today = timezone.localtime(now or timezone.now(), zone).date()
    report = execution_time_report()
    parts, more = low_stock_parts()
    return Dashboard(per_status=orders_per_status(), opened_per_day=orders_opened_per_day(today=today, zone=zone),
                     time_in_status=report["per_status"], execution_per_service=report["per_service"],
                     low_stock=parts, more_low_stock=more,
                     declined_per_month=declined_per_month(today=today, zone=zone))
