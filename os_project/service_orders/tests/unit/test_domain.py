from types import SimpleNamespace

import pytest

from oficina_common.errors import InvalidTransition
from service_orders.domain import (
    ALLOWED_TRANSITIONS,
    ItemKind,
    ItemLine,
    Status,
    can_transition,
    ensure_transition,
    format_number,
    merge_summary,
    saga_moves_to,
    totals_of,
)

HAPPY_PATH = [Status.RECEIVED, Status.IN_DIAGNOSIS, Status.AWAITING_APPROVAL, Status.AWAITING_PAYMENT,
              Status.IN_EXECUTION, Status.FINISHED, Status.DELIVERED]


def test_the_happy_path_is_allowed_step_by_step():
    for current, target in zip(HAPPY_PATH, HAPPY_PATH[1:], strict=False):
        assert ensure_transition(current, target) is target


@pytest.mark.parametrize("current", HAPPY_PATH[:5])
def test_cancelling_is_allowed_from_every_status_before_finished(current):
    assert can_transition(current, Status.CANCELLED)


@pytest.mark.parametrize("current", [Status.FINISHED, Status.DELIVERED, Status.CANCELLED])
def test_nothing_is_cancelled_once_finished(current):
    assert not can_transition(current, Status.CANCELLED)


def test_the_table_allows_exactly_the_contract_moves():
    allowed = {(current, target) for current, targets in ALLOWED_TRANSITIONS.items() for target in targets}
    expected = set(zip(HAPPY_PATH, HAPPY_PATH[1:], strict=False)) | {(s, Status.CANCELLED) for s in HAPPY_PATH[:5]}
    assert allowed == expected


@pytest.mark.parametrize("current, target", [
    (Status.RECEIVED, Status.AWAITING_APPROVAL),
    (Status.IN_EXECUTION, Status.IN_DIAGNOSIS),
    (Status.DELIVERED, Status.RECEIVED),
    (Status.CANCELLED, Status.IN_DIAGNOSIS),
    (Status.RECEIVED, Status.RECEIVED),
])
def test_any_other_move_names_both_statuses(current, target):
    with pytest.raises(InvalidTransition) as caught:
        ensure_transition(current, target)
    assert current.value in caught.value.message and target.value in caught.value.message
    assert caught.value.status_code == 409
    assert caught.value.extra == {"from": current.value, "to": target.value}


def test_an_unknown_status_is_never_a_legal_move():
    assert not can_transition("RECEIVED", "TELEPORTED")
    assert not can_transition("LIMBO", "RECEIVED")
    with pytest.raises(InvalidTransition, match="TELEPORTED"):
        ensure_transition("RECEIVED", "TELEPORTED")


def test_summaries_merge_section_by_section_and_ignore_the_rest():
    current = {"budget": {"budget_id": "b1", "status": "PENDING_APPROVAL"}, "payment": {}, "execution": {}}
    merged = merge_summary(current, {"budget": {"status": "APPROVED"}, "payment": {"status": "PENDING"},
                                     "secrets": {"x": 1}, "execution": "not a dict"})
    assert merged == {"budget": {"budget_id": "b1", "status": "APPROVED"}, "payment": {"status": "PENDING"},
                      "execution": {}}
    assert current["budget"]["status"] == "PENDING_APPROVAL"  # the input is not mutated
    assert merge_summary({}, None) == {"budget": {}, "payment": {}, "execution": {}}


def test_totals_split_services_and_parts():
    lines = [ItemLine(ItemKind.SERVICE, 1, "Troca de óleo", 1, 12000),
             ItemLine(ItemKind.PART, 7, "Filtro", 2, 3850),
             SimpleNamespace(kind="part", quantity=1, unit_price_cents=100)]
    totals = totals_of(lines)
    assert (totals.services_cents, totals.parts_cents, totals.total_cents) == (12000, 7800, 19800)
    assert lines[1].total_cents == 7700


