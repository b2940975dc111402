from decimal import Decimal

from core.money import cents_to_decimal, to_cents


def test_prices_become_cents_and_back():
    assert to_cents(Decimal("149.90")) == 14990
    assert to_cents("0.005") == 1  # half up, as money is rounded at the till
    assert to_cents(3) == 300
    assert cents_to_decimal(14990) == "149.90"
    assert cents_to_decimal(0) == "0.00"

