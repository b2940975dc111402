"""The commands the saga sends to the OS service, through the real consumer task and PostgreSQL."""
import pytest
from celery.exceptions import Retry
from django.core import mail
from kombu.exceptions import OperationalError as BrokerError

from catalog.models import Part, PartReservation
from catalog.services import part_create
from messaging.models import OutboxMessage, ProcessedMessage
from messaging.tasks import handle_message
from oficina_common.html_testing import by_testid, one
from oficina_common.messages import Envelope
from service_orders.models import ServiceOrder, StatusHistory

pytestmark = pytest.mark.django_db


def command(order, type_, payload):
    return Envelope(type=type_, saga_id=str(order.saga_id or "saga-1"), service_order_id=str(order.pk),
                    payload=payload).to_dict()


def replies(type_=None):
    """What the OS answered (the diagnosis' own event left out)."""
    rows = OutboxMessage.objects.exclude(type="os.DiagnosisCompleted").order_by("created_at")
    return [row.envelope for row in rows if type_ is None or row.type == type_]


def part_lines(*pairs):
    return [{"catalog_id": str(part.pk), "quantity": quantity} for part, quantity in pairs]


@pytest.fixture
def brake_pads(db):
    return part_create(sku="PASTILHA", name="Pastilha", unit_price="210.00", quantity_in_stock=2)


def test_reserving_parts_holds_them_and_replies_parts_reserved(diagnosed_order, oil_filter, brake_pads):
    message = command(diagnosed_order, "os.ReserveParts", {"parts": part_lines((oil_filter, 2), (brake_pads, 2))})
    assert handle_message.apply(args=[message]).get() == "handled"
    oil_filter.refresh_from_db()
    brake_pads.refresh_from_db()
    assert (oil_filter.quantity_in_stock, oil_filter.quantity_reserved) == (5, 2)
    assert (brake_pads.quantity_in_stock, brake_pads.quantity_reserved) == (2, 2)
    [reply] = replies()
    assert reply["type"] == "os.PartsReserved"
    assert reply["saga_id"] == message["saga_id"] and reply["service_order_id"] == message["service_order_id"]
    assert reply["payload"] == {"parts": sorted(part_lines((oil_filter, 2), (brake_pads, 2)),
                                                key=lambda line: int(line["catalog_id"]))}


