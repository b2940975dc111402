from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from core.actors import actor_name

from . import services
from .models import Part, PartReservation, Service, StockEntry
from .selectors import low_stock


class LowStockFilter(admin.SimpleListFilter):
    title = _("stock")
    parameter_name = "stock"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("low", _("Low (free ≤ minimum)")), ("ok", _("Enough"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "low":
            return low_stock(queryset)
        if self.value() == "ok":
            return queryset.exclude(pk__in=low_stock(queryset).values("pk"))
        return queryset


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ("name", "price", "estimated_minutes", "active")
    list_filter = ("active",)
    search_fields = ("name", "description")


class StockEntryInline(admin.TabularInline):
    model = StockEntry
    extra = 0
    can_delete = False
    fields = readonly_fields = ("created_at", "quantity", "note", "created_by")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReservationInline(admin.TabularInline):
    model = PartReservation
    extra = 0
    can_delete = False
    fields = readonly_fields = ("service_order", "reserved", "released", "consumed", "updated_at")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Part)
class PartAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "unit_price", "quantity_in_stock", "quantity_reserved", "minimum_stock", "active",
                    "may_decline_alone")
    list_filter = (LowStockFilter, "active", "may_decline_alone")
    search_fields = ("sku", "name")
    # Stock changes only through stock entries and reservations.
    readonly_fields = ("quantity_in_stock", "quantity_reserved", "created_at", "updated_at")
    inlines = (StockEntryInline, ReservationInline)


@admin.register(StockEntry)
class StockEntryAdmin(admin.ModelAdmin):
    list_display = ("part", "quantity", "note", "created_by", "created_at")
    search_fields = ("part__sku", "part__name", "note")
    list_select_related = ("part",)
    autocomplete_fields = ("part",)
    fields = ("part", "quantity", "note")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: StockEntry, form: Any, change: bool) -> None:
        entry = services.stock_entry_add(part_id=obj.part_id, quantity=obj.quantity, note=obj.note,
                                         by=actor_name(request.user))
        obj.pk, obj.created_at, obj.created_by = entry.pk, entry.created_at, entry.created_by
        obj._state.adding = False
