from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import outbox
from .models import OutboxMessage, ProcessedMessage


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PublishedFilter(admin.SimpleListFilter):
    title = _("published")
    parameter_name = "published"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", _("Published")), ("no", _("Waiting"))]

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

    @admin.action(description=_("Publish what is waiting now"))
    def relay_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        published = outbox.relay()
        self.message_user(request, ngettext("%(count)d message published.", "%(count)d messages published.",
                                           published) % {"count": published}, messages.SUCCESS)


@admin.register(ProcessedMessage)
class ProcessedMessageAdmin(ReadOnlyAdmin):
    list_display = ("type", "message_id", "processed_at")
    list_filter = ("type",)
    search_fields = ("message_id",)