def test_a_reservation_writes_its_new_rows_at_once_and_adds_to_those_held(diagnosed_order, oil_filter, brake_pads):
    """Two lines of one part and one of another: one INSERT for the rows the order lacks (no
    get-or-create savepoint a line); a later reservation of a part held adds to its row."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from catalog.models import PartReservation

    message = command(diagnosed_order, "os.ReserveParts",
                      {"parts": part_lines((oil_filter, 1), (brake_pads, 1), (oil_filter, 2))})
    with CaptureQueriesContext(connection) as queries:
        assert handle_message.apply(args=[message]).get() == "handled"
    reservation_writes = [q["sql"] for q in queries if 'INTO "catalog_partreservation"' in q["sql"]
                          or q["sql"].startswith('UPDATE "catalog_partreservation"')]
    assert len(reservation_writes) == 1 and reservation_writes[0].startswith("INSERT"), reservation_writes
    held = dict(PartReservation.objects.filter(service_order=diagnosed_order).values_list("part_id", "reserved"))
    assert held == {oil_filter.pk: 3, brake_pads.pk: 1}
    more = command(diagnosed_order, "os.ReserveParts", {"parts": part_lines((brake_pads, 1))})
    assert handle_message.apply(args=[more]).get() == "handled"
    assert PartReservation.objects.get(service_order=diagnosed_order, part=brake_pads).reserved == 2
    oil_filter.refresh_from_db()
    brake_pads.refresh_from_db()
    assert (oil_filter.quantity_reserved, brake_pads.quantity_reserved) == (3, 2)


def test_a_reservation_is_all_or_nothing_and_says_what_was_missing(diagnosed_order, oil_filter, brake_pads):
    message = command(diagnosed_order, "os.ReserveParts", {"parts": part_lines((oil_filter, 1), (brake_pads, 3))})
    handle_message.apply(args=[message])
    assert Part.objects.get(pk=oil_filter.pk).quantity_reserved == 0  # the available part was not taken either
    assert not PartReservation.objects.exists()
    [reply] = replies()
    assert reply["type"] == "os.PartsReservationFailed"
    assert reply["payload"]["missing"] == [{"catalog_id": str(brake_pads.pk), "requested": 3, "available": 2}]
    assert reply["payload"]["reason"] == "Not enough stock for every part."
    assert len(reply["payload"]["parts"]) == 2


def test_an_unknown_or_inactive_part_cannot_be_reserved(diagnosed_order, oil_filter):
    oil_filter.active = False
    oil_filter.save()
    handle_message.apply(args=[command(diagnosed_order, "os.ReserveParts",
                                       {"parts": [{"catalog_id": "999999", "quantity": 1},
                                                  {"catalog_id": str(oil_filter.pk), "quantity": 1}]})])
    [reply] = replies()
    assert reply["type"] == "os.PartsReservationFailed"
    assert {m["catalog_id"]: m["available"] for m in reply["payload"]["missing"]} == {"999999": 0,
                                                                                       str(oil_filter.pk): 0}


@pytest.mark.parametrize("payload, reason", [
    ({"parts": "all of them"}, "parts must be a list"),
    ({"parts": [{"catalog_id": "1", "quantity": -1}]}, "quantity must be a positive integer"),
])
def test_a_malformed_reservation_is_answered_with_a_failure(diagnosed_order, payload, reason):
    handle_message.apply(args=[command(diagnosed_order, "os.ReserveParts", payload)])
    [reply] = replies()
    assert reply["type"] == "os.PartsReservationFailed" and reason in reply["payload"]["reason"]


def test_no_reservation_for_a_cancelled_or_unknown_order(diagnosed_order, oil_filter):
    ServiceOrder.objects.filter(pk=diagnosed_order.pk).update(status="CANCELLED")
    handle_message.apply(args=[command(diagnosed_order, "os.ReserveParts", {"parts": part_lines((oil_filter, 1))})])
    ghost = Envelope(type="os.ReserveParts", saga_id="s", service_order_id="00000000-0000-0000-0000-000000000000",
                     payload={"parts": part_lines((oil_filter, 1))}).to_dict()
    handle_message.apply(args=[ghost])
    reasons = [reply["payload"]["reason"] for reply in replies("os.PartsReservationFailed")]
    assert reasons == ["The service order is cancelled.",
                       "There is no service order 00000000-0000-0000-0000-000000000000."]
    assert Part.objects.get(pk=oil_filter.pk).quantity_reserved == 0


def test_releasing_gives_back_only_what_the_order_holds_whatever_the_message(diagnosed_order, oil_filter):
    handle_message.apply(args=[command(diagnosed_order, "os.ReserveParts", {"parts": part_lines((oil_filter, 2))})])
    for _ in range(2):  # two distinct messages (new ids): a retried compensation
        handle_message.apply(args=[command(diagnosed_order, "os.ReleaseParts",
                                           {"parts": part_lines((oil_filter, 5))})])
    oil_filter.refresh_from_db()
    assert (oil_filter.quantity_in_stock, oil_filter.quantity_reserved) == (5, 0)
    released = [reply["payload"]["parts"] for reply in replies("os.PartsReleased")]
    assert released == [part_lines((oil_filter, 2)), []]
    reservation = PartReservation.objects.get()
    assert (reservation.reserved, reservation.released, reservation.consumed, reservation.held) == (2, 2, 0, 0)


def test_releasing_without_lines_releases_everything_held(diagnosed_order, oil_filter):
    handle_message.apply(args=[command(diagnosed_order, "os.ReserveParts", {"parts": part_lines((oil_filter, 3))})])
    handle_message.apply(args=[command(diagnosed_order, "os.ReleaseParts", {"parts": []})])
    assert Part.objects.get(pk=oil_filter.pk).quantity_reserved == 0


def test_consuming_takes_reserved_parts_out_of_stock_once(diagnosed_order, oil_filter):
    handle_message.apply(args=[command(diagnosed_order, "os.ReserveParts", {"parts": part_lines((oil_filter, 2))})])
    for _ in range(2):
        handle_message.apply(args=[command(diagnosed_order, "os.ConsumeParts",
                                           {"parts": part_lines((oil_filter, 2))})])
    handle_message.apply(args=[command(diagnosed_order, "os.ReleaseParts", {"parts": part_lines((oil_filter, 2))})])
    oil_filter.refresh_from_db()
    assert (oil_filter.quantity_in_stock, oil_filter.quantity_reserved) == (3, 0)
    assert [r["payload"]["parts"] for r in replies("os.PartsConsumed")] == [part_lines((oil_filter, 2)), []]
    assert replies("os.PartsReleased")[0]["payload"]["parts"] == []


def test_releasing_for_an_order_without_reservations_changes_nothing(order, oil_filter):
    handle_message.apply(args=[command(order, "os.ReleaseParts", {"parts": part_lines((oil_filter, 1))})])
    bogus = Envelope(type="os.ConsumeParts", saga_id="s", service_order_id="not-a-uuid",
                     payload={"parts": part_lines((oil_filter, 1))}).to_dict()
    handle_message.apply(args=[bogus])
    assert Part.objects.get(pk=oil_filter.pk).quantity_in_stock == 5
    assert [r["type"] for r in replies()] == ["os.PartsReleased", "os.PartsConsumed"]


def test_the_same_message_twice_has_one_effect(diagnosed_order, oil_filter):
    message = command(diagnosed_order, "os.ReserveParts", {"parts": part_lines((oil_filter, 1))})
    assert handle_message.apply(args=[message]).get() == "handled"
    assert handle_message.apply(args=[message]).get() == "duplicate"
    assert Part.objects.get(pk=oil_filter.pk).quantity_reserved == 1
    assert len(replies()) == 1
    assert ProcessedMessage.objects.filter(message_id=message["message_id"]).count() == 1



def test_the_inbox_row_is_written_first_and_rolls_back_with_a_handler_that_fails(diagnosed_order, oil_filter,
                                                                                 monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from messaging import handlers

    message = command(diagnosed_order, "os.ReserveParts", {"parts": part_lines((oil_filter, 1))})
    reserve = handlers.dispatcher.handlers["os.ReserveParts"]
    monkeypatch.setitem(handlers.dispatcher.handlers, "os.ReserveParts",
                        lambda envelope: (_ for _ in ()).throw(ConnectionError("the database went away")))
    with pytest.raises(Retry):  # the consumer's policy: a transient failure is retried
        handle_message.apply(args=[message], throw=True)
    assert not ProcessedMessage.objects.filter(message_id=message["message_id"]).exists()  # rolled back with it
    monkeypatch.setitem(handlers.dispatcher.handlers, "os.ReserveParts", reserve)
    with CaptureQueriesContext(connection) as queries:
        assert handle_message.apply(args=[message]).get() == "handled"  # the redelivery does it
    inbox = [q["sql"] for q in queries if "messaging_processedmessage" in q["sql"]]
    assert len(inbox) == 1 and inbox[0].startswith("INSERT") and "ON CONFLICT" in inbox[0]  # no SELECT first
    assert Part.objects.get(pk=oil_filter.pk).quantity_reserved == 1


def _savepoints(queries):
    """The savepoints taken: the consumer's own transaction is one here (inside the test's)."""
    return len([q for q in queries if q["sql"].startswith("SAVEPOINT")])


def test_stock_moves_take_no_savepoint_and_a_failure_inside_one_still_leaves_nothing(diagnosed_order, oil_filter,
                                                                                    monkeypatch):
    """The stock functions run inside the consumer's transaction without a savepoint of their own
    (two round trips each for nothing): an error half-way through a reservation still undoes it
    all, the part's counter and the inbox row with it, and the redelivery reserves once."""
    from django.db import OperationalError, connection
    from django.test.utils import CaptureQueriesContext

    message = command(diagnosed_order, "os.ReserveParts", {"parts": part_lines((oil_filter, 2))})
    real_bulk_create = PartReservation.objects.bulk_create
    monkeypatch.setattr(PartReservation.objects, "bulk_create",
                        lambda *args, **kwargs: (_ for _ in ()).throw(OperationalError("connection lost")))
    with pytest.raises(Retry):  # after the counter went up in the same transaction
        handle_message.apply(args=[message], throw=True)
    assert Part.objects.get(pk=oil_filter.pk).quantity_reserved == 0
    assert not ProcessedMessage.objects.filter(message_id=message["message_id"]).exists()
    assert not PartReservation.objects.filter(service_order=diagnosed_order).exists()
    monkeypatch.setattr(PartReservation.objects, "bulk_create", real_bulk_create)
    with CaptureQueriesContext(connection) as queries:
        assert handle_message.apply(args=[message]).get() == "handled"
    assert _savepoints(queries) == 1
    assert not [q["sql"] for q in queries if "ORDER BY" in q["sql"] and '"service_orders_serviceorder"' in q["sql"]]
    consume = command(diagnosed_order, "os.ConsumeParts", {"parts": part_lines((oil_filter, 2))})
    with CaptureQueriesContext(connection) as queries:
        assert handle_message.apply(args=[consume]).get() == "handled"
    assert _savepoints(queries) == 1
    oil_filter.refresh_from_db()
    assert (oil_filter.quantity_in_stock, oil_filter.quantity_reserved) == (3, 0)


