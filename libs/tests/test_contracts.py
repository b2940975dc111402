import jsonschema
import pytest

from oficina_common import contracts, messages
from oficina_common.contracts import CONTRACTS, DOC, ItemLine, document, read
from oficina_common.messages import ENVELOPE_SCHEMA, ROUTES, TEXT_LIMIT, Envelope, InvalidMessage
from oficina_common.messaging import Dispatcher, MemoryInbox

LINE = {"kind": "part", "catalog_id": "7", "description": "Filtro de óleo", "quantity": 2, "unit_price_cents": 3550,
        "job": 1, "optional": False}
DECIDED = {**LINE, "line_id": 2, "status": "DECLINED"}

# One message of each type as its producer writes it today.
EXAMPLES = {
    "billing.CreateBudget": {"customer_id": "42", "customer_name": "Maria", "customer_email": "maria@example.com",
                             "order_number": "OS-1", "tracking_url": "https://oficina.example/t/x", "items": [LINE]},
    "billing.ReviseBudget": {"budget_id": "b-1", "items": [LINE], "reason": "Pastilhas gastas"},
    "billing.CancelBudget": {"reason": "The saga stopped"},
    "billing.RequestPayment": {"budget_id": "b-1", "version": 1, "amount_cents": 7100, "method": "pix",
                               "payer_email": "maria@example.com", "description": "Ordem de serviço OS-1"},
    "billing.CancelPayment": {"budget_id": "b-1", "version": 1, "reason": "timeout"},
    "billing.RefundPayment": {"payment_id": "p-1", "reason": "Service order cancelled"},
    "os.ReserveParts": {"parts": [{"catalog_id": "7", "quantity": 2}]},
    "os.ReleaseParts": {"parts": []},
    "os.ConsumeParts": {"parts": [{"catalog_id": "7", "quantity": 2}]},
    "os.ChangeStatus": {"to": "AWAITING_APPROVAL", "reason": "Budget sent", "summary": {"budget": {"version": 1}}},
    "os.PriceItems": {"items": [{"kind": "part", "catalog_id": "9", "quantity": 1, "job": 2}]},
    "os.DiagnosisCompleted": {"order_number": "OS-1", "customer_id": "42", "customer_name": "Maria",
                              "customer_email": "maria@example.com", "vehicle": {"plate": "ABC1D23", "model": "Gol"},
                              "priority": 3, "items": [LINE], "notes": "", "tracking_url": "https://x/t/1"},
    "os.OrderCancelled": {"reason": "Cliente desistiu", "cancelled_by": "attendant"},
    "os.PartsReserved": {"parts": [{"catalog_id": "7", "quantity": 2}]},
    "os.PartsReservationFailed": {"parts": [{"catalog_id": "7", "quantity": 2}],
                                  "missing": [{"catalog_id": "7", "requested": 2, "available": 1}], "reason": ""},
    "os.PartsReleased": {"parts": [{"catalog_id": "7", "quantity": 2}]},
    "os.PartsConsumed": {"parts": [{"catalog_id": "7", "quantity": 2}]},
    "os.ItemsPriced": {"items": [{**LINE, "optional": True}]},
    "os.ItemsPricingFailed": {"items": [{"kind": "tyre"}], "reason": "items[0]: unknown kind"},
    "billing.BudgetCreated": {"budget_id": "b-1", "version": 2, "total_cents": 9000,
                              "expires_at": "2026-05-08T12:00:00Z", "revision": True, "additional_total_cents": 1900,
                              "items": [LINE], "lines": [{**LINE, "line_id": 1}], "origin": "staff"},
    "billing.BudgetApproved": {"budget_id": "b-1", "version": 1, "total_cents": 1000, "decided_by": "customer",
                               "lines": [DECIDED], "declined_total_cents": 7100},
    "billing.BudgetRejected": {"budget_id": "b-1", "version": 1, "total_cents": 1000, "reason": "caro",
                               "decided_by": "customer"},
    "billing.BudgetExpired": {"budget_id": "b-1", "version": 1},
    "billing.BudgetCancelled": {"budget_id": "b-1", "version": 1, "status": "CANCELLED"},
    "billing.PaymentRequested": {"payment_id": "p-1", "budget_id": "b-1", "mercadopago_payment_id": None,
                                 "status": "PENDING", "amount_cents": 7100, "qr_code": "000201", "init_point": None},
    "billing.PaymentApproved": {"payment_id": "p-1", "budget_id": "b-1", "mercadopago_payment_id": "123",
                                "status": "APPROVED", "amount_cents": 7100},
    "billing.PaymentFailed": {"payment_id": "p-1", "budget_id": "b-1", "mercadopago_payment_id": "123",
                              "status": "REJECTED", "reason": "rejected by Mercado Pago"},
    "billing.PaymentCancelled": {"payment_id": "p-1"},
    "billing.PaymentRefunded": {"payment_id": "p-1", "mercadopago_payment_id": "456", "amount_cents": 7100,
                                "status": "REFUNDED", "duplicate": True, "reason": "second payment for the same order"},
    "execution.WorkCompleted": {"queue_id": "q-1", "notes": "Pronto"},
    "execution.WorkFailed": {"queue_id": "q-1", "reason": "Peça errada"},
    "execution.AdditionalRepairReported": {"queue_id": "q-1", "notes": "Pastilhas",
                                           "items": [{"kind": "part", "catalog_id": "9", "quantity": 1, "job": 2}]},
}


