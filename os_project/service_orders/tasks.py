from __future__ import annotations

from celery import shared_task

from .services import declined_work_remind


@shared_task(name="os.remind_declined_work", acks_late=True, ignore_result=True)
def remind_declined_work() -> int:
    """Beat: customers whose declined work is DECLINED_WORK_REMINDER_DAYS old get it offered again."""
    return declined_work_remind()
