"""Where the outbox relay hands messages: the broker, or (tests) a recording fake."""
from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from oficina_common.messaging import CeleryPublisher, Publisher


def celery_publisher() -> Publisher:
    from config.celery import app

    return CeleryPublisher(app)


def get_publisher() -> Publisher:
    return import_string(settings.OS_MESSAGE_PUBLISHER)()