def _handled_and_sent(message, django_capture_on_commit_callbacks):
    """Handle ``message`` as the worker does, the after-commit publishing included: its outcome."""
    with django_capture_on_commit_callbacks(execute=True):
        return handle_message.apply(args=[message]).get()


def test_a_repeated_reservation_reserves_once_and_is_answered_again(diagnosed_order, oil_filter, published,
                                                                     django_capture_on_commit_callbacks):
    message = command(diagnosed_order, "os.ReserveParts", {"parts": part_lines((oil_filter, 2))})
    assert _handled_and_sent(message, django_capture_on_commit_callbacks) == "handled"
    # The reply was lost on its way: the saga sends the same command again.
    assert _handled_and_sent(message, django_capture_on_commit_callbacks) == "duplicate"
    assert Part.objects.get(pk=oil_filter.pk).quantity_reserved == 2  # one reservation
    assert PartReservation.objects.get().reserved == 2
    first, again = published.published
    assert again.type == "os.PartsReserved" and again.to_dict() == first.to_dict()  # the same id: taken once
    [row] = OutboxMessage.objects.exclude(type="os.DiagnosisCompleted")
    assert row.caused_by == message["message_id"]


@pytest.mark.parametrize("type_, reply", [("os.ReleaseParts", "os.PartsReleased"),
                                          ("os.ConsumeParts", "os.PartsConsumed")])
