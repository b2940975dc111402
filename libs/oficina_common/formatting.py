"""How a person in Brazil reads money, a moment and the clock it is on: one home for the three
services' pages, e-mails, the admin's dashboard and the saga's summaries, on Babel's CLDR data.

Money is integer cents everywhere else; only what a person reads is formatted, here.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, get_timezone_name
from babel.numbers import format_currency

LOCALE = "pt_BR"
# The workshop's clock when a service's settings name none (CUSTOMER_TIME_ZONE).
DEFAULT_TIME_ZONE = "America/Sao_Paulo"
# CLDR puts a no-break space between "R$" and the amount; a plain space is what the customer pages'
# own script writes (the running total), what customers copy and what the e-mails' text parts hold.
_NO_BREAK_SPACE = "\u00a0"


def format_brl(cents: int) -> str:
    """``123456`` -> ``R$ 1.234,56``; ``-1550`` -> ``-R$ 15,50``."""
    amount = format_currency(Decimal(int(cents)) / 100, "BRL", locale=LOCALE)
    return amount.replace(_NO_BREAK_SPACE, " ")


def format_brl_or(cents: object, missing: str | None = None) -> str | None:
    """``format_brl`` of a summary's value that may be absent or not a number: ``missing`` then."""
    if isinstance(cents, int) and not isinstance(cents, bool):
        return format_brl(cents)
    return missing


def local_time(moment: datetime | None, time_zone: str | None = None) -> str:
    """``2025-05-12T17:30Z`` -> ``12/05/2025 às 14:30`` on the workshop's clock; ``""`` for none."""
    if moment is None:
        return ""
    return format_datetime(moment, "dd/MM/yyyy 'às' HH:mm", tzinfo=_zone(time_zone), locale=LOCALE)


def local_date(moment: datetime | date | None, time_zone: str | None = None) -> str:
    """``2025-05-13T01:30Z`` -> ``12/05/2025`` (the day it was on the workshop's clock); a date as it is."""
    if moment is None:
        return ""
    if isinstance(moment, datetime):
        moment = moment.astimezone(_zone(time_zone)).date()
    return format_date(moment, "dd/MM/yyyy", locale=LOCALE)


def month_label(month: date) -> str:
    """``2025-05-01`` -> ``05/2025``."""
    return format_date(month, "MM/yyyy", locale=LOCALE)


def day_label(day: date) -> str:
    """``2025-05-12`` -> ``12/05``."""
    return format_date(day, "dd/MM", locale=LOCALE)


def time_zone_label(time_zone: str | None = None) -> str:
    """The zone as a sentence names it: ``America/Sao_Paulo`` -> ``horário de Brasília``,
    ``America/Manaus`` -> ``horário do Amazonas`` (CLDR's generic metazone names), ``UTC`` -> ``UTC``."""
    zone = _zone(time_zone)
    if zone.key == "UTC" or zone.key.startswith("Etc/"):
        return "UTC"  # CLDR has no metazone for it ("Horário Região desconhecida")
    name = get_timezone_name(zone, "long", zone_variant="generic", locale=LOCALE)
    return name[:1].lower() + name[1:]  # "Horário de Brasília" in the middle of a sentence


def _zone(time_zone: str | None) -> ZoneInfo:
    if time_zone is None:
        from django.conf import settings

        time_zone = getattr(settings, "CUSTOMER_TIME_ZONE", DEFAULT_TIME_ZONE)
    return ZoneInfo(time_zone)
