from decimal import Decimal

from core.money import cents_to_decimal, to_cents


def test_prices_become_cents_and_back():
    assert to_cents(Decimal("149.90")) == 14990
    assert to_cents("0.005") == 1  # half up, as money is rounded at the till
    assert to_cents(3) == 300
    assert cents_to_decimal(14990) == "149.90"
    assert cents_to_decimal(0) == "0.00"


def test_amounts_are_shown_the_brazilian_way():
    from core.money import format_brl

    assert format_brl(123456) == "R$ 1.234,56"
    assert format_brl(5) == "R$ 0,05"
    assert format_brl(100000000) == "R$ 1.000.000,00"
    assert format_brl(-1550) == "-R$ 15,50"
