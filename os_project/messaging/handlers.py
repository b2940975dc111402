"""What the OS service does with each message it consumes (commands from the saga).

Every handler runs inside the consumer's transaction, with the inbox row; replies go through
the outbox, so they leave only if the changes commit.
"""
from __future__ import annotations

import logging
from typing import Any

from catalog import services as stock
from catalog.domain import StockOutcome, lines_to_message, parse_part_lines
from oficina_common.errors import ValidationFailed
from oficina_common.messages import Envelope
from oficina_common.messaging import Dispatcher
from service_orders.services import service_order_apply_saga_status

from . import outbox

logger = logging.getLogger(__name__)


def _raw_parts(envelope: Envelope) -> Any:
    return envelope.payload.get("parts", [])


def _reply(command: Envelope, message_type: str, payload: dict[str, Any]) -> None:
    """Answer ``command`` through the outbox; the row remembers the command, for its repeats."""
    outbox.publish(command.reply(message_type, payload), caused_by=command.message_id)


def reserve_parts(envelope: Envelope) -> None:
    try:
        lines = parse_part_lines(_raw_parts(envelope))
    except ValidationFailed as exc:
        outcome = StockOutcome(reason=exc.message)
        requested = _raw_parts(envelope) if isinstance(_raw_parts(envelope), list) else []
    else:
        outcome = stock.parts_reserve(service_order_id=envelope.service_order_id, lines=lines)
        requested = lines_to_message(lines)
    if outcome.ok:
        _reply(envelope, "os.PartsReserved", {"parts": lines_to_message(outcome.parts)})
        return
    logger.info("parts reservation failed for %s: %s", envelope.service_order_id, outcome.reason)
    _reply(envelope, "os.PartsReservationFailed", {
        "parts": requested,
        "missing": [shortage.to_message() for shortage in outcome.missing],
        "reason": outcome.reason,
    })


def release_parts(envelope: Envelope) -> None:
    outcome = stock.parts_release(service_order_id=envelope.service_order_id,
                                  lines=parse_part_lines(_raw_parts(envelope)))
    _reply(envelope, "os.PartsReleased", {"parts": lines_to_message(outcome.parts)})


def consume_parts(envelope: Envelope) -> None:
    outcome = stock.parts_consume(service_order_id=envelope.service_order_id,
                                  lines=parse_part_lines(_raw_parts(envelope)))
    _reply(envelope, "os.PartsConsumed", {"parts": lines_to_message(outcome.parts)})


def change_status(envelope: Envelope) -> None:
    payload = envelope.payload
    service_order_apply_saga_status(service_order_id=envelope.service_order_id, to=payload.get("to"),
                                    reason=payload.get("reason", ""), summary=payload.get("summary"))


HANDLERS = {
    "os.ReserveParts": reserve_parts,
    "os.ReleaseParts": release_parts,
    "os.ConsumeParts": consume_parts,
    "os.ChangeStatus": change_status,
}

dispatcher = Dispatcher(HANDLERS)
