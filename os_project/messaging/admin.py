from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from . import outbox
from .models import OutboxMessage, ProcessedMessage


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PublishedFilter(admin.SimpleListFilter):
    title = "published"
    parameter_name = "published"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Published"), ("no", "Waiting")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("yes", "no"):
            return queryset.filter(published_at__isnull=self.value() == "no")
        return queryset


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = ("type", "queue", "service_order_id", "created_at", "published_at", "attempts")
    list_filter = (PublishedFilter, "type", "queue")
    search_fields = ("message_id", "service_order_id", "saga_id", "caused_by")
    actions = ("relay_now",)

    @admin.action(description="Publish what is waiting now")
    def relay_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        self.message_user(request, f"{outbox.relay()} message(s) published.", messages.SUCCESS)


@admin.register(ProcessedMessage)
class ProcessedMessageAdmin(ReadOnlyAdmin):
    list_display = ("type", "message_id", "processed_at")
    list_filter = ("type",)
    search_fields = ("message_id",)
