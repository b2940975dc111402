"""``{{ cents|brl }}``, ``{{ moment|local_time }}``, ``{{ moment|local_date }}`` and
``{% time_zone_label %}`` for the customer's pages and e-mails of every service: thin wrappers of
:mod:`oficina_common.formatting` on ``CUSTOMER_TIME_ZONE``. A service loads them with
``{% load oficina_format %}`` once ``oficina_common`` is in its ``INSTALLED_APPS``."""
from __future__ import annotations

from datetime import date, datetime

from django import template

from oficina_common import formatting

register = template.Library()


@register.filter
def brl(cents: int) -> str:
    return formatting.format_brl(cents)


@register.filter
def local_time(moment: datetime | None) -> str:
    return formatting.local_time(moment)


@register.filter
def local_date(moment: datetime | date | None) -> str:
    return formatting.local_date(moment)


@register.simple_tag
def time_zone_label() -> str:
    """``horário de Brasília`` for CUSTOMER_TIME_ZONE=America/Sao_Paulo."""
    return formatting.time_zone_label()
