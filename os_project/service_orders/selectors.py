"""Reads of service orders for the API, the tracking page and the reports."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection
from django.db.models import (
    Case,
    IntegerField,
    Prefetch,
    QuerySet,
    Value,
    When,
    prefetch_related_objects,
)

from core.filters import FilterSet, IdFilter, IsoDateTimeFilter
from customers.models import Vehicle
from oficina_common.auth import CUSTOMER, role_of
from oficina_common.errors import NotFound

from .domain import ACTIVE_ORDER, CLOSED, STATUS_CHOICES, ItemKind, Status, is_tracking_code
from .models import DeclinedWork, ServiceOrder, ServiceOrderItem, StatusHistory


def _status_rank() -> Case:
    return Case(*(When(status=status.value, then=Value(rank)) for rank, status in enumerate(ACTIVE_ORDER)),
                default=Value(len(ACTIVE_ORDER)), output_field=IntegerField())


def _offset_postgres_takes(moment: datetime | None) -> None:
    """PostgreSQL refuses an offset past ±15:59 (Python takes up to ±23:59); real ones reach ±14:00."""
    offset = moment.utcoffset() if moment else None
    if offset is not None and abs(offset) > timedelta(hours=14):
        raise DjangoValidationError("The time-zone offset must be between -14:00 and +14:00.", code="invalid_offset")


class ServiceOrderFilter(FilterSet):
    customer_id = IdFilter(field_name="customer_id")
    vehicle_id = IdFilter(field_name="vehicle_id")
    status = django_filters.MultipleChoiceFilter(choices=STATUS_CHOICES,
                                                 help_text="Repeat to ask for several; closed orders only this way.")
    updated_after = IsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", validators=[_offset_postgres_takes],
        help_text="Only orders changed at or after this ISO 8601 moment, closed ones included, oldest change "
                  "first: what a screen or an integration kept in sync asks for. Paging through it misses no "
                  "change (an order that changes meanwhile moves to a later page).")

    class Meta:
        model = ServiceOrder
        fields = ("customer_id", "vehicle_id", "status", "updated_after")

    @property
    def qs(self) -> QuerySet:
        queryset = super().qs
        data = self.form.cleaned_data
        if data.get("updated_after"):
            # A feed of changes, in the order they were made. An order's updated_at only grows, so one
            # that changes while a client pages through moves past the pages read: it is read again
            # later, never skipped (in urgency order it could move onto a page already read).
            return queryset.order_by("updated_at", "id")
        if not data.get("status"):
            # Finished, delivered and cancelled orders appear only when asked for by status or change.
            queryset = queryset.exclude(status__in=[s.value for s in CLOSED])
        return queryset.annotate(status_rank=_status_rank()).order_by("status_rank", "created_at", "number")


def service_orders_visible_to(user: Any) -> QuerySet[ServiceOrder]:
    """Staff see every order; a customer only their own (others simply do not exist for them)."""
    queryset = ServiceOrder.objects.select_related("customer", "vehicle")
    if role_of(user) == CUSTOMER:
        customer_id = getattr(user, "customer_id", None)
        if not customer_id or not str(customer_id).isdigit():
            return queryset.none()
        queryset = queryset.filter(customer_id=int(customer_id))
    return queryset


def service_order_list(user: Any) -> QuerySet[ServiceOrder]:
    """The orders ``user`` may see; :class:`ServiceOrderFilter` chooses which and in what order (most
    urgent status first, or, for ``?updated_after=``, oldest change first). Their totals are the
    order's own columns (written with its items): a screen kept in sync asks for the list ten
    times a second, and summing the items in two subqueries was about a quarter of each request's
    CPU (building and compiling them, before PostgreSQL ran them)."""
    return service_orders_visible_to(user)


def _detail_prefetches() -> tuple[Any, ...]:
    return ("items", Prefetch("status_history", StatusHistory.objects.order_by("at", "id")),
            Prefetch("declined_work", _declined_work()))


def service_order_get(user: Any, service_order_id: Any) -> ServiceOrder:
    # get(), not first(): one order by its key has nothing to sort (first() adds the model's
    # ORDER BY created_at).
    try:
        return service_orders_visible_to(user).prefetch_related(*_detail_prefetches()).get(pk=service_order_id)
    except (ServiceOrder.DoesNotExist, ValueError, TypeError, DjangoValidationError):  # or a malformed UUID
        raise NotFound("Service order not found.") from None


def service_order_detail_of(order: ServiceOrder) -> ServiceOrder:
    """The order a service function has just written and returned (never prefetched: nothing of it
    is read from a cache), with what its detail shows read now (items, history, declined work; the
    customer and the vehicle unless it holds them): the answer to that request, without reading
    the order itself again."""
    prefetch_related_objects([order], "customer", "vehicle", *_detail_prefetches())
    return order


def _declined_work() -> QuerySet[DeclinedWork]:
    return DeclinedWork.objects.select_related("service_order", "came_back_in").order_by("version", "line_id")


def declined_work_of_vehicle(vehicle_id: Any) -> QuerySet[DeclinedWork]:
    if not Vehicle.objects.filter(pk=vehicle_id).exists():
        raise NotFound(f"There is no vehicle {vehicle_id}.")
    return _declined_work().filter(vehicle_id=vehicle_id).order_by("-declined_at", "-id")


def service_order_by_tracking_code(tracking_code: str) -> ServiceOrder:
    if not is_tracking_code(tracking_code):
        raise NotFound("No service order has this tracking code.")
    try:  # the page asks again every few seconds while it is open: get(), with no ORDER BY
        return (ServiceOrder.objects.select_related("customer", "vehicle").prefetch_related(*_detail_prefetches())
                .get(tracking_code=tracking_code))
    except ServiceOrder.DoesNotExist:
        raise NotFound("No service order has this tracking code.") from None


# --- reports ---------------------------------------------------------------------------------

# Each history row's time in its status ends when the next row of the same order begins (LEAD);
# the current status of an order has no end yet and is left out.
_STAY_DURATIONS = """
    SELECT h.service_order_id,
           h.to_status AS status,
           EXTRACT(EPOCH FROM (LEAD(h.at) OVER (PARTITION BY h.service_order_id ORDER BY h.at, h.id) - h.at))
               AS seconds
      FROM {history} h
