from __future__ import annotations

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from .models import ProcessedMessage


class DuplicateMessage(Exception):
    """Another delivery of the same message committed first: this one's changes must roll back."""


class DatabaseInbox:
    """The ``Inbox`` of oficina_common.messaging on PostgreSQL; use it inside the handler's transaction."""

    def claim(self, message_id: str, message_type: str) -> bool:
        """Record the message before its handler runs; False: it was recorded already.

        One statement where ``seen`` + ``mark`` took four (a SELECT, and an INSERT in a savepoint).
        A second delivery running at the same time waits on the unique index until the first
        commits (then finds it: a duplicate) or rolls back (then handles it itself)."""
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {ProcessedMessage._meta.db_table} (message_id, type, processed_at) "  # noqa: S608
                "VALUES (%s, %s, %s) ON CONFLICT (message_id) DO NOTHING RETURNING id",
                [message_id, message_type, timezone.now()])
            return cursor.fetchone() is not None

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
