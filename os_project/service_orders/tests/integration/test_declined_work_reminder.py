"""The beat job that offers declined work again: DECLINED_WORK_REMINDER_DAYS later, once per order."""
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from customers.models import Customer
from service_orders.models import DeclinedWork, DeclinedWorkOffer, ServiceOrder
from service_orders.services import declined_work_remind, service_order_apply_saga_status
from service_orders.tasks import remind_declined_work
from service_orders.tests.conftest import budget_summary

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _reminder_settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DECLINED_WORK_REMINDER_DAYS = 30
    settings.WORKSHOP_REPLY_TO_EMAIL = "oficina@example.com"


def declined(order, *lines):
    ServiceOrder.objects.filter(pk=order.pk).update(status="AWAITING_APPROVAL")
    service_order_apply_saga_status(service_order_id=order.pk, to="AWAITING_PAYMENT", reason="saga",
                                    summary={"budget": budget_summary(order, declined=lines)})
    mail.outbox.clear()  # the status e-mail
    return DeclinedWork.objects.filter(service_order=order)


def test_nothing_is_sent_before_the_days_have_passed(two_jobs):
    declined(two_jobs, 3, 4)
    assert declined_work_remind(now=timezone.now() + timedelta(days=29)) == 0
    assert mail.outbox == []


def test_the_customer_is_emailed_once_when_the_clock_passes_the_days(two_jobs):
    rows = declined(two_jobs, 3, 4)
    later = timezone.now() + timedelta(days=30, minutes=1)

    assert declined_work_remind(now=later) == 1
    assert declined_work_remind(now=later + timedelta(days=1)) == 0  # and never again

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["maria@example.com"] and message.reply_to == ["oficina@example.com"]
    assert "Alinhamento" in message.body and "Palheta do limpador" in message.body
    assert "Olá, Maria!" in message.body and two_jobs.number in message.body
    link = re.search(r"http://os\.test/declined/([A-Za-z0-9_-]+)/", message.body)
    assert link and link.group(0) in message.alternatives[0][0]
    # the token travels only in the e-mail: the database keeps its hash
    offer = DeclinedWorkOffer.objects.get(service_order=two_jobs)
    assert link.group(1) not in offer.token_hash and len(offer.token_hash) == 64
    assert offer.expires_at == later + timedelta(days=30)
    assert all(row.reminded_at == later for row in rows)


def test_the_celery_task_runs_the_same_job(two_jobs, settings):
    declined(two_jobs, 4)
    settings.DECLINED_WORK_REMINDER_DAYS = 0
    assert remind_declined_work.apply().get() == 1
    assert len(mail.outbox) == 1


def test_the_job_pages_through_many_orders(two_jobs, customer, vehicle, oil_change):
    from service_orders.services import (
        service_order_create,
        service_order_start_diagnosis,
        service_order_submit_diagnosis,
    )

    declined(two_jobs, 3)
    for _ in range(4):
        other = service_order_create(customer_id=customer.pk, vehicle_id=vehicle.pk, complaint="x", by="ana")
        service_order_start_diagnosis(service_order_id=other.pk, by="mario")
        service_order_submit_diagnosis(service_order_id=other.pk, notes="", by="mario", items=[
            {"kind": "service", "catalog_id": oil_change.pk, "quantity": 1},
            {"kind": "service", "catalog_id": oil_change.pk, "quantity": 1, "job": 2}])
        declined(other, 2)
    later = timezone.now() + timedelta(days=31)
    assert declined_work_remind(now=later, batch=2) == 5
    assert len(mail.outbox) == 5 and DeclinedWorkOffer.objects.count() == 5
    assert not DeclinedWork.objects.filter(reminded_at__isnull=True).exists()


def test_work_declined_after_the_email_joins_the_link_already_sent(two_jobs):
    declined(two_jobs, 3)
    later = timezone.now() + timedelta(days=31)
    assert declined_work_remind(now=later) == 1
    # an additional repair declined later (line 5 of version 2): no second e-mail for the same order
    extra = {"line_id": 5, "kind": "service", "catalog_id": "1", "description": "Troca de pastilhas", "quantity": 1,
             "unit_price_cents": 20000, "job": 3, "optional": False}
    service_order_apply_saga_status(service_order_id=two_jobs.pk, to="AWAITING_PAYMENT", reason="",
                                    summary={"budget": budget_summary(two_jobs, version=2, extra_lines=(extra,))})
    DeclinedWork.objects.filter(line_id=5).update(declined_at=later - timedelta(days=40))
    assert declined_work_remind(now=later + timedelta(days=1)) == 0
    assert len(mail.outbox) == 1
    assert not DeclinedWork.objects.filter(reminded_at__isnull=True).exists()


def test_a_customer_without_email_is_not_reminded_and_not_looked_at_again(two_jobs):
    Customer.objects.filter(pk=two_jobs.customer_id).update(email="")
    declined(two_jobs, 3)
    later = timezone.now() + timedelta(days=31)
    assert declined_work_remind(now=later) == 0
    assert mail.outbox == [] and not DeclinedWorkOffer.objects.exists()
    assert DeclinedWork.objects.get().reminded_at == later


def test_a_cancelled_order_is_not_reminded(two_jobs):
    declined(two_jobs, 3)
    ServiceOrder.objects.filter(pk=two_jobs.pk).update(status="CANCELLED")
    assert declined_work_remind(now=timezone.now() + timedelta(days=31)) == 0
    assert mail.outbox == []


def test_a_mail_server_that_refuses_leaves_the_reminder_for_the_next_run(two_jobs, monkeypatch):
    from service_orders import services

    declined(two_jobs, 3)

    def refuse(**_):
        raise OSError("connection refused")

    monkeypatch.setattr(services, "declined_work_reminder_send", refuse)
    later = timezone.now() + timedelta(days=31)
    assert declined_work_remind(now=later) == 0
    assert not DeclinedWorkOffer.objects.exists()
    assert DeclinedWork.objects.get().reminded_at is None
    monkeypatch.undo()
    assert declined_work_remind(now=later) == 1


def test_operators_run_the_reminder_by_hand_and_see_what_a_date_ahead_would_send(two_jobs):
    from io import StringIO

    from django.core.management import call_command

    declined(two_jobs, 3)
    out = StringIO()
    call_command("remind_declined_work", stdout=out)
    assert out.getvalue().strip() == "declined-work reminders sent: 0"
    call_command("remind_declined_work", "--days-ahead", "31", stdout=out)
    assert out.getvalue().strip().endswith("declined-work reminders sent: 1") and len(mail.outbox) == 1
    with pytest.raises(SystemExit):
        call_command("remind_declined_work", "--days-ahead", "-1", stderr=StringIO())
