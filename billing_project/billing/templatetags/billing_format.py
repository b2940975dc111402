"""``{{ cents|brl }}`` and ``{{ moment|local_time }}`` for the customer's pages and e-mails."""
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
