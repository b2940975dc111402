from __future__ import annotations

import django_filters
from django.db.models import F, QuerySet

from core.filters import BooleanFilter, FilterSet

from .models import Part, Service, StockEntry


def low_stock(queryset: QuerySet[Part]) -> QuerySet[Part]:
    """Parts whose free quantity (in stock minus reserved) is at or below the minimum."""
    return queryset.filter(quantity_in_stock__lte=F("quantity_reserved") + F("minimum_stock"))


class ServiceFilter(FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")
    active = BooleanFilter()

    class Meta:
        model = Service
        fields = ("name", "active")


class PartFilter(FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")
    sku = django_filters.CharFilter(lookup_expr="iexact")
    active = BooleanFilter()
    low_stock = BooleanFilter(method="filter_low_stock", label="Low stock")

    class Meta:
        model = Part
        fields = ("name", "sku", "active", "low_stock")

    def filter_low_stock(self, queryset: QuerySet[Part], name: str, value: bool | None) -> QuerySet[Part]:
        if value is None:
            return queryset
        low = low_stock(queryset)
        return low if value else queryset.exclude(pk__in=low.values("pk"))


def service_list() -> QuerySet[Service]:
    return Service.objects.all()


def part_list() -> QuerySet[Part]:
    return Part.objects.all()


def stock_entries_of(part: Part) -> QuerySet[StockEntry]:
    return part.stock_entries.all()