def test_a_repeated_release_or_consumption_is_answered_again(diagnosed_order, oil_filter, published, type_, reply,
                                                             django_capture_on_commit_callbacks):
    handle_message.apply(args=[command(diagnosed_order, "os.ReserveParts", {"parts": part_lines((oil_filter, 2))})])
    message = command(diagnosed_order, type_, {"parts": part_lines((oil_filter, 2))})
    _handled_and_sent(message, django_capture_on_commit_callbacks)
    _handled_and_sent(message, django_capture_on_commit_callbacks)
    answers = [e for e in published.published if e.type == reply]
    assert len(answers) == 2 and answers[0].message_id == answers[1].message_id
    assert answers[1].payload == {"parts": part_lines((oil_filter, 2))}
    oil_filter.refresh_from_db()
    assert oil_filter.quantity_reserved == 0
    assert oil_filter.quantity_in_stock == (3 if type_ == "os.ConsumeParts" else 5)


def test_a_repeated_failed_reservation_is_answered_with_the_same_failure(diagnosed_order, oil_filter, published,
                                                                         django_capture_on_commit_callbacks):
    message = command(diagnosed_order, "os.ReserveParts", {"parts": part_lines((oil_filter, 9))})
    _handled_and_sent(message, django_capture_on_commit_callbacks)
    oil_filter.quantity_in_stock = 20  # stock arrives meanwhile: the answer stays the one given
    oil_filter.save()
    assert _handled_and_sent(message, django_capture_on_commit_callbacks) == "duplicate"
    first, again = published.published
    assert again.type == "os.PartsReservationFailed" and again.to_dict() == first.to_dict()
    assert Part.objects.get(pk=oil_filter.pk).quantity_reserved == 0


def test_a_rejected_command_has_no_reply_to_repeat(diagnosed_order, published, django_capture_on_commit_callbacks):
    message = command(diagnosed_order, "os.ReleaseParts", {"parts": "everything"})
    assert _handled_and_sent(message, django_capture_on_commit_callbacks) == "rejected"
    assert _handled_and_sent(message, django_capture_on_commit_callbacks) == "duplicate"
    assert published.published == []


