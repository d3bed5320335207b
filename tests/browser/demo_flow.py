"""Demo-like data for the browser tests: P1 orders run through ingest as the demo's ERP,
MES and QMS would send them (the same pipeline as the REST API), in P1's own codes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from orchestrator.ingest.pipeline import ingest_batch, principal_for
from orchestrator.models import InboundMessage, Lot, ProductionOrder
from plants.models import ConnectedSystem, Item, Plant, UnitOfMeasure

FG_P1 = "000000000010001000"  # FG-1000 at P1
CMP_P1 = "000000000010004711"  # CMP-4711 at P1


def send(system_code: str, type_: str, payload: dict, minute: int = 0) -> InboundMessage:
    system = ConnectedSystem.objects.get(code=system_code)
    at = dt.datetime(2026, 5, 10, 8, minute, tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")
    envelope = {
        "source": system_code,
        "plant": "P1",
        "type": type_,
        "occurred_at": at,
        "payload": payload,
    }
    [result] = ingest_batch(principal=principal_for(system), envelopes=[envelope])
    return InboundMessage.objects.get(pk=result.message_id)


def release_payload(order: str, item: str = FG_P1) -> dict:
    return {
        "order": order,
        "item": item,
        "routing_revision": "R1",
        "bom_revision": "B1",
        "qty": 10,
        "uom": "EA",
        "due_date": "2026-06-01",
        "operations": [{"operation": "0010", "work_center": "LINE_A", "qty": 10}],
        "components": [{"item": CMP_P1, "qty": 10, "uom": "EA"}],
    }


def component_lot(number: str = "L-4711-01") -> Lot:
    lot, _ = Lot.objects.get_or_create(
        plant=Plant.objects.get(code="P1"),
        number=number,
        defaults={
            "item": Item.objects.get(code="CMP-4711"),
            "qty": Decimal("500"),
            "uom": UnitOfMeasure.objects.get(code="EA"),
            "expires_on": dt.date(2027, 12, 31),
        },
    )
    return lot


def run_order(order: str, *, result: str = "A", lot: str = "L-4711-01") -> ProductionOrder:
    """Release → acknowledgment → issue → confirmation → completion → inspection result
    (``A`` passed, ``R`` failed at P1)."""
    component_lot(lot)
    fg = f"FG-{order}"
    send("ERP", "production_order.released", release_payload(order), 0)
    send(
        "MES-P1",
        "production_order.acknowledged",
        {"order": order, "routing_revision": "R1", "bom_revision": "B1"},
        1,
    )
    send(
        "MES-P1",
        "material.issued",
        {"order": order, "item": CMP_P1, "lot": lot, "qty": 10, "uom": "EA", "operation": "0010"},
        2,
    )
    send(
        "MES-P1",
        "operation.confirmed",
        {"order": order, "operation": "0010", "sequence": 1, "qty": 10, "uom": "EA", "final": True},
        3,
    )
    send("MES-P1", "production.completed", {"order": order, "lot": fg, "qty": 10, "uom": "EA"}, 4)
    send(
        "ERP", "inspection.requested", {"inspection": f"INS-{order}", "order": order, "lot": fg}, 5
    )
    send(
        "ERP",
        "inspection.recorded",
        {"inspection": f"INS-{order}", "order": order, "lot": fg, "result": result},
        6,
    )
    return ProductionOrder.objects.get(number=order)
