import email
import email.policy
import smtplib

import pytest
from celery.exceptions import Retry
from django.core import mail

from notifications import services
from notifications.tasks import send_status_email
from service_orders.models import ServiceOrder

pytestmark = pytest.mark.django_db


def test_the_email_has_the_status_and_the_absolute_tracking_link(order):
    assert send_status_email.apply(args=[str(order.pk), "IN_EXECUTION"]).get() is True
    [message] = mail.outbox
    assert message.subject == f"{order.number}: Em execução"
    assert message.to == ["maria@example.com"]
    assert "Olá, Maria!" in message.body and "ABC1D23" in message.body
    assert f"http://os.test/track/{order.tracking_code}/" in message.body
    html = message.alternatives[0][0]
    assert f'href="http://os.test/track/{order.tracking_code}/"' in html


def test_a_public_url_wins_over_the_service_url(order, settings):
    settings.OS_PUBLIC_URL = "https://oficina.example.com/"
    send_status_email.apply(args=[str(order.pk), "RECEIVED"])
    assert f"https://oficina.example.com/track/{order.tracking_code}/" in mail.outbox[0].body


def test_no_email_without_an_address_or_an_order(order):
    order.customer.email = ""
    order.customer.save()
    assert send_status_email.apply(args=[str(order.pk), "RECEIVED"]).get() is False
    assert send_status_email.apply(args=["00000000-0000-0000-0000-000000000000", "RECEIVED"]).get() is False
    assert mail.outbox == []


def test_a_mail_server_outage_is_retried(order, monkeypatch):
    def refuse(**kwargs):
        raise smtplib.SMTPServerDisconnected("gone")

    monkeypatch.setattr(services, "status_email_send", refuse)
    with pytest.raises(Retry):
        send_status_email.apply(args=[str(order.pk), "RECEIVED"])


def test_every_status_change_sends_one_email(attendant_api, order, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        attendant_api.post(f"/api/v1/service-orders/{order.pk}/start-diagnosis/")
        attendant_api.post(f"/api/v1/service-orders/{order.pk}/cancel/", {"reason": "desistiu"})
    assert [m.subject for m in mail.outbox] == [f"{order.number}: Em diagnóstico", f"{order.number}: Cancelada"]
    assert ServiceOrder.objects.get(pk=order.pk).status == "CANCELLED"


def test_the_budget_is_announced_by_billings_email_not_by_a_second_one_from_here(
        diagnosed_order, django_capture_on_commit_callbacks):
    """At AWAITING_APPROVAL the customer gets Billing's e-mail (the budget, its approval link and the
    tracking link); the order's next statuses are e-mailed from here as usual."""
    from service_orders.services import service_order_apply_saga_status

    with django_capture_on_commit_callbacks(execute=True):
        service_order_apply_saga_status(service_order_id=diagnosed_order.pk, to="AWAITING_APPROVAL", reason="saga")
    assert mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        service_order_apply_saga_status(service_order_id=diagnosed_order.pk, to="AWAITING_PAYMENT", reason="saga")
    assert [m.subject for m in mail.outbox] == [f"{diagnosed_order.number}: Aguardando pagamento"]


def test_a_reply_to_a_status_email_reaches_the_workshop_not_the_no_reply_sender(order, settings):
    # "Se tiver dúvidas, fale com a oficina": a customer answers the e-mail they have.
    settings.WORKSHOP_REPLY_TO_EMAIL = "Oficina do Zé <atendimento@oficinadoze.com.br>"
    send_status_email.apply(args=[str(order.pk), "CANCELLED"])
    [message] = mail.outbox
    assert "fale com a oficina" in message.body
    assert message.from_email == settings.DEFAULT_FROM_EMAIL
    # As the customer's mail app reads the header it was sent with (the name is RFC 2047 encoded).
    received = email.message_from_bytes(message.message().as_bytes(), policy=email.policy.default)
    assert received["Reply-To"] == "Oficina do Zé <atendimento@oficinadoze.com.br>"


def test_the_email_goes_out_with_the_change_and_a_refusing_server_hands_it_to_the_retrying_task(
        attendant_api, order, django_capture_on_commit_callbacks, monkeypatch):
    from notifications import tasks

    queued = []
    monkeypatch.setattr(tasks.send_status_email, "delay", lambda *args: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        attendant_api.post(f"/api/v1/service-orders/{order.pk}/start-diagnosis/")
    assert [m.subject for m in mail.outbox] == [f"{order.number}: Em diagnóstico"] and queued == []  # no task

    def refuse(**kwargs):
        raise smtplib.SMTPServerDisconnected("gone")

    monkeypatch.setattr(services, "status_email_send", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        attendant_api.post(f"/api/v1/service-orders/{order.pk}/cancel/", {"reason": "desistiu"})
    assert queued == [(str(order.pk), "CANCELLED")]
    assert ServiceOrder.objects.get(pk=order.pk).status == "CANCELLED"


PAYMENT_PAGE = "http://billing.test/budgets/b-1/v1/payment/?t=signed&v=1"


def awaiting_payment_email(order, payment, capture):
    """The e-mail of the saga's move to AWAITING_PAYMENT carrying ``payment`` in its summary."""
    from service_orders.services import service_order_apply_saga_status

    ServiceOrder.objects.filter(pk=order.pk).update(status="AWAITING_APPROVAL")
    mail.outbox.clear()
    with capture(execute=True):
        service_order_apply_saga_status(service_order_id=order.pk, to="AWAITING_PAYMENT", reason="saga",
                                        summary={"payment": payment})
    [message] = mail.outbox
    assert message.subject == f"{order.number}: Aguardando pagamento"
    return message, message.alternatives[0][0]


def test_the_awaiting_payment_email_sends_the_customer_to_the_payment_page(
        diagnosed_order, django_capture_on_commit_callbacks):
    message, html = awaiting_payment_email(diagnosed_order, {
        "status": "REQUESTED", "amount_cents": 15550, "payment_url": PAYMENT_PAGE}, django_capture_on_commit_callbacks)
    assert f"Pague aqui: {PAYMENT_PAGE}\n" in message.body
    assert f"Acompanhe tudo por aqui: http://os.test/track/{diagnosed_order.tracking_code}/" in message.body
    assert '<a href="http://billing.test/budgets/b-1/v1/payment/?t=signed&amp;v=1"' in html
    assert "Pagar agora</a>" in html
    assert f'href="http://os.test/track/{diagnosed_order.tracking_code}/"' in html

    # A link that is not a web address, or a payment already made, asks for nothing.
    for payment in ({"status": "REQUESTED", "payment_url": "javascript:alert(1)"},
                    {"status": "APPROVED", "payment_url": PAYMENT_PAGE}):
        message, html = awaiting_payment_email(diagnosed_order, payment, django_capture_on_commit_callbacks)
        assert "Pague aqui" not in message.body and "Pagar agora" not in html
        assert "javascript:" not in message.body + html


def test_only_the_awaiting_payment_email_carries_the_payment_page(order):
    ServiceOrder.objects.filter(pk=order.pk).update(
        status="IN_EXECUTION", saga_summary={"payment": {"status": "PENDING", "payment_url": PAYMENT_PAGE}})
    send_status_email.apply(args=[str(order.pk), "IN_EXECUTION"])
    assert "Pague aqui" not in mail.outbox[-1].body
    ServiceOrder.objects.filter(pk=order.pk).update(status="AWAITING_PAYMENT")
    send_status_email.apply(args=[str(order.pk), "AWAITING_PAYMENT"])  # a retried e-mail reads the order again
    assert f"Pague aqui: {PAYMENT_PAGE}" in mail.outbox[-1].body
