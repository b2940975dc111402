"""The numbers behind the staff dashboard: one aggregate query each, whatever the number of rows."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, F
from django.db.models.functions import TruncDate
from django.utils import timezone

from catalog.models import Part
from catalog.selectors import low_stock
from service_orders.domain import Status
from service_orders.models import ServiceOrder
from service_orders.selectors import execution_time_report

DAYS = 30
LOW_STOCK_LIMIT = 15


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


def dashboard(*, now: datetime | None = None) -> Dashboard:
    zone = ZoneInfo(settings.CUSTOMER_TIME_ZONE)
    today = timezone.localtime(now or timezone.now(), zone).date()
    report = execution_time_report()
    parts, more = low_stock_parts()
    return Dashboard(per_status=orders_per_status(), opened_per_day=orders_opened_per_day(today=today, zone=zone),
                     time_in_status=report["per_status"], execution_per_service=report["per_service"],
                     low_stock=parts, more_low_stock=more)
