"""``{{ cents|brl }}``, ``{{ moment|local_time }}`` and ``{% time_zone_label %}`` for the customer's
pages and e-mails: thin wrappers of ``oficina_common.formatting``."""
from __future__ import annotations

from datetime import datetime

from django import template

from billing import formatting

register = template.Library()


@register.filter
def brl(cents: int) -> str:
    return formatting.brl(cents)


@register.filter
def local_time(moment: datetime | None) -> str:
    return formatting.local_time(moment)


@register.simple_tag
def time_zone_label() -> str:
    """``horário de Brasília`` for CUSTOMER_TIME_ZONE=America/Sao_Paulo."""
    return formatting.time_zone_label()
