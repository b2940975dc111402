"""os.ChangeStatus summaries of a budget decided line by line, through the real consumer: redelivered,
repeated with new ids and out of order, the declined work is kept exactly once and nothing goes back."""
import pytest

from messaging.tasks import handle_message
from oficina_common.messages import Envelope
from service_orders.models import DeclinedWork, ServiceOrder
from service_orders.tests.conftest import BUDGET_ID, budget_summary

pytestmark = pytest.mark.django_db


def change_status(order, to, budget):
    return Envelope(type="os.ChangeStatus", saga_id=str(order.saga_id), service_order_id=str(order.pk),
                    payload={"to": to, "reason": "saga", "summary": {"budget": budget}}).to_dict()


def decisions(order):
    return [(item.line_id, item.decision) for item in order.items.order_by("line_id")]


def test_a_partial_approval_marks_the_items_and_keeps_the_declined_lines_once(two_jobs):
    pending = change_status(two_jobs, "AWAITING_APPROVAL", budget_summary(two_jobs, status="PENDING_APPROVAL"))
    approved = change_status(two_jobs, "AWAITING_PAYMENT", budget_summary(two_jobs, declined=(3, 4)))
    assert handle_message.apply(args=[pending]).get() == "handled"
    assert handle_message.apply(args=[approved]).get() == "handled"
    assert handle_message.apply(args=[approved]).get() == "duplicate"  # redelivered
    # the same summary again under a new message id (the saga refreshing it)
    again = change_status(two_jobs, "AWAITING_PAYMENT", budget_summary(two_jobs, declined=(3, 4)))
    assert handle_message.apply(args=[again]).get() == "handled"

    order = ServiceOrder.objects.get(pk=two_jobs.pk)
    assert order.status == "AWAITING_PAYMENT"
    assert decisions(order) == [(1, "ACCEPTED"), (2, "ACCEPTED"), (3, "DECLINED"), (4, "DECLINED")]
    rows = list(DeclinedWork.objects.order_by("line_id").values_list(
        "vehicle_id", "budget_id", "version", "line_id", "kind", "description", "quantity", "unit_price_cents",
        "job", "optional"))
    assert rows == [(order.vehicle_id, BUDGET_ID, 1, 3, "service", "Alinhamento", 1, 9000, 2, False),
                    (order.vehicle_id, BUDGET_ID, 1, 4, "part", "Palheta do limpador", 2, 4500, 2, True)]
    assert order.saga_summary["budget"]["status"] == "APPROVED"
    assert order.saga_summary["budget"]["declined_total_cents"] == 18000


