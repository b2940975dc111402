from __future__ import annotations

import smtplib

from celery import shared_task

from oficina_common.celery_config import backoff

from . import services


@shared_task(name="os.send_status_email", bind=True, acks_late=True, max_retries=8)
def send_status_email(self, service_order_id: str, status: str) -> bool:
    try:
        return services.status_email_send(service_order_id=service_order_id, status=status)
    except (smtplib.SMTPException, OSError) as exc:  # mail server unreachable or refusing for now
        raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
