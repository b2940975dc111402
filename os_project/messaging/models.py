import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _


class OutboxMessage(models.Model):
    """A message written in the same transaction as the state change that caused it.

    The relay publishes it after the commit and stamps ``published_at``.
    """

    message_id = models.UUIDField(_("message id"), primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(_("type"), max_length=80)
    queue = models.CharField(_("queue"), max_length=40)
    saga_id = models.CharField(_("saga id"), max_length=64)
    service_order_id = models.CharField(_("service order id"), max_length=64, db_index=True)
    # The command whose handling published it (empty for an event no command caused): a repeat of
    # that command is answered with these same messages again.
    caused_by = models.CharField(_("caused by"), max_length=64, blank=True, default="", db_index=True)
    envelope = models.JSONField(_("envelope"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox messages")
        ordering = ("created_at",)
        indexes = [
            # The relay's query: what is still unpublished, oldest first.
            models.Index(fields=("created_at",), condition=models.Q(published_at__isnull=True),
                         name="outbox_unpublished_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.message_id}"


class ProcessedMessage(models.Model):
    """The inbox: a message id here was handled, in the same transaction as its effects."""

    message_id = models.CharField(_("message id"), max_length=64, unique=True)
    type = models.CharField(_("type"), max_length=80)
    processed_at = models.DateTimeField(_("processed at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("processed message")
        verbose_name_plural = _("processed messages")
        ordering = ("-processed_at",)

    def __str__(self) -> str:
        return f"{self.type} {self.message_id}"
