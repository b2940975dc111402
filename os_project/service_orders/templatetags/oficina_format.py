"""``{{ moment|local_time }}``, ``{{ moment|local_date }}`` and ``{% time_zone_label %}`` for the
customer's pages: thin wrappers of ``oficina_common.formatting`` on CUSTOMER_TIME_ZONE."""
from __future__ import annotations

from datetime import datetime

from django import template

from oficina_common import formatting

register = template.Library()


@register.filter
def local_time(moment: datetime | None) -> str:
    return formatting.local_time(moment)


@register.filter
def local_date(moment: datetime | None) -> str:
    return formatting.local_date(moment)


@register.simple_tag
def time_zone_label() -> str:
    return formatting.time_zone_label()