def test_item_lines_travel_as_the_message_catalogue_says():
    line = ItemLine(ItemKind.PART, 7, "Filtro de óleo", 2, 3850)
    assert line.to_message() == {"kind": "part", "catalog_id": "7", "description": "Filtro de óleo", "quantity": 2,
                                 "unit_price_cents": 3850, "job": 1, "optional": False}


def test_order_numbers_are_human():
    assert format_number(123) == "OS-000123"
    assert format_number(1234567) == "OS-1234567"


PIX_PAYMENT = {"status": "PENDING", "qr_code": "000201PIX", "init_point": "https://mp.test/1"}


@pytest.mark.parametrize("status, summary, code, words", [
    ("RECEIVED", {}, "wait", "avaliando"),
    ("IN_DIAGNOSIS", {"budget": {"status": "PENDING_APPROVAL"}}, "wait", "avaliando"),
    ("AWAITING_APPROVAL", {}, "approve_budget", "Aprove o orçamento"),
    ("AWAITING_APPROVAL", {"budget": {"status": "SUPERSEDED"}}, "approve_budget", "Aprove o orçamento"),
    ("AWAITING_APPROVAL", {"budget": {"status": "APPROVED"}}, "wait", "separando as peças"),
    ("AWAITING_APPROVAL", {"budget": {"status": "REJECTED"}}, "wait", "registrando"),
    ("AWAITING_PAYMENT", {}, "wait", "gerando o seu Pix"),
    ("AWAITING_PAYMENT", {"payment": PIX_PAYMENT}, "pay_pix", "Pague o Pix"),
    ("AWAITING_PAYMENT", {"payment": {**PIX_PAYMENT, "qr_code": None}}, "pay_link", "link"),
    ("AWAITING_PAYMENT", {"payment": {"status": "PENDING"}}, "wait", "gerando o seu Pix"),
    ("AWAITING_PAYMENT", {"payment": {"status": "REJECTED"}}, "contact_workshop", "fale com a oficina"),
    ("AWAITING_PAYMENT", {"payment": {"status": "APPROVED"}}, "wait", "vai começar"),
    ("IN_EXECUTION", {"payment": {"status": "APPROVED"}}, "wait", "estamos trabalhando"),
    ("IN_EXECUTION", {"budget": {"status": "PENDING_APPROVAL"}}, "approve_budget", "reparos adicionais"),
    ("IN_EXECUTION", {"payment": PIX_PAYMENT}, "pay_pix", "Pague o Pix"),
    ("FINISHED", {"payment": PIX_PAYMENT}, "pick_up", "venha buscá-lo"),
    ("DELIVERED", {}, "nothing", "Obrigado"),
    ("CANCELLED", {"payment": PIX_PAYMENT}, "nothing", "cancelada"),
    ("IN_EXECUTION", "not a dict", "wait", "estamos trabalhando"),
    ("AWAITING_PAYMENT", {"payment": "garbage"}, "wait", "gerando o seu Pix"),
])
def test_the_customer_is_told_one_next_action(status, summary, code, words):
    from service_orders.domain import next_action

    action = next_action(status, summary)
    assert action.code == code and words in action.text


PAYMENT_PAGE = "https://billing.test/budgets/b-1/v1/payment/?t=signed.token"
PAGE_WORDS = "Pague pelo botão “Pagar agora”"


@pytest.mark.parametrize("status, payment, code, words", [
    # The saga moves the order at the reservation, before the Pix exists: Billing's page is the way to pay.
    ("AWAITING_PAYMENT", {"status": "REQUESTED", "amount_cents": 15550, "payment_url": PAYMENT_PAGE},
     "pay_link", PAGE_WORDS),
    ("AWAITING_PAYMENT", {"status": "PENDING", "payment_id": "p-1", "qr_code": "", "init_point": None,
                          "payment_url": PAYMENT_PAGE}, "pay_link", PAGE_WORDS),
    # Additional repairs: their payment asked for during the work.
    ("IN_EXECUTION", {"status": "REQUESTED", "amount_cents": 5000, "payment_url": PAYMENT_PAGE}, "pay_link",
     PAGE_WORDS),
])
def test_a_payment_page_to_pay_on_is_the_next_action(status, payment, code, words):
    from service_orders.domain import next_action

    action = next_action(status, {"payment": payment})
    assert action.code == code and words in action.text


