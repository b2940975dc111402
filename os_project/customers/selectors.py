from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from core.filters import FilterSet, IdFilter

from .domain import clean_document
from .models import Customer, Vehicle


class CustomerFilter(FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")
    email = django_filters.CharFilter(lookup_expr="iexact")
    document = django_filters.CharFilter(method="filter_document")

    class Meta:
        model = Customer
        fields = ("name", "email", "document")

    def filter_document(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(document=clean_document(value))


class VehicleFilter(FilterSet):
    customer_id = IdFilter(field_name="customer_id")
    plate = django_filters.CharFilter(method="filter_plate")
    brand = django_filters.CharFilter(lookup_expr="icontains")
    model = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Vehicle
        fields = ("customer_id", "plate", "brand", "model")

    def filter_plate(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(plate=value.replace("-", "").replace(" ", "").upper())


def customer_list() -> QuerySet[Customer]:
    return Customer.objects.all()


def vehicle_list() -> QuerySet[Vehicle]:
    return Vehicle.objects.all()
