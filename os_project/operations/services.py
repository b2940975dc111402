from __future__ import annotations

from typing import Any

from django.utils.dateparse import parse_datetime
from django.utils.timezone import now

from .models import DeadLetter


def dead_letter_record(*, letter: dict[str, Any]) -> DeadLetter:
    """Keep a dead letter sent by a service's consumer policy; the same one again changes nothing."""
    fields = {name: letter.get(name) for name in ("message_id", "message_type", "reason", "error", "envelope")}
    dead_letter, _ = DeadLetter.objects.get_or_create(
        service=str(letter["service"]), task_id=str(letter["task_id"]),
        defaults={**{name: value or "" for name, value in fields.items() if name != "envelope"},
                  "envelope": fields["envelope"] or {}, "task": str(letter.get("task") or ""),
                  "attempts": int(letter.get("attempts") or 0),
                  "failed_at": parse_datetime(str(letter.get("failed_at") or "")) or now()},
    )
    return dead_letter
