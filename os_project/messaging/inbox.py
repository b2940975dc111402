from __future__ import annotations

from django.db import IntegrityError, transaction

from .models import ProcessedMessage


class DuplicateMessage(Exception):
    """Another delivery of the same message committed first: this one's changes must roll back."""


class DatabaseInbox:
    """The ``Inbox`` of oficina_common.messaging on PostgreSQL; use it inside the handler's transaction."""

    def seen(self, message_id: str) -> bool:
        return ProcessedMessage.objects.filter(message_id=message_id).exists()

    def mark(self, message_id: str, message_type: str) -> bool:
        try:
            with transaction.atomic():
                ProcessedMessage.objects.create(message_id=message_id, type=message_type)
        except IntegrityError as exc:
            # Two deliveries ran at once; the unique index let only one commit. Undo this one.
            raise DuplicateMessage(message_id) from exc
        return True
