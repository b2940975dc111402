"""How customers read money and time: Brazilian reais and the workshop's local clock, in Portuguese."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings


def brl(cents: int) -> str:
    """``123456`` -> ``R$ 1.234,56``."""
    reais, centavos = divmod(abs(int(cents)), 100)
    grouped = f"{reais:,}".replace(",", ".")
    sign = "-" if cents < 0 else ""
    return f"{sign}R$ {grouped},{centavos:02d}"


def local_time(moment: datetime | None) -> str:
    """``2025-05-12T17:30Z`` -> ``12/05/2025 às 14:30`` on the customer's clock (CUSTOMER_TIME_ZONE)."""
    if moment is None:
        return ""
    local = moment.astimezone(ZoneInfo(settings.CUSTOMER_TIME_ZONE))
    return local.strftime("%d/%m/%Y às %H:%M")


def first_name(full_name: str) -> str:
    return full_name.split()[0] if full_name and full_name.strip() else ""
