import pytest

from catalog.domain import PartLine, Shortage, StockOutcome, lines_to_message, part_lines
from oficina_common import contracts
from oficina_common.messages import InvalidMessage


def test_part_lines_are_summed_per_part_and_sorted_by_id():
    lines = part_lines([contracts.PartLine(catalog_id="9", quantity=1), contracts.PartLine(catalog_id="7", quantity=2),
                        contracts.PartLine.model_validate({"catalog_id": 9, "quantity": 3})])
    assert lines == [PartLine(7, 2), PartLine(9, 4)]
    assert lines_to_message(lines) == [{"catalog_id": "7", "quantity": 2}, {"catalog_id": "9", "quantity": 4}]


@pytest.mark.parametrize("raw, message", [
    ("7", "parts must be a list"),
    ([7], "parts[0]"),
    ([{"catalog_id": "x", "quantity": 1}], "parts[0].catalog_id"),
    ([{"catalog_id": True, "quantity": 1}], "parts[0].catalog_id"),
    ([{"catalog_id": "7", "quantity": 0}], "parts[0].quantity"),
    ([{"catalog_id": "7", "quantity": "2"}], "parts[0].quantity"),
    ([{"catalog_id": "7"}], "parts[0].quantity"),
])
def test_malformed_part_lines_never_reach_the_stock(raw, message):
    """part_lines trusts its lines: a command's parts are refused where the command is read."""
    with pytest.raises(InvalidMessage, match=message.replace("[", r"\[").replace("]", r"\]")):
        contracts.read("os.ReserveParts", {"parts": raw})


def test_an_outcome_with_shortages_is_not_ok():
    shortage = Shortage(part_id=7, requested=2, available=1)
    assert shortage.to_message() == {"catalog_id": "7", "requested": 2, "available": 1}
    assert not StockOutcome(missing=[shortage], reason="Not enough").ok
    assert not StockOutcome(reason="The service order is cancelled.").ok
    assert StockOutcome(parts=[PartLine(7, 2)]).ok
