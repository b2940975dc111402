"""What the OS service does with each message it consumes (commands from the saga).

Every handler runs inside the consumer's transaction, with the inbox row; replies go through
the outbox, so they leave only if the changes commit. Each reads the command's typed payload
(``oficina_common.contracts``), checked once by the dispatcher: a reservation or a pricing that
does not follow its contract is answered with a failure and the reason; any other such command is
refused (logged, never retried).
"""
from __future__ import annotations

import logging
from typing import Any

from catalog import services as stock
from catalog.domain import StockOutcome, lines_to_message, part_lines
from oficina_common import contracts
from oficina_common.errors import ValidationFailed
from oficina_common.messages import Envelope, InvalidMessage
from oficina_common.messaging import Dispatcher
from service_orders.services import service_order_apply_saga_status, snapshot_items

from . import outbox

logger = logging.getLogger(__name__)


def _body(envelope: Envelope) -> Any:
    """The command's typed payload; one that breaks its contract is a refused command."""
    try:
        return envelope.body
    except InvalidMessage as exc:
        raise ValidationFailed(str(exc)) from None


def _reply(command: Envelope, message_type: str, payload: contracts.Contract) -> None:
    """Answer ``command`` through the outbox; the row remembers the command, for its repeats."""
    outbox.publish(command.reply(message_type, payload), caused_by=command.message_id)


def reserve_parts(envelope: Envelope) -> None:
    try:
        lines = part_lines(_body(envelope).parts)
    except ValidationFailed as exc:
        outcome = StockOutcome(reason=exc.message)
        raw = envelope.payload.get("parts")
        requested = raw if isinstance(raw, list) else []
    else:
        outcome = stock.parts_reserve(service_order_id=envelope.service_order_id, lines=lines)
        requested = lines_to_message(lines)
    if outcome.ok:
        _reply(envelope, "os.PartsReserved", contracts.PartsMoved(parts=lines_to_message(outcome.parts)))
        return
    logger.info("parts reservation failed for %s: %s", envelope.service_order_id, outcome.reason)
    _reply(envelope, "os.PartsReservationFailed", contracts.PartsReservationFailed(
        parts=requested, missing=[shortage.to_message() for shortage in outcome.missing], reason=outcome.reason))


def release_parts(envelope: Envelope) -> None:
    outcome = stock.parts_release(service_order_id=envelope.service_order_id,
                                  lines=part_lines(_body(envelope).parts))
    _reply(envelope, "os.PartsReleased", contracts.PartsMoved(parts=lines_to_message(outcome.parts)))


def consume_parts(envelope: Envelope) -> None:
    outcome = stock.parts_consume(service_order_id=envelope.service_order_id,
                                  lines=part_lines(_body(envelope).parts))
    _reply(envelope, "os.PartsConsumed", contracts.PartsMoved(parts=lines_to_message(outcome.parts)))


def price_items(envelope: Envelope) -> None:
    """Additional repairs the mechanic reported by catalog item and quantity: the names and prices
    are today's catalogue's, never the request's. A pure read; a repeated command is priced again."""
    try:
        requested = _body(envelope).items
        lines = snapshot_items([item.model_dump(include={"kind", "catalog_id", "quantity", "job"})
                                for item in requested])
    except ValidationFailed as exc:
        logger.info("additional repairs for %s not priced: %s", envelope.service_order_id, exc.message)
        raw = envelope.payload.get("items")
        _reply(envelope, "os.ItemsPricingFailed", contracts.ItemsPricingFailed(
            items=raw if isinstance(raw, list) else [], reason=exc.message))
        return
    _reply(envelope, "os.ItemsPriced", contracts.ItemsPriced(items=[line.to_message() for line in lines]))


def change_status(envelope: Envelope) -> None:
    command: contracts.ChangeStatus = _body(envelope)
    service_order_apply_saga_status(service_order_id=envelope.service_order_id, to=command.to,
                                    reason=command.reason, summary=command.summary)


HANDLERS = {
    "os.ReserveParts": reserve_parts,
    "os.ReleaseParts": release_parts,
    "os.ConsumeParts": consume_parts,
    "os.ChangeStatus": change_status,
    "os.PriceItems": price_items,
}

dispatcher = Dispatcher(HANDLERS)
