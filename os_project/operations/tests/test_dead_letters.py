"""Dead letters of every service land in the OS: kept once, shown in the admin, counted in a metric."""
from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape
from prometheus_client import REGISTRY

from config.celery import app
from messaging.tasks import handle_message
from oficina_common import consumer
from operations.models import DeadLetter
from operations.tasks import record_dead_letter


def billing_dead_letter(**changes: Any) -> dict[str, Any]:
    """What Billing's consumer policy sends when it gives up on a message."""
    message_id = str(uuid.uuid4())
    envelope = {"message_id": message_id, "type": "billing.RequestPayment", "version": 1, "saga_id": "saga-7",
                "service_order_id": "os-7", "occurred_at": "2026-12-05T01:00:00Z",
                "payload": {"budget_id": "b-7", "version": 1}}
    return {"service": "billing", "task": "billing.handle_message", "task_id": str(uuid.uuid4()),
            "message_id": message_id, "message_type": "billing.RequestPayment", "reason": "retries_exhausted",
            "error": "UpstreamUnavailable: Mercado Pago timed out.", "attempts": 13, "envelope": envelope,
            "failed_at": "2026-12-05T01:02:03+00:00", **changes}


@pytest.fixture
def admin_browser(make_user) -> Client:
    client = Client()
    client.force_login(make_user("root", "admin", is_staff=True, is_superuser=True))
    return client


def test_another_services_dead_letter_is_kept_once(db):
    letter = billing_dead_letter()
    record_dead_letter.apply(args=[letter]).get()
    record_dead_letter.apply(args=[letter]).get()  # the recording task redelivered
    kept = DeadLetter.objects.get()
    assert (kept.service, kept.message_type, kept.reason, kept.attempts) == (
        "billing", "billing.RequestPayment", "retries_exhausted", 13)
    assert kept.error == "UpstreamUnavailable: Mercado Pago timed out." and kept.envelope == letter["envelope"]
    assert kept.failed_at.isoformat() == "2026-12-05T01:02:03+00:00"


def test_an_operator_sees_the_dead_letter_in_the_admin(db, admin_browser):
    letter = billing_dead_letter()
    record_dead_letter.apply(args=[letter]).get()
    listing = admin_browser.get(reverse("admin:operations_deadletter_changelist"), {"service": "billing"})
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "billing.RequestPayment" in page and "UpstreamUnavailable: Mercado Pago timed out." in page
    kept = DeadLetter.objects.get()
    detail = admin_browser.get(reverse("admin:operations_deadletter_change", args=[kept.pk])).content.decode()
    assert letter["message_id"] in detail and "13" in detail
    assert escape('"budget_id": "b-7"') in detail  # the envelope, payload and all
    assert admin_browser.get(reverse("admin:operations_deadletter_add")).status_code == 403


def test_a_message_the_os_worker_cannot_handle_is_dead_lettered_into_its_admin_and_counted(
        db, admin_browser, monkeypatch):
    from messaging import services

    def broken(data):
        raise KeyError("a bug")

    # The OS's own dead letters take the same road as the others' (by name through the broker).
    monkeypatch.setattr(consumer, "send_dead_letter", lambda _app, letter: record_dead_letter.apply(args=[letter]))
    monkeypatch.setattr(services, "message_handle", broken)
    labels = {"service": "os", "task": "os.handle_message", "reason": "error"}
    before = REGISTRY.get_sample_value("oficina_celery_dead_letters_total", labels) or 0
    message = {"message_id": str(uuid.uuid4()), "type": "os.ReserveParts", "version": 1, "saga_id": "s",
               "service_order_id": "o", "occurred_at": "2026-12-05T01:00:00Z", "payload": {}}
    with pytest.raises(KeyError):
        handle_message.apply(args=[message])
    kept = DeadLetter.objects.get(message_id=message["message_id"])
    assert (kept.service, kept.message_type, kept.reason, kept.error) == ("os", "os.ReserveParts", "error",
                                                                          "KeyError: 'a bug'")
    assert REGISTRY.get_sample_value("oficina_celery_dead_letters_total", labels) == before + 1
    page = admin_browser.get(reverse("admin:operations_deadletter_changelist")).content.decode()
    assert "os.ReserveParts" in page


def test_every_beat_entry_expires_before_the_next_is_due():
    assert app.conf.beat_schedule
    for name, entry in app.conf.beat_schedule.items():
        assert 0 < entry["options"]["expires"] <= entry["schedule"], name
