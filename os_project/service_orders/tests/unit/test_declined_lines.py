"""The budget summary's declined lines and which budget summary is the newer one (no I/O)."""
from service_orders.domain import DeclinedLine, ItemKind, declined_lines_of, is_older_budget, merge_summary

LINE = {"line_id": 4, "kind": "part", "catalog_id": "7", "description": "Palheta", "quantity": 2,
        "unit_price_cents": 4500, "job": 2, "optional": True}


def test_declined_lines_are_read_as_the_saga_sends_them():
    assert declined_lines_of({"declined_lines": [LINE, {**LINE, "line_id": 3, "kind": "service", "optional": True,
                                                        "job": None}]}) == [
        DeclinedLine(3, ItemKind.SERVICE, 7, "Palheta", 2, 4500, job=1, optional=False),  # a service is never optional
        DeclinedLine(4, ItemKind.PART, 7, "Palheta", 2, 4500, job=2, optional=True)]


def test_malformed_lines_are_left_out():
    bad = [None, "x", {**LINE, "line_id": 0}, {**LINE, "catalog_id": "abc"}, {**LINE, "quantity": -1},
           {**LINE, "unit_price_cents": "10"}, {**LINE, "unit_price_cents": True}, {**LINE, "kind": "boat"}]
    assert declined_lines_of({"declined_lines": bad}) == []
    assert declined_lines_of({"declined_lines": "nope"}) == [] == declined_lines_of(None)


def test_the_same_line_twice_is_one_line():
    assert len(declined_lines_of({"declined_lines": [LINE, LINE]})) == 1


def test_an_older_budget_never_overwrites_a_newer_one():
    shown = {"budget_id": "b", "version": 2, "status": "PENDING_APPROVAL"}
    assert is_older_budget({"budget_id": "b", "version": 1, "status": "APPROVED"}, shown)
    assert not is_older_budget({"budget_id": "b", "version": 3, "status": "PENDING_APPROVAL"}, shown)
    approved = {"budget_id": "b", "version": 2, "status": "APPROVED"}
    assert is_older_budget({"budget_id": "b", "version": 2, "status": "PENDING_APPROVAL"}, approved)
    assert not is_older_budget({"budget_id": "other", "version": 1}, approved)  # another budget: shown as it comes
    assert not is_older_budget({"budget_id": "b", "status": "APPROVED"}, approved)  # no version: as before
    merged = merge_summary({"budget": approved}, {"budget": {"budget_id": "b", "version": 1, "status": "APPROVED"},
                                                  "payment": {"status": "PENDING"}})
    assert merged["budget"] == approved and merged["payment"] == {"status": "PENDING"}
