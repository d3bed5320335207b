"""Scenario 4: after a finished-goods release, customer service learns which backorders
the released lot lets ship (the ERP's answer to the ATP update, see
``connectors.outbound.acks``)."""

from __future__ import annotations

from typing import Any

from ..models import Lot, ProductionOrder
from .tasks import open_task


def backorders_can_ship(
    *,
    plant,
    outbox_key: str,
    atp_reference: str,
    lot: str,
    order: str,
    item: str,
    can_ship: list[dict[str, Any]],
    correlation_id: str,
):
    """One ``customer_service`` task listing the backorders the ERP now covers (none when
    it covers none). Idempotent per ATP update: a repeated delivery opens nothing new."""
    if not can_ship:
        return None
    numbers = ", ".join(str(b.get("backorder")) for b in can_ship)
    return open_task(
        actor="system:ERP",
        plant=plant,
        role="customer_service",
        kind="reply",
        title=f"Backorders can ship: {numbers} (lot {lot} released, ERP {atp_reference})"[:300],
        details={
            "atp_update": atp_reference,
            "item": item,
            "lot": lot,
            "order": order,
            "backorders": can_ship,
        },
        order=ProductionOrder.objects.filter(plant=plant, number=order).first(),
        lot=Lot.objects.filter(plant=plant, number=lot).first(),
        rule="release_batch",
        correlation_id=correlation_id,
        key=f"backorders:{outbox_key}"[:500],
    )