def test_a_repeat_is_answered_even_when_the_first_reply_never_left(diagnosed_order, oil_filter, published):
    message = command(diagnosed_order, "os.ReserveParts", {"parts": part_lines((oil_filter, 1))})
    handle_message.apply(args=[message])  # committed; the broker was down (nothing published)
    assert published.published == []
    assert handle_message.apply(args=[message]).get() == "duplicate"
    [reply] = published.published
    assert reply.type == "os.PartsReserved"
    assert OutboxMessage.objects.get(message_id=reply.message_id).published_at is not None  # the sweep skips it


class BrokerDown:
    def publish(self, envelope):
        raise BrokerError("redis is down")


def test_a_repeat_while_the_broker_is_down_is_retried(diagnosed_order, oil_filter, settings):
    message = command(diagnosed_order, "os.ReserveParts", {"parts": part_lines((oil_filter, 1))})
    handle_message.apply(args=[message])
    settings.OS_MESSAGE_PUBLISHER = "messaging.tests.integration.test_consumer.BrokerDown"
    with pytest.raises(Retry, match="redis is down"):  # the answer is owed: the task tries again later
        handle_message.apply(args=[message])
    assert Part.objects.get(pk=oil_filter.pk).quantity_reserved == 1


def test_change_status_moves_the_order_records_the_saga_and_emails(diagnosed_order,
                                                                     django_capture_on_commit_callbacks):
    message = command(diagnosed_order, "os.ChangeStatus", {
        "to": "AWAITING_APPROVAL", "reason": "Budget sent",
        "summary": {"budget": {"budget_id": "b-1", "status": "PENDING_APPROVAL", "total_cents": 15850}}})
    with django_capture_on_commit_callbacks(execute=True):
        assert handle_message.apply(args=[message]).get() == "handled"
    diagnosed_order.refresh_from_db()
    assert diagnosed_order.status == "AWAITING_APPROVAL"
    assert diagnosed_order.saga_summary["budget"] == {"budget_id": "b-1", "status": "PENDING_APPROVAL",
                                                      "total_cents": 15850}
    last = StatusHistory.objects.filter(service_order=diagnosed_order).last()
    assert (last.from_status, last.to_status, last.by, last.reason) == ("IN_DIAGNOSIS", "AWAITING_APPROVAL", "saga",
                                                                         "Budget sent")
    # The budget's news is Billing's e-mail (its lines, the approval link, the tracking link).
    assert not [m for m in mail.outbox if m.subject == f"{diagnosed_order.number}: Aguardando aprovação"]
    move_on = command(diagnosed_order, "os.ChangeStatus", {"to": "AWAITING_PAYMENT", "reason": "Pix"})
    with django_capture_on_commit_callbacks(execute=True):
        assert handle_message.apply(args=[move_on]).get() == "handled"
    assert mail.outbox[-1].subject == f"{diagnosed_order.number}: Aguardando pagamento"


PAYMENT_PAGE = "http://billing.test/budgets/b-1/v1/payment/?t=signed.token"
# The saga moves the order to AWAITING_PAYMENT as it holds the parts, before the Pix exists.
REQUESTED_PAYMENT = {"status": "REQUESTED", "amount_cents": 15550, "payment_url": PAYMENT_PAGE}


def test_awaiting_payment_before_the_pix_sends_the_customer_to_the_payment_page(
        client, diagnosed_order, django_capture_on_commit_callbacks):
    """Page and e-mail read the summary the move brought (the e-mail goes out once it committed)."""
    ServiceOrder.objects.filter(pk=diagnosed_order.pk).update(status="AWAITING_APPROVAL")
    message = command(diagnosed_order, "os.ChangeStatus", {
        "to": "AWAITING_PAYMENT", "reason": "Budget approved; waiting for the payment",
        "summary": {"budget": {"budget_id": "b-1", "version": 1, "status": "APPROVED", "total_cents": 15550},
                    "payment": REQUESTED_PAYMENT,
                    "execution": {"execution_id": "e-1", "status": "IN_PROGRESS", "current_step": "reserve_parts"}}})
    with django_capture_on_commit_callbacks(execute=True):
        assert handle_message.apply(args=[message]).get() == "handled"

    html = client.get(f"/track/{diagnosed_order.tracking_code}/").content.decode()
    assert one(html, "order-status")["data-status"] == "AWAITING_PAYMENT"
    assert one(html, "payment-page-link")["href"] == PAYMENT_PAGE
    assert one(html, "next-action")["data-action"] == "pay_link"
    assert one(html, "payment-status").text == "Aguardando pagamento"
    assert "pix-code" not in by_testid(html)
    [email] = [m for m in mail.outbox if m.subject == f"{diagnosed_order.number}: Aguardando pagamento"]
    assert f"Pague aqui: {PAYMENT_PAGE}" in email.body


