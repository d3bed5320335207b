"""Helpers of the flow tests: a plant run of scenario 1 as envelopes, and its end state."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from orchestrator.models import (
    Gate,
    GoodsReceipt,
    Inspection,
    Lot,
    LotOrderLink,
    MaterialIssue,
    Nonconformance,
    OperationConfirmation,
    ProductionOrder,
)
from tests.factories_orchestrator import LotFactory
from tests.ingest.conftest import envelope, release

T0 = dt.datetime(2026, 5, 10, 8, 0, tzinfo=dt.UTC)


def at(minutes: int) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def steel_lot(world, number="L-77", **kw):
    from plants.models import Item, UnitOfMeasure

    defaults = {
        "plant": world["p1"],
        "number": number,
        "item": Item.objects.get(code="STEEL-2MM"),
        "uom": UnitOfMeasure.objects.get(code="KG"),
        "qty": Decimal("500"),
        "expires_on": dt.date(2027, 1, 1),
    }
    defaults.update(kw)
    return LotFactory(**defaults)


def run(order="WO-1001", lot="L-77", result="A"):
    """Scenario 1 as ``(key name, envelope)`` pairs, in business order."""
    erp = {"source": "ERP"}
    return [
        (
            "erp_key",
            envelope("production_order.released", release(order), occurred_at=at(0), **erp),
        ),
        (
            "mes_key",
            envelope(
                "production_order.acknowledged",
                {"order": order, "routing_revision": "R1", "bom_revision": "B1"},
                occurred_at=at(1),
            ),
        ),
        (
            "mes_key",
            envelope(
                "material.issued",
                {
                    "order": order,
                    "item": "000000000000002000",
                    "lot": lot,
                    "qty": 20,
                    "uom": "LB",
                    "operation": "0010",
                },
                occurred_at=at(2),
            ),
        ),
        (
            "mes_key",
            envelope(
                "operation.confirmed",
                {"order": order, "operation": "0010", "sequence": 1, "qty": 60, "uom": "ST"},
                occurred_at=at(3),
            ),
        ),
        (
            "mes_key",
            envelope(
                "operation.confirmed",
                {
                    "order": order,
                    "operation": "0010",
                    "sequence": 2,
                    "qty": 40,
                    "uom": "ST",
                    "final": True,
                },
                occurred_at=at(4),
            ),
        ),
        (
            "mes_key",
            envelope(
                "operation.confirmed",
                {
                    "order": order,
                    "operation": "0020",
                    "sequence": 1,
                    "qty": 99,
                    "scrap_qty": 1,
                    "uom": "ST",
                    "final": True,
                },
                occurred_at=at(5),
            ),
        ),
        (
            "mes_key",
            envelope(
                "production.completed",
                {"order": order, "lot": f"FG-{order}", "qty": 99, "uom": "ST"},
                occurred_at=at(6),
            ),
        ),
        (
            "erp_key",
            envelope(
                "inspection.requested",
                {"inspection": f"INS-{order}", "order": order, "lot": f"FG-{order}"},
                occurred_at=at(7),
                **erp,
            ),
        ),
        (
            "erp_key",
            envelope(
                "inspection.recorded",
                {
                    "inspection": f"INS-{order}",
                    "order": order,
                    "lot": f"FG-{order}",
                    "result": result,
                },
                occurred_at=at(8),
                **erp,
            ),
        ),
        (
            "erp_key",
            envelope(
                "goods_receipt.posted",
                {
                    "order": order,
                    "lot": f"FG-{order}",
                    "qty": 99,
                    "uom": "ST",
                    "document": f"5000{order[-4:]}",
                },
                occurred_at=at(9),
                **erp,
            ),
        ),
    ]


def end_state(order_number="WO-1001") -> dict:
    """Everything a run decides, in a form two runs can be compared by."""
    order = ProductionOrder.objects.get(number=order_number)
    return {
        "order": (order.state, order.confirmed_qty, order.scrapped_qty),
        "operations": sorted(
            (op.sequence, op.state, op.confirmed_qty, op.scrapped_qty)
            for op in order.operations.all()
        ),
        "confirmations": OperationConfirmation.objects.filter(operation__order=order).count(),
        "issues": sorted((i.lot.number, i.qty) for i in MaterialIssue.objects.filter(order=order)),
        "links": sorted(
            (link.lot.number, link.relation, link.qty)
            for link in LotOrderLink.objects.filter(order=order)
        ),
        "lots": sorted(
            (lot.number, lot.status) for lot in Lot.objects.filter(producing_order=order)
        ),
        "inspections": sorted((i.number, i.state) for i in Inspection.objects.filter(order=order)),
        "gates": sorted((g.kind, g.state) for g in Gate.objects.filter(order=order)),
        "receipts": sorted((r.number, r.state) for r in GoodsReceipt.objects.filter(order=order)),
        "ncs": Nonconformance.objects.filter(order=order).count(),
    }
