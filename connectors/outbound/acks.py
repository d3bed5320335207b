"""What an acknowledgment from a target system changes in Interlock, keyed by
(system kind, message type).

A handler gets the delivered outbox row, the receiver's :class:`Receipt` and the system.
It must be idempotent (it runs again when a crash repeats the delivery): the shipped ones
turn the acknowledgment into a canonical event and ingest it as that system, so the event
is deduplicated by its business key, audited, and evaluated by the rules like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.utils import timezone

from .base import Receipt

logger = logging.getLogger(__name__)

AckHandler = Callable[..., None]
ACK_HANDLERS: dict[tuple[str, str], AckHandler] = {}


def ack_handler(kind: str, message_type: str) -> Callable[[AckHandler], AckHandler]:
    def decorator(func: AckHandler) -> AckHandler:
        ACK_HANDLERS[(kind, message_type)] = func
        return func

    return decorator


def run(*, message, receipt: Receipt, system) -> None:
    """Call the handler for this message, if any. A failing handler is logged and does not
    stop delivery (the message did arrive); the ingest it calls stores what it received."""
    handler = ACK_HANDLERS.get((system.kind, message.message_type))
    if handler is None:
        return
    try:
        handler(message=message, receipt=receipt, system=system)
    except Exception:
        logger.exception(
            "acknowledgment handler %s/%s failed for outbox %s",
            system.kind,
            message.message_type,
            message.pk,
        )


def ingest_as(system, envelope: dict) -> None:
    from orchestrator.ingest.pipeline import ingest_batch, principal_for

    [result] = ingest_batch(principal=principal_for(system), envelopes=[envelope])
    logger.info(
        "ack %s from %s: %s", envelope["type"], system.code, getattr(result, "status", result)
    )


@ack_handler("erp", "goods_receipt")
def goods_receipt_posted(*, message, receipt: Receipt, system) -> None:
    """ERP's goods-receipt document → ``goods_receipt.posted`` (the order then moves to
    financially posted through its handler and the ``financial_posting`` rule)."""
    order = message.payload.get("order")
    if not receipt.reference or not isinstance(order, str):
        return
    payload: dict = {"order": order, "document": receipt.reference}
    if isinstance(message.payload.get("lot"), str):
        payload["lot"] = message.payload["lot"]
    # Quantities only as the ERP states them (in its plant's units, which site mapping
    # converts); the outbox payload is canonical and would not map back.
    extra = receipt.extra or {}
    if isinstance(extra.get("qty"), int | float) and isinstance(extra.get("uom"), str):
        payload["qty"], payload["uom"] = extra["qty"], extra["uom"]
    ingest_as(
        system,
        {
            "source": system.code,
            "plant": message.plant.code,
            "type": "goods_receipt.posted",
            "occurred_at": timezone.now().isoformat().replace("+00:00", "Z"),
            "message_id": f"ack:{message.idempotency_key}"[:200],
            "correlation_id": message.correlation_id,
            "payload": payload,
        },
    )


@ack_handler("erp", "atp.update")
def backorders_can_ship(*, message, receipt: Receipt, system) -> None:
    """ERP's answer to an ATP update names the backorders the released lot covers: customer
    service gets a task to ship them (scenario 4)."""
    from orchestrator.services.releases import backorders_can_ship as notify

    effect = (receipt.extra or {}).get("effect") or {}
    can_ship = effect.get("can_ship")
    if not isinstance(can_ship, list):
        return
    notify(
        plant=message.plant,
        outbox_key=message.idempotency_key,
        atp_reference=receipt.reference or "",
        lot=str(message.payload.get("lot") or ""),
        order=str(message.payload.get("order") or ""),
        item=str(effect.get("item") or ""),
        can_ship=[b for b in can_ship if isinstance(b, dict)],
        correlation_id=message.correlation_id,
    )
