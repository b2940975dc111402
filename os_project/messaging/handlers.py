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
from service_orders.domain import ItemKind
from service_orders.services import service_order_apply_saga_status, snapshot_items

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


MAX_PRICED_ITEMS = 50


def _requested_items(raw: Any) -> list[dict[str, Any]]:
    """``{kind, catalog_id, quantity, job?}`` lines, checked: anything else is refused with a reason."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_PRICED_ITEMS:
        raise ValidationFailed(f"items: from 1 to {MAX_PRICED_ITEMS} catalog items are required.")
    lines = []
    for n, item in enumerate(raw):
        try:
            kind = ItemKind(item["kind"])
            catalog_id, quantity, job = int(item["catalog_id"]), int(item["quantity"]), int(item.get("job") or 1)
        except (KeyError, TypeError, ValueError):
            raise ValidationFailed(f"items[{n}]: a catalog item needs kind, catalog_id and quantity.") from None
        if not (catalog_id > 0 and 1 <= quantity <= 10_000 and 1 <= job <= 50):
            raise ValidationFailed(f"items[{n}]: catalog_id, quantity (1-10000) or job (1-50) out of range.")
        lines.append({"kind": kind.value, "catalog_id": catalog_id, "quantity": quantity, "job": job})
    return lines


def price_items(envelope: Envelope) -> None:
    """Additional repairs the mechanic reported by catalog item and quantity: the names and prices
    are today's catalogue's, never the request's. A pure read; a repeated command is priced again."""
    raw = envelope.payload.get("items")
    try:
        lines = snapshot_items(_requested_items(raw))
    except ValidationFailed as exc:
        logger.info("additional repairs for %s not priced: %s", envelope.service_order_id, exc.message)
        _reply(envelope, "os.ItemsPricingFailed", {"items": raw if isinstance(raw, list) else [],
                                                   "reason": exc.message})
        return
    _reply(envelope, "os.ItemsPriced", {"items": [line.to_message() for line in lines]})


def change_status(envelope: Envelope) -> None:
    payload = envelope.payload
    service_order_apply_saga_status(service_order_id=envelope.service_order_id, to=payload.get("to"),
                                    reason=payload.get("reason", ""), summary=payload.get("summary"))


HANDLERS = {
    "os.ReserveParts": reserve_parts,
    "os.ReleaseParts": release_parts,
    "os.ConsumeParts": consume_parts,
    "os.ChangeStatus": change_status,
    "os.PriceItems": price_items,
}

dispatcher = Dispatcher(HANDLERS)
