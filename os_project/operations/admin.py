from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .models import DeadLetter


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    """Read-only: what was given up on, and why. An operator deletes one once it is dealt with."""

    list_display = ("failed_at", "service", "message_type", "task", "reason", "attempts", "short_error")
    list_filter = ("service", "reason", "message_type", "task")
    search_fields = ("message_id", "task_id", "error")
    date_hierarchy = "failed_at"
    fields = ("service", "task", "task_id", "message_type", "message_id", "reason", "attempts", "error",
              "pretty_envelope", "failed_at", "recorded_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("error"))
    def short_error(self, obj: DeadLetter) -> str:
        return obj.error if len(obj.error) <= 120 else obj.error[:119] + "…"

    @admin.display(description=_("envelope"))
    def pretty_envelope(self, obj: DeadLetter) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.envelope, indent=2, ensure_ascii=False, sort_keys=True))
