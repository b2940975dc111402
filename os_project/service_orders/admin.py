from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.actors import actor_name
from oficina_common.errors import ApplicationError

from . import services
from .models import ServiceOrder, ServiceOrderItem, StatusHistory


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ItemInline(ReadOnlyInline):
    model = ServiceOrderItem
    fields = readonly_fields = ("kind", "catalog_id", "description", "quantity", "unit_price_cents")


class StatusHistoryInline(ReadOnlyInline):
    model = StatusHistory
    fields = readonly_fields = ("at", "from_status", "to_status", "by", "reason")
    ordering = ("at", "id")


def _run(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet, verb: str, use_case: Any) -> None:
    done = 0
    for order in queryset:
        try:
            use_case(order)
            done += 1
        except ApplicationError as exc:
            modeladmin.message_user(request, f"{order.number}: {exc.message}", messages.ERROR)
    if done:
        modeladmin.message_user(request, f"{done} order(s) {verb}.", messages.SUCCESS)


@admin.register(ServiceOrder)
class ServiceOrderAdmin(admin.ModelAdmin):
    list_display = ("number", "status", "priority", "customer", "vehicle", "created_at")
    list_filter = ("status", "priority", "created_at")
    search_fields = ("number", "tracking_code", "customer__name", "customer__document", "vehicle__plate")
    list_select_related = ("customer", "vehicle")
    autocomplete_fields = ("customer", "vehicle")
    inlines = (ItemInline, StatusHistoryInline)
    readonly_fields = ("id", "number", "status", "tracking_code", "saga_id", "saga_summary", "diagnosis_notes",
                       "created_by", "created_at", "updated_at")
    actions = ("start_diagnosis", "deliver", "cancel")
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is not None:  # the customer and the vehicle of an existing order do not change
            return (*self.readonly_fields, "customer", "vehicle")
        return self.readonly_fields

    def save_model(self, request: HttpRequest, obj: ServiceOrder, form: Any, change: bool) -> None:
        if change:
            obj.save(update_fields=["complaint", "priority", "updated_at"])
            return
        created = services.service_order_create(customer_id=obj.customer_id, vehicle_id=obj.vehicle_id,
                                                complaint=obj.complaint, priority=obj.priority,
                                                by=actor_name(request.user))
        obj.__dict__.update({k: v for k, v in created.__dict__.items() if not k.startswith("_")})
        obj._state.adding = False

    @admin.action(description="Start diagnosis")
    def start_diagnosis(self, request: HttpRequest, queryset: QuerySet) -> None:
        _run(self, request, queryset, "moved to diagnosis", lambda order: services.service_order_start_diagnosis(
            service_order_id=order.pk, by=actor_name(request.user)))

    @admin.action(description="Deliver (vehicle handed to the customer)")
    def deliver(self, request: HttpRequest, queryset: QuerySet) -> None:
        _run(self, request, queryset, "delivered", lambda order: services.service_order_deliver(
            service_order_id=order.pk, by=actor_name(request.user)))

    @admin.action(description="Cancel")
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        by = actor_name(request.user)
        _run(self, request, queryset, "cancelled", lambda order: services.service_order_cancel(
            service_order_id=order.pk, reason=f"Cancelled by {by} in the admin", by=by))


@admin.register(StatusHistory)
class StatusHistoryAdmin(admin.ModelAdmin):
    list_display = ("service_order", "from_status", "to_status", "at", "by")
    list_filter = ("to_status", "by")
    search_fields = ("service_order__number", "reason")
    list_select_related = ("service_order",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