"""

_AVERAGE_PER_STATUS = """
    WITH stays AS ({stays})
    SELECT status, AVG(seconds)::float8, COUNT(*)
      FROM stays
     WHERE seconds IS NOT NULL
     GROUP BY status
"""

_AVERAGE_EXECUTION_PER_SERVICE = """
    WITH stays AS ({stays}),
         execution AS (
             SELECT service_order_id, SUM(seconds) AS seconds
               FROM stays
              WHERE status = %s AND seconds IS NOT NULL
              GROUP BY service_order_id
         ),
         services AS (
             SELECT DISTINCT service_order_id, catalog_id
               FROM {items}
              WHERE kind = %s
         ),
         names AS (
             SELECT DISTINCT ON (catalog_id) catalog_id, description
               FROM {items}
              WHERE kind = %s
              ORDER BY catalog_id, id DESC
         )
    SELECT s.catalog_id, n.description, AVG(e.seconds)::float8, COUNT(*)
      FROM services s
      JOIN execution e ON e.service_order_id = s.service_order_id
      JOIN names n ON n.catalog_id = s.catalog_id
     GROUP BY s.catalog_id, n.description
     ORDER BY s.catalog_id
"""


def execution_time_report() -> dict[str, Any]:
    """Average seconds in each status, and in IN_EXECUTION per catalogue service (two queries)."""
    tables = {"items": ServiceOrderItem._meta.db_table}
    stays = _STAY_DURATIONS.format(history=StatusHistory._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(_AVERAGE_PER_STATUS.format(stays=stays, **tables))
        per_status = {status: (seconds, count) for status, seconds, count in cursor.fetchall()}
        cursor.execute(_AVERAGE_EXECUTION_PER_SERVICE.format(stays=stays, **tables),
                       [Status.IN_EXECUTION.value, ItemKind.SERVICE.value, ItemKind.SERVICE.value])
        per_service = cursor.fetchall()
    return {
        "per_status": [
            {"status": status.value, "average_seconds": round(per_status[status][0], 3),
             "samples": per_status[status][1]}
            for status in Status if status in per_status
        ],
        "per_service": [
            {"catalog_id": catalog_id, "name": name, "average_execution_seconds": round(seconds, 3),
             "orders": count}
            for catalog_id, name, seconds, count in per_service
        ],
    }
