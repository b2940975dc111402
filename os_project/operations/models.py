from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class DeadLetter(models.Model):
    """A message a service's worker gave up on (oficina_common.consumer), whichever service it was.

    Every service sends its dead letters here by name (``os.record_dead_letter``); a repeat of the
    same one (the recording task redelivered) is recorded once, by service and task id.
    """

    class Reason(models.TextChoices):
        RETRIES_EXHAUSTED = "retries_exhausted", _("retries exhausted")
        ERROR = "error", _("unexpected error")
        LOST = "lost", _("worker lost or timed out, every delivery")

    service = models.CharField(_("service"), max_length=40)
    task = models.CharField(_("task"), max_length=120)
    task_id = models.CharField(_("task id"), max_length=64)
    message_id = models.CharField(_("message id"), max_length=64, blank=True, db_index=True)
    message_type = models.CharField(_("message type"), max_length=80, blank=True)
    reason = models.CharField(_("reason"), max_length=40, choices=Reason.choices)
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    envelope = models.JSONField(_("envelope"))
    failed_at = models.DateTimeField(_("failed at"))
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        ordering = ("-failed_at",)
        verbose_name = _("dead letter")
        verbose_name_plural = _("dead letters")
        constraints = [models.UniqueConstraint(fields=("service", "task_id"), name="dead_letter_once_per_task")]

    def __str__(self) -> str:
        return f"{self.service} {self.message_type or self.task} {self.task_id}"