def test_the_status_email_reads_nothing_the_locked_order_did_not_bring(diagnosed_order,
                                                                        django_capture_on_commit_callbacks):
    """The e-mail names the customer and the vehicle: both come with the order's locked read."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ServiceOrder.objects.filter(pk=diagnosed_order.pk).update(status="AWAITING_APPROVAL")
    message = command(diagnosed_order, "os.ChangeStatus", {"to": "AWAITING_PAYMENT", "reason": "Pix"})
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        assert handle_message.apply(args=[message]).get() == "handled"
    assert diagnosed_order.vehicle.plate in mail.outbox[-1].body
    reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT")]
    assert not [sql for sql in reads if 'FROM "customers_' in sql], reads
    [locked] = [sql for sql in reads if sql.endswith('FOR UPDATE OF "service_orders_serviceorder"')]
    assert "ORDER BY" not in locked  # one order by its key: nothing to sort


def test_change_status_to_the_same_status_only_refreshes_the_summary(diagnosed_order):
    ServiceOrder.objects.filter(pk=diagnosed_order.pk).update(status="AWAITING_PAYMENT")
    before = StatusHistory.objects.count()
    handle_message.apply(args=[command(diagnosed_order, "os.ChangeStatus", {
        "to": "AWAITING_PAYMENT", "reason": "", "summary": {"payment": {"status": "PENDING", "qr_code": "pix"}}})])
    diagnosed_order.refresh_from_db()
    assert diagnosed_order.status == "AWAITING_PAYMENT"
    assert diagnosed_order.saga_summary["payment"] == {"status": "PENDING", "qr_code": "pix"}
    assert StatusHistory.objects.count() == before


def test_change_status_is_never_refused_for_a_long_reason(diagnosed_order):
    reason = "O cliente recusou o orçamento depois de longa conversa sobre as peças. " * 12  # 852 characters
    message = command(diagnosed_order, "os.ChangeStatus", {
        "to": "CANCELLED", "reason": reason,
        "summary": {"budget": {"status": "REJECTED", "reason": reason}, "payment": {"failure_reason": reason}}})
    assert handle_message.apply(args=[message]).get() == "handled"
    diagnosed_order.refresh_from_db()
    assert diagnosed_order.status == "CANCELLED"
    assert StatusHistory.objects.filter(service_order=diagnosed_order).last().reason == reason
    assert diagnosed_order.saga_summary["budget"]["reason"] == reason


def test_a_change_status_whose_predecessor_was_lost_moves_the_order_through_both(diagnosed_order):
    """The broker lost the saga's AWAITING_APPROVAL: its AWAITING_PAYMENT takes the order there
    through AWAITING_APPROVAL (each status once in the history); the late one changes nothing."""
    handle_message.apply(args=[command(diagnosed_order, "os.ChangeStatus", {
        "to": "AWAITING_PAYMENT", "reason": "Budget approved; waiting for the payment",
        "summary": {"payment": REQUESTED_PAYMENT}})])
    diagnosed_order.refresh_from_db()
    assert diagnosed_order.status == "AWAITING_PAYMENT"
    assert diagnosed_order.saga_summary["payment"] == REQUESTED_PAYMENT
    moves = [(h.from_status, h.to_status, h.by) for h in StatusHistory.objects.filter(service_order=diagnosed_order)]
    assert moves[-2:] == [("IN_DIAGNOSIS", "AWAITING_APPROVAL", "saga"),
                          ("AWAITING_APPROVAL", "AWAITING_PAYMENT", "saga")]
    handle_message.apply(args=[command(diagnosed_order, "os.ChangeStatus", {"to": "AWAITING_APPROVAL"})])
    diagnosed_order.refresh_from_db()
    assert diagnosed_order.status == "AWAITING_PAYMENT"
    assert StatusHistory.objects.filter(service_order=diagnosed_order).count() == len(moves)


def test_an_illegal_change_status_is_dropped_and_not_retried(diagnosed_order):
    message = command(diagnosed_order, "os.ChangeStatus", {"to": "DELIVERED", "reason": "?",
                                                           "summary": {"execution": {"status": "COMPLETED"}}})
    handle_message.apply(args=[message])
    diagnosed_order.refresh_from_db()
    assert diagnosed_order.status == "IN_DIAGNOSIS" and diagnosed_order.saga_summary["execution"] == {}
    assert ProcessedMessage.objects.filter(message_id=message["message_id"]).exists()
    assert handle_message.apply(args=[message]).get() == "duplicate"


def test_a_change_status_for_an_unknown_order_is_rejected(db):
    message = Envelope(type="os.ChangeStatus", saga_id="s", service_order_id="00000000-0000-0000-0000-000000000000",
                       payload={"to": "IN_EXECUTION"}).to_dict()
    assert handle_message.apply(args=[message]).get() == "rejected"
    assert ProcessedMessage.objects.filter(message_id=message["message_id"]).exists()


def test_malformed_and_foreign_messages_are_dropped(diagnosed_order):
    assert handle_message.apply(args=[{"type": "os.ReserveParts"}]).get() == "malformed"
    assert handle_message.apply(args=["not even a dict"]).get() == "malformed"
    event = command(diagnosed_order, "billing.BudgetApproved", {"budget_id": "b"})
    assert handle_message.apply(args=[event]).get() == "unhandled"
    assert not OutboxMessage.objects.exclude(type="os.DiagnosisCompleted").exists()


def test_a_malformed_release_is_rejected_without_effects(diagnosed_order):
    message = command(diagnosed_order, "os.ReleaseParts", {"parts": "everything"})
    assert handle_message.apply(args=[message]).get() == "rejected"
    assert not replies("os.PartsReleased")


def test_a_database_outage_is_retried(diagnosed_order, monkeypatch):
    from django.db import OperationalError

    from messaging import services

    def down(data):
        raise OperationalError("connection refused")

    monkeypatch.setattr(services, "message_handle", down)
    with pytest.raises(Retry, match="connection refused"):
        handle_message.apply(args=[command(diagnosed_order, "os.ChangeStatus", {"to": "AWAITING_APPROVAL"})])


def test_a_message_that_can_never_succeed_is_dropped_not_retried(diagnosed_order, monkeypatch):
    from django.db import IntegrityError

    from messaging import services

    def broken(data):
        raise IntegrityError("check constraint violated")

    monkeypatch.setattr(services, "message_handle", broken)
    message = command(diagnosed_order, "os.ChangeStatus", {"to": "AWAITING_APPROVAL"})
    assert handle_message.apply(args=[message]).get() == "rejected"


# --- additional repairs are priced from the catalogue, never from the request -----------------
def test_additional_repairs_are_priced_from_todays_catalogue(diagnosed_order, oil_filter, brake_pads):
    brake_pads.may_decline_alone = True
    brake_pads.save()
    message = command(diagnosed_order, "os.PriceItems", {"items": [
        {"kind": "part", "catalog_id": str(brake_pads.pk), "quantity": 2, "job": 2,
         "unit_price_cents": 1},  # a price in the request is no price: the catalogue's is taken
        {"kind": "part", "catalog_id": oil_filter.pk, "quantity": 1}]})
    assert handle_message.apply(args=[message]).get() == "handled"
    [reply] = replies()
    assert reply["type"] == "os.ItemsPriced"
    assert reply["payload"]["items"] == [
        {"kind": "part", "catalog_id": str(brake_pads.pk), "description": "Pastilha", "quantity": 2,
         "unit_price_cents": 21000, "job": 2, "optional": True},
        {"kind": "part", "catalog_id": str(oil_filter.pk), "description": oil_filter.name, "quantity": 1,
         "unit_price_cents": int(oil_filter.unit_price * 100), "job": 1, "optional": False}]


@pytest.mark.parametrize("items", [
    [{"kind": "part", "catalog_id": "999999", "quantity": 1}],
    [{"kind": "tyre", "catalog_id": "1", "quantity": 1}],
    [{"kind": "part", "catalog_id": "x", "quantity": 1}],
    [{"kind": "part", "catalog_id": "1", "quantity": 0}],
    [],
    "not a list",
])
def test_an_item_the_catalogue_cannot_price_is_answered_with_the_reason(diagnosed_order, items):
    assert handle_message.apply(args=[command(diagnosed_order, "os.PriceItems", {"items": items})]).get() == "handled"
    [reply] = replies()
    assert reply["type"] == "os.ItemsPricingFailed" and reply["payload"]["reason"]