def test_every_routed_type_has_a_contract_and_an_example():
    assert set(CONTRACTS) == set(ROUTES) == set(EXAMPLES)


@pytest.mark.parametrize("message_type", sorted(EXAMPLES))
def test_what_the_services_publish_follows_its_contract(message_type):
    body = read(message_type, EXAMPLES[message_type])
    assert isinstance(body, CONTRACTS[message_type])
    # What it carries goes on unchanged (ids as strings, nothing added).
    assert body.to_payload() == EXAMPLES[message_type]


@pytest.mark.parametrize("message_type, payload, error", [
    ("os.ReserveParts", {"parts": "all of them"}, "parts must be a list, got 'all of them'"),
    ("os.ReserveParts", {"parts": [{"catalog_id": "1", "quantity": -1}]},
     "parts[0].quantity must be a positive integer, got -1"),
    ("os.ReserveParts", {"parts": [{"catalog_id": "oil", "quantity": 1}]}, "parts[0].catalog_id"),
    ("os.PriceItems", {"items": []}, "items: List should have at least 1 item"),
    ("os.PriceItems", {"items": [{"kind": "tyre", "catalog_id": "1", "quantity": 1}]}, "items[0].kind"),
    ("os.ChangeStatus", {"reason": "x"}, "to is required"),
    ("billing.CreateBudget", {"customer_id": "42", "items": [{**LINE, "quantity": 0}]},
     "items[0].quantity must be a positive integer, got 0"),
    ("billing.CreateBudget", {"customer_id": "42", "items": [{**LINE, "kind": "tyre"}]},
     "items[0].kind: Input should be 'service' or 'part'"),
    ("billing.RequestPayment", {**EXAMPLES["billing.RequestPayment"], "method": "boleto"}, "method"),
    ("billing.BudgetApproved", {"budget_id": "b-1"}, "version is required"),
    ("billing.PaymentApproved", {"status": "APPROVED"}, "payment_id is required"),
    ("os.DiagnosisCompleted", {"customer_id": "42"}, "items is required"),
])
def test_what_breaks_its_contract_is_refused_saying_where(message_type, payload, error):
    with pytest.raises(InvalidMessage, match="^" + message_type) as refused:
        read(message_type, payload)
    assert error in str(refused.value)


def test_older_messages_are_read_with_their_defaults():
    line = ItemLine.model_validate({"kind": "service", "catalog_id": 7, "quantity": 1, "job": None,
                                    "unit_price_cents": None, "optional": None})
    assert (line.catalog_id, line.job, line.unit_price_cents, line.optional, line.description) == ("7", 1, 0, False, "")
    assert read("billing.BudgetCancelled", {"budget_id": "b-1", "version": None}).version == 0


def test_fields_a_newer_sender_adds_are_kept():
    body = read("execution.WorkCompleted", {"queue_id": "q-1", "notes": "", "photos": 3})
    assert body.to_payload()["photos"] == 3


def test_long_reasons_are_cut_to_what_every_receiver_keeps_never_refused():
    body = read("billing.CancelBudget", {"reason": "Cliente desistiu. " * 60})
    assert len(body.reason) <= TEXT_LIMIT and body.reason.endswith("…")