def test_the_same_budget_summary_again_records_nothing_again(two_jobs):
    """Every later status carries the budget's summary: once recorded, it is not recorded again."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    budget = budget_summary(two_jobs, declined=(3, 4))
    handle_message.apply(args=[change_status(two_jobs, "AWAITING_APPROVAL", budget)])
    with CaptureQueriesContext(connection) as queries:
        assert handle_message.apply(args=[change_status(two_jobs, "AWAITING_PAYMENT", budget)]).get() == "handled"
    assert not [q["sql"] for q in queries.captured_queries if "declinedwork" in q["sql"].lower()]
    order = ServiceOrder.objects.get(pk=two_jobs.pk)
    assert order.status == "AWAITING_PAYMENT"
    assert decisions(order) == [(1, "ACCEPTED"), (2, "ACCEPTED"), (3, "DECLINED"), (4, "DECLINED")]
    assert DeclinedWork.objects.count() == 2


def test_an_older_summary_after_a_newer_one_changes_nothing(two_jobs):
    approved = change_status(two_jobs, "AWAITING_APPROVAL", budget_summary(two_jobs, declined=(4,)))
    late_pending = change_status(two_jobs, "AWAITING_APPROVAL", budget_summary(two_jobs, status="PENDING_APPROVAL"))
    handle_message.apply(args=[approved])
    handle_message.apply(args=[late_pending])

    order = ServiceOrder.objects.get(pk=two_jobs.pk)
    assert order.saga_summary["budget"]["status"] == "APPROVED"  # the late PENDING_APPROVAL did not win
    assert decisions(order) == [(1, "ACCEPTED"), (2, "ACCEPTED"), (3, "ACCEPTED"), (4, "DECLINED")]
    assert DeclinedWork.objects.count() == 1


def test_a_revision_declined_after_the_first_version_adds_its_own_lines(two_jobs):
    handle_message.apply(args=[change_status(two_jobs, "AWAITING_APPROVAL", budget_summary(two_jobs, declined=(3,)))])
    extra = {"line_id": 5, "kind": "service", "catalog_id": "9", "description": "Troca de pastilhas", "quantity": 1,
             "unit_price_cents": 20000, "job": 3, "optional": False}
    # version 2 lists every line declined so far (line 3 of version 1, and its own line 5)
    v2 = budget_summary(two_jobs, version=2, declined=(3,), extra_lines=(extra,))
    handle_message.apply(args=[change_status(two_jobs, "AWAITING_APPROVAL", v2)])
    # then version 1's summary arrives late: neither the summary nor the rows go back
    handle_message.apply(args=[change_status(two_jobs, "AWAITING_APPROVAL", budget_summary(two_jobs, declined=(3,)))])

    order = ServiceOrder.objects.get(pk=two_jobs.pk)
    assert order.saga_summary["budget"]["version"] == 2
    assert list(DeclinedWork.objects.order_by("line_id").values_list("line_id", "version")) == [(3, 1), (5, 2)]
    assert decisions(order) == [(1, "ACCEPTED"), (2, "ACCEPTED"), (3, "DECLINED"), (4, "ACCEPTED")]


def test_a_late_first_version_declines_an_item_a_revision_had_shown_as_accepted(two_jobs):
    """Out of order the other way: version 2 (nothing declined of its own) first, version 1 after."""
    handle_message.apply(args=[change_status(two_jobs, "AWAITING_APPROVAL", budget_summary(two_jobs, version=2))])
    assert decisions(ServiceOrder.objects.get(pk=two_jobs.pk))[2] == (3, "ACCEPTED")
    handle_message.apply(args=[change_status(two_jobs, "AWAITING_APPROVAL", budget_summary(two_jobs, declined=(3,)))])
    assert decisions(ServiceOrder.objects.get(pk=two_jobs.pk))[2] == (3, "DECLINED")


def test_malformed_declined_lines_are_left_out_not_fatal(two_jobs):
    budget = budget_summary(two_jobs, declined=(3,))
    budget["declined_lines"] += ["junk", {"line_id": "x"}, {"line_id": 9, "kind": "boat", "catalog_id": 1,
                                                           "quantity": 1, "unit_price_cents": 1}]
    assert handle_message.apply(args=[change_status(two_jobs, "AWAITING_APPROVAL", budget)]).get() == "handled"
    assert list(DeclinedWork.objects.values_list("line_id", flat=True)) == [3]


def test_an_item_without_a_line_id_is_accepted_with_the_approval_and_declined_lines_stay_declined(two_jobs):
    """Items written before lines had ids (line_id NULL) follow the approval; they are never a declined line."""
    two_jobs.items.filter(line_id=1).update(line_id=None)
    handle_message.apply(args=[change_status(two_jobs, "AWAITING_APPROVAL", budget_summary(two_jobs, declined=(3,)))])
    order = ServiceOrder.objects.get(pk=two_jobs.pk)
    assert sorted(decisions(order), key=lambda pair: pair[0] or 0) == [
        (None, "ACCEPTED"), (2, "ACCEPTED"), (3, "DECLINED"), (4, "ACCEPTED")]

    # A summary that only declines (not approved) marks the declined line and leaves the rest as they are.
    order.items.update(decision="")
    declined_only = budget_summary(two_jobs, status="PENDING_APPROVAL", version=2, declined=(4,))
    handle_message.apply(args=[change_status(two_jobs, "AWAITING_APPROVAL", declined_only)])
    assert sorted(decisions(order), key=lambda pair: pair[0] or 0) == [
        (None, ""), (2, ""), (3, "DECLINED"), (4, "DECLINED")]