def test_only_web_addresses_from_a_message_become_the_way_to_pay():
    from service_orders.domain import next_action, web_link

    assert web_link(PAYMENT_PAGE) == PAYMENT_PAGE
    assert web_link("HTTP://billing.test/pay") == "HTTP://billing.test/pay"
    for unsafe in ("javascript:alert(document.cookie)", " javascript:alert(1)", "java\tscript:alert(1)",
                   "JaVaScRiPt:alert(1)", "data:text/html,<script>alert(1)</script>", "//billing.test/pay",
                   "/budgets/b-1/v1/payment/", "https://", "https://billing.test/pay now", "ftp://billing.test/",
                   "http://[::1", None, 42, ""):
        assert web_link(unsafe) == "", unsafe
    requested = {"status": "REQUESTED", "payment_url": "javascript:alert(1)", "init_point": "javascript:alert(2)"}
    assert next_action("AWAITING_PAYMENT", {"payment": requested}).code == "wait"
    assert next_action("AWAITING_PAYMENT", {"payment": {**requested, "status": "PENDING"}}).code == "wait"
    assert next_action("AWAITING_PAYMENT", {"payment": {**requested, "payment_url": PAYMENT_PAGE}}).code == "pay_link"


def test_a_payment_page_is_no_way_to_pay_once_paid_or_once_the_order_cannot_be_paid():
    from service_orders.domain import payment_to_make

    requested = {"status": "REQUESTED", "amount_cents": 15550, "payment_url": PAYMENT_PAGE}
    assert payment_to_make("AWAITING_PAYMENT", {"payment": requested}).page_url == PAYMENT_PAGE
    assert payment_to_make("AWAITING_PAYMENT", {"payment": {**requested, "status": "APPROVED"}}) is None
    for status in ("AWAITING_APPROVAL", "FINISHED", "DELIVERED", "CANCELLED"):
        assert payment_to_make(status, {"payment": requested}) is None, status


def test_the_saga_s_word_for_a_later_status_walks_the_order_through_the_ones_it_missed():
    """Seen in the fault run: the broker lost os.ChangeStatus IN_EXECUTION, and FINISHED was then
    refused (AWAITING_PAYMENT -> FINISHED): the order stayed AWAITING_PAYMENT for good."""
    assert saga_moves_to("AWAITING_PAYMENT", "FINISHED") == [Status.IN_EXECUTION, Status.FINISHED]
    assert saga_moves_to("IN_DIAGNOSIS", "AWAITING_PAYMENT") == [Status.AWAITING_APPROVAL, Status.AWAITING_PAYMENT]
    assert saga_moves_to("AWAITING_APPROVAL", "AWAITING_PAYMENT") == [Status.AWAITING_PAYMENT]
    assert saga_moves_to("AWAITING_APPROVAL", "CANCELLED") == [Status.CANCELLED]


@pytest.mark.parametrize(("current", "target"), [
    ("IN_DIAGNOSIS", "DELIVERED"),  # people deliver
    ("RECEIVED", "AWAITING_APPROVAL"),  # people start the diagnosis
    ("FINISHED", "IN_EXECUTION"),  # never back
    ("CANCELLED", "AWAITING_PAYMENT"),
])
def test_the_saga_never_makes_people_s_moves_nor_goes_back(current, target):
    with pytest.raises(InvalidTransition):
        saga_moves_to(current, target)
