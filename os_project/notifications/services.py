"""The customer's e-mail on every status change, with the tracking link."""
from __future__ import annotations

import logging
import smtplib
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string

from oficina_common.mail import workshop_reply_to

logger = logging.getLogger(__name__)

NEXT_STEP: dict[str, str] = {
    "RECEIVED": "Recebemos o seu veículo. Em breve um mecânico começa o diagnóstico.",
    "IN_DIAGNOSIS": "Um mecânico está avaliando o seu veículo.",
    "AWAITING_PAYMENT": "Orçamento aprovado. Falta o pagamento para começarmos o serviço.",
    "IN_EXECUTION": "Pagamento confirmado. O serviço está sendo executado.",
    "FINISHED": "Serviço concluído! O seu veículo está pronto para ser retirado.",
    "DELIVERED": "Veículo entregue. Obrigado pela confiança!",
    "CANCELLED": "A ordem de serviço foi cancelada. Se tiver dúvidas, fale com a oficina.",
}


# Statuses another e-mail announces. AWAITING_APPROVAL: Billing e-mails the budget as it opens it
# ("Seu orçamento da OS … está pronto"), with its lines, the approval link and the tracking link; a
# second e-mail at the same moment that only says "we sent you an e-mail" would be noise.
ANNOUNCED_ELSEWHERE: frozenset[str] = frozenset({"AWAITING_APPROVAL"})


def status_change_notify_later(service_order_id: Any, status: str, *, order: Any = None) -> None:
    """E-mail the customer once the transaction that changed the status commits, right there (no
    task of its own, no second read of the order); a mail server that refuses for now hands the
    e-mail to the task that retries it. A status another e-mail announces gets none from here."""
    if status in ANNOUNCED_ELSEWHERE:
        return

    def send() -> None:
        try:
            status_email_send(service_order_id=str(service_order_id), status=status, order=order)
        except (smtplib.SMTPException, OSError) as exc:
            from .tasks import send_status_email

            logger.warning("status e-mail for %s not sent now (%s); a task retries it", service_order_id, exc)
            send_status_email.delay(str(service_order_id), status)

    transaction.on_commit(send, robust=True)


def status_email_send(*, service_order_id: str, status: str, order: Any = None) -> bool:
    """Send the e-mail for ``status`` (about ``order`` when in hand); False when there is nobody to
    send it to."""
    from service_orders.domain import LABELS, Status
    from service_orders.links import tracking_url
    from service_orders.models import ServiceOrder

    if order is None:
        order = ServiceOrder.objects.select_related("customer", "vehicle").filter(pk=service_order_id).first()
    if order is None or not order.customer.email:
        logger.info("no e-mail sent for %s: no order or no customer e-mail", service_order_id)
        return False
    context = {
        "order": order,
        "customer_first_name": (order.customer.name.split() or [""])[0],
        "status_label": LABELS[Status(status)],
        "next_step": NEXT_STEP.get(status, ""),
        "tracking_url": tracking_url(order.tracking_code),
        "payment_url": _payment_url(status, order),
    }
    subject = f"{order.number}: {context['status_label']}"
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("notifications/status_change.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[order.customer.email],
        reply_to=workshop_reply_to(),  # customers answer it ("fale com a oficina"); the sender is a no-reply address
    )
    message.attach_alternative(render_to_string("notifications/status_change.html", context), "text/html")
    message.send()
    return True


def _payment_url(status: str, order: Any) -> str:
    """Billing's payment page, in the e-mail that asks for the payment.

    The order is the one the move saved, its summary included (the saga's ``os.ChangeStatus``
    carries the payment it asked for, and the e-mail goes out once that transaction commits); a
    payment already made, or an order no longer to be paid, by the time a retried e-mail goes out
    gets no link.
    """
    from service_orders.domain import Status, payment_to_make

    if status != Status.AWAITING_PAYMENT:
        return ""
    to_pay = payment_to_make(order.status, order.saga_summary)
    return to_pay.page_url if to_pay else ""


def declined_work_reminder_send(*, order: Any, rows: list[Any], link: str) -> bool:
    """The e-mail that offers the declined work of ``order`` again, with the link that books it.

    Sent by the reminder job itself (inside the order's transaction), not through a task: the
    link's token exists only in this e-mail, never in a broker message.
    """
    from customers.domain import first_name
    from oficina_common.formatting import format_brl

    if not order.customer.email:
        return False
    context = {
        "order": order,
        "customer_first_name": first_name(order.customer.name),
        "lines": [{"description": row.description, "quantity": row.quantity,
                   "total": format_brl(row.quantity * row.unit_price_cents)} for row in rows],
        "link": link,
        "link_days": settings.DECLINED_WORK_LINK_DAYS,
    }
    message = EmailMultiAlternatives(
        subject=f"{order.vehicle.brand} {order.vehicle.model}: serviços que ficaram para depois".strip(),
        body=render_to_string("notifications/declined_work_reminder.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[order.customer.email],
        reply_to=workshop_reply_to(),
    )
    message.attach_alternative(render_to_string("notifications/declined_work_reminder.html", context), "text/html")
    message.send()
    return True
