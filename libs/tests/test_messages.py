import pytest

from oficina_common.messages import (
    COMMANDS,
    ENVELOPE_SCHEMA,
    EVENTS,
    TEXT_LIMIT,
    Envelope,
    InvalidMessage,
    clip,
    handler_task_name,
)
from oficina_common.messaging import DUPLICATE, Dispatcher, MemoryInbox, RecordingPublisher


def make(**overrides) -> Envelope:
    values = {"type": "os.DiagnosisCompleted", "saga_id": "saga-1", "service_order_id": "order-1",
              "payload": {"priority": 3}}
    values.update(overrides)
    return Envelope(**values)


def test_round_trip_keeps_every_field():
    envelope = make()
    again = Envelope.from_dict(envelope.to_dict())
    assert again == envelope
    assert envelope.to_dict()["version"] == 1
    assert envelope.occurred_at.endswith("Z")


def test_commands_go_to_their_owner_and_events_to_the_orchestrator():
    assert make(type="billing.CreateBudget").queue == "billing"
    assert make(type="os.ReserveParts").queue == "os"
    assert make(type="billing.BudgetApproved").queue == "execution"
    assert all(t.split(".")[0] == q or q == "execution" for t, q in COMMANDS.items())
    assert set(EVENTS.values()) == {"execution"}
    assert handler_task_name("os") == "os.handle_message"


@pytest.mark.parametrize("broken", [
    {"type": "nope.Unknown"},
    {"payload": "not an object"},
    {"version": 0},
    {"saga_id": ""},
])
def test_invalid_envelopes_are_refused(broken):
    data = make().to_dict() | broken
    with pytest.raises(InvalidMessage):
        Envelope.from_dict(data)


def test_extra_fields_are_refused():
    with pytest.raises(InvalidMessage, match="Additional properties"):
        Envelope.from_dict(make().to_dict() | {"surprise": 1})


def test_schema_lists_every_route():
    assert set(ENVELOPE_SCHEMA["properties"]["type"]["enum"]) == set(COMMANDS) | set(EVENTS)


def test_reply_keeps_saga_and_order():
    reply = make().reply("billing.CreateBudget", {"items": []})
    assert (reply.saga_id, reply.service_order_id, reply.type) == ("saga-1", "order-1", "billing.CreateBudget")
    assert reply.message_id != make().message_id


def test_dispatcher_handles_once_and_drops_what_it_cannot_read():
    seen = []
    dispatcher = Dispatcher({"os.DiagnosisCompleted": seen.append})
    inbox = MemoryInbox()
    data = make().to_dict()
    assert dispatcher.dispatch(data, inbox) == "handled"
    assert dispatcher.dispatch(data, inbox) == "duplicate"
    assert len(seen) == 1
    assert dispatcher.dispatch({"garbage": True}, inbox) == "malformed"
    assert dispatcher.dispatch(make(type="os.PartsReserved").to_dict(), inbox) == "unhandled"
    assert list(dispatcher.types) == ["os.DiagnosisCompleted"]


def test_without_an_inbox_the_handler_says_what_it_had_already_applied():
    applied: set[str] = set()

    def apply_once(envelope):  # as an aggregate that records the ids it applied in its own write
        if envelope.message_id in applied:
            return DUPLICATE
        applied.add(envelope.message_id)
        return {"changed": True}

    dispatcher = Dispatcher({"os.DiagnosisCompleted": apply_once})
    data = make().to_dict()
    assert dispatcher.dispatch(data, None) == "handled"
    assert dispatcher.dispatch(data, None) == "duplicate"
    assert dispatcher.dispatch(make().to_dict(), None) == "handled"
    assert dispatcher.dispatch({"garbage": True}, None) == "malformed"


def test_a_failing_handler_does_not_mark_the_message():
    def explode(envelope):
        raise RuntimeError("transient")

    inbox = MemoryInbox()
    data = make().to_dict()
    with pytest.raises(RuntimeError):
        Dispatcher({"os.DiagnosisCompleted": explode}).dispatch(data, inbox)
    assert not inbox.seen(data["message_id"])


def test_recording_publisher():
    publisher = RecordingPublisher()
    publisher.publish(make())
    assert publisher.types() == ["os.DiagnosisCompleted"]


def test_html_testing_reads_pages_by_testid():
    from oficina_common.html_testing import by_testid, one, visible_text

    page = ('<div data-testid="total">R$ <b>10,00</b><img data-testid="qr" src="x"></div>'
            '<script>var hidden = 1;</script><p data-testid="item">a</p><p data-testid="item">b</p>')
    assert one(page, "total").text == "R$ 10,00"
    assert one(page, "qr")["src"] == "x"
    assert [e.text for e in by_testid(page, "item")] == ["a", "b"]
    assert set(by_testid(page)) == {"total", "qr", "item"}
    assert "hidden" not in visible_text(page) and "R$ 10,00" in visible_text(page)

def test_short_text_is_kept_as_it_is_without_surrounding_blanks():
    assert clip("  Freios gastos  ") == "Freios gastos"
    assert clip(None) == ""


def test_long_text_is_cut_to_the_limit_with_an_ellipsis():
    reason = "Cliente desistiu do serviço. " * 40  # ~1,160 characters
    cut = clip(reason)
    assert len(cut) <= TEXT_LIMIT
    assert cut.endswith("…")
    assert reason.startswith(cut[:-1])
    assert clip("abcdef", 4) == "abc…"