def test_the_doc_shows_the_contracts_as_they_are():
    text = DOC.read_text(encoding="utf-8")
    assert document(text) == text, "run: python -m oficina_common.contracts --markdown"
    assert contracts.BEGIN in text


# --- the envelope -------------------------------------------------------------------------------
def envelope(**overrides) -> Envelope:
    return Envelope(**{"type": "os.ReserveParts", "saga_id": "saga-1", "service_order_id": "order-1",
                       "payload": {"parts": [{"catalog_id": "7", "quantity": 2}]}, **overrides})


def test_an_envelope_built_from_its_contract_carries_the_models_json():
    command = contracts.PartsCommand(parts=[{"catalog_id": 7, "quantity": 2}])
    built = envelope(payload=command)
    assert built.payload == {"parts": [{"catalog_id": "7", "quantity": 2}]}
    assert built.body is command
    assert Envelope.from_dict(built.to_dict()) == built
    with pytest.raises(TypeError, match="does not carry"):
        envelope(type="os.PriceItems", payload=command)


def test_a_payload_error_is_the_same_every_time_it_is_read():
    broken = envelope(payload={"parts": "all of them"})
    first = broken.payload_error()
    assert isinstance(first, InvalidMessage) and broken.payload_error() is first
    with pytest.raises(InvalidMessage, match="parts must be a list"):
        broken.body


def test_an_envelope_is_checked_once_in_a_process(monkeypatch):
    calls = []
    real = messages.validate
    monkeypatch.setattr(messages, "validate", lambda data: calls.append(1) or real(data))
    read_back = Envelope.from_dict(envelope().to_dict())
    assert len(calls) == 2  # written once, read once
    read_back.to_dict()
    read_back.to_dict()
    assert len(calls) == 2  # what was read is not checked again when it is published


def test_to_dict_gives_the_caller_its_own_copy():
    built = envelope()
    data = built.to_dict()
    data["payload"]["parts"][0]["quantity"] = 99
    assert built.payload["parts"][0]["quantity"] == 2


VALID = envelope().to_dict()


@pytest.mark.parametrize("change", [
    {}, {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}, {"occurred_at": "2026-05-01T12:00:00.123+00:00"},
    {"type": "nope.Unknown"}, {"payload": "x"}, {"payload": []}, {"version": 0}, {"version": "1"}, {"version": True},
    {"saga_id": ""}, {"saga_id": 7}, {"message_id": "abc"}, {"occurred_at": "yesterday"},
    {"occurred_at": "2026-13-01T00:00:00Z"}, {"traceparent": "zz"}, {"traceparent": None}, {"surprise": 1},
])
def test_the_runtime_check_and_the_published_schema_agree(change):
    data = VALID | change
    validator = jsonschema.Draft202012Validator(ENVELOPE_SCHEMA, format_checker=jsonschema.FormatChecker())
    published = validator.is_valid(data)
    try:
        Envelope.from_dict(data)
    except InvalidMessage:
        runtime = False
    else:
        runtime = True
    assert runtime == published


def test_a_missing_field_is_named():
    data = dict(VALID)
    del data["saga_id"]
    with pytest.raises(InvalidMessage, match="'saga_id' is a required property"):
        Envelope.from_dict(data)


# --- the dispatcher -----------------------------------------------------------------------------
def test_the_handler_reads_the_typed_payload_checked_once():
    seen = []
    dispatcher = Dispatcher({"os.ReserveParts": lambda e: seen.append(e.body)})
    assert dispatcher.dispatch(envelope().to_dict(), MemoryInbox()) == "handled"
    [body] = seen
    assert isinstance(body, contracts.PartsCommand) and body.parts[0].quantity == 2


def test_a_payload_that_breaks_its_contract_is_handed_to_its_handler_to_refuse():
    refused = []

    def reserve(e):
        try:
            e.body
        except InvalidMessage as exc:
            refused.append(str(exc))  # the OS answers it with os.PartsReservationFailed

    dispatcher = Dispatcher({"os.ReserveParts": reserve})
    assert dispatcher.dispatch(envelope(payload={"parts": "all of them"}).to_dict(), MemoryInbox()) == "handled"
    assert refused == ["os.ReserveParts: parts must be a list, got 'all of them'"]
