from __future__ import annotations

from django.db import connection
from django.utils import timezone

from .models import ProcessedMessage


class DatabaseInbox:
    """The ``ClaimingInbox`` of oficina_common.messaging on PostgreSQL; use it inside the handler's transaction."""

    def claim(self, message_id: str, message_type: str) -> bool:
        """Record the message before its handler runs; False: it was recorded already.

        One statement (a SELECT, then an INSERT in a savepoint, before). A second delivery running
        at the same time waits on the unique index until the first commits (then finds it: a
        duplicate) or rolls back (then handles it itself)."""
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {ProcessedMessage._meta.db_table} (message_id, type, processed_at) "  # noqa: S608
                "VALUES (%s, %s, %s) ON CONFLICT (message_id) DO NOTHING RETURNING id",
                [message_id, message_type, timezone.now()])
            return cursor.fetchone() is not None
