"""What a Brazilian reads: money, moments and the clock's name, as the pages and e-mails show them."""
from datetime import UTC, date, datetime

import pytest

from oficina_common.formatting import (
    day_label,
    format_brl,
    format_brl_or,
    local_date,
    local_time,
    month_label,
    time_zone_label,
)


@pytest.mark.parametrize(("cents", "shown"), [
    (141100, "R$ 1.411,00"),
    (123456, "R$ 1.234,56"),
    (5, "R$ 0,05"),
    (0, "R$ 0,00"),
    (100000000, "R$ 1.000.000,00"),  # thousands separated, as a person reads them
    (-1550, "-R$ 15,50"),
])
def test_money_is_read_in_reais(cents, shown):
    assert format_brl(cents) == shown


def test_a_missing_or_odd_amount_is_shown_as_asked():
    assert format_brl_or(2500) == "R$ 25,00"
    assert format_brl_or(None) is None
    assert format_brl_or(True, "—") == "—"  # a bool is not an amount
    assert format_brl_or("2500", "—") == "—"


def test_a_moment_is_read_on_the_workshops_clock(settings):
    settings.CUSTOMER_TIME_ZONE = "America/Sao_Paulo"
    moment = datetime(2025, 5, 13, 1, 30, tzinfo=UTC)
    assert local_time(moment) == "12/05/2025 às 22:30"
    assert local_date(moment) == "12/05/2025"  # still the 12th in Brasília
    assert local_time(moment, "America/Manaus") == "12/05/2025 às 21:30"
    assert local_time(None) == local_date(None) == ""
    assert local_date(date(2025, 5, 12)) == "12/05/2025"


def test_days_and_months_as_the_dashboard_labels_them():
    assert day_label(date(2025, 5, 2)) == "02/05"
    assert month_label(date(2025, 5, 1)) == "05/2025"


@pytest.mark.parametrize(("zone", "label"), [
    ("America/Sao_Paulo", "horário de Brasília"),
    ("America/Fortaleza", "horário de Brasília"),
    ("America/Manaus", "horário do Amazonas"),
    ("America/Rio_Branco", "horário do Acre"),
    ("America/Noronha", "horário de Fernando de Noronha"),
    ("UTC", "UTC"),
])
def test_the_clock_is_named_after_the_configured_zone(settings, zone, label):
    settings.CUSTOMER_TIME_ZONE = zone
    assert time_zone_label() == label
    assert time_zone_label(zone) == label
