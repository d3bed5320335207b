"""Scenario 2 end to end: a supplier shipment arrives (its ASN), the ERP posts the goods
receipt of its lot (``supplier_receipt.posted``, which creates the purchased lot with the
quantity received), the lot passes the receiving check, is partly consumed by one order
while another still reserves its item, and then fails its incoming lab test. Through the
API as ERP, MES and QMS, with the ERP and WMS simulators taking the outbox."""

from __future__ import annotations

import pytest

from orchestrator.models import (
    AdvanceShippingNotice,
    AuditRecord,
    Event,
    GoodsReceipt,
    Lot,
    Notification,
    ProductionOrder,
    Task,
)

pytestmark = [pytest.mark.scenario, pytest.mark.django_db]

LOT = "SUP-L-0815"
CMP = "000000000010004711"  # CMP-4711 in P1's own code


def _issues_from(plan: list[list[dict]], lot: str) -> list[list[dict]]:
    """The MES's run with the CMP-4711 issues taken from ``lot``."""
    for step in plan:
        for env in step:
            if env["type"] == "material.issued" and env["payload"]["item"] == CMP:
                env["payload"]["lot"] = lot
    return plan


def _receipt(number: str, qty: int, lot: str = LOT) -> dict:
    return {
        "receipt": number,
        "supplier": "SUP-300",
        "asn": "ASN-4711-77",
        "purchase_order": "PO-4500017",
        "item": CMP,
        "lot": lot,
        "qty": qty,
        "uom": "EA",
    }


def test_a_failed_purchased_lot_is_blocked_held_replanned_claimed_and_contained(p1):
    # The supplier's shipment arrives (5000 announced); the ERP then posts the goods
    # receipt of its lot (4800 counted in): the lot exists, waiting for incoming inspection.
    [asn, receipt] = p1.post(
        "ERP",
        [
            p1.envelope(
                "ERP",
                "asn.received",
                {
                    "asn": "ASN-4711-77",
                    "supplier": "SUP-300",
                    "lines": [{"item": CMP, "qty": 5000, "uom": "EA"}],
                },
            ),
            p1.envelope("ERP", "supplier_receipt.posted", _receipt("GR-4711-77", 4800)),
        ],
    )
    assert (asn["status"], receipt["status"]) == ("accepted", "accepted"), (asn, receipt)
    assert AdvanceShippingNotice.objects.get(number="ASN-4711-77").state == "received"
    lot = Lot.objects.get(plant__code="P1", number=LOT)
    assert (lot.status, lot.supplier.code, lot.item.code, lot.qty) == (
        "inspection",
        "SUP-300",
        "CMP-4711",
        4800,
    )
    posted = GoodsReceipt.objects.get(plant__code="P1", number="GR-4711-77")
    assert (posted.state, posted.lot, posted.order, posted.qty) == ("posted", lot, None, 4800)

    # The receiving check passes, so the lot may be used; the lab test comes later.
    check = [
        p1.envelope("QMS-P1", "inspection.requested", {"inspection": "QV-" + LOT, "lot": LOT}),
        p1.envelope(
            "QMS-P1",
            "inspection.recorded",
            {"inspection": "QV-" + LOT, "lot": LOT, "result": "A", "inspector": "receiving"},
        ),
    ]
    assert [r["status"] for r in p1.post("QMS-P1", check)] == ["accepted", "accepted"]
    assert Lot.objects.get(pk=lot.pk).status == "available"

    # One order runs with it (consumption, then genealogy to its finished goods) …
    consumer = p1.release()
    for step in _issues_from(p1.mes_run(consumer), LOT):
        for result in p1.post("MES-P1", step):
            assert result["status"] in ("accepted", "duplicate"), result.get("reasons")
    # … another is released and still reserves the item.
    waiting = p1.release()
    assert ProductionOrder.objects.get(number=waiting).state == "released"

    # QMS: the lab test of the incoming lot fails (P1's code R), with its measurements.
    inspection = "QI-" + LOT
    results = p1.post(
        "QMS-P1",
        [
            p1.envelope(
                "QMS-P1",
                "inspection.requested",
                {"inspection": inspection, "lot": LOT, "plan": "IN"},
            ),
            p1.envelope(
                "QMS-P1",
                "inspection.recorded",
                {
                    "inspection": inspection,
                    "lot": LOT,
                    "result": "R",
                    "inspector": "qms-p1",
                    "results": [
                        {"characteristic": "hardness HV", "value": 181.5, "ok": False},
                        {"characteristic": "thickness mm", "value": 2.01, "ok": True},
                    ],
                },
            ),
        ],
    )
    assert [r["status"] for r in results] == ["accepted", "accepted"], results
    recorded = results[1]
    p1.deliver()

    # Blocked here, with the audit chain of the lot under the inspection's correlation id.
    lot.refresh_from_db()
    assert lot.status == "blocked"
    trail = AuditRecord.objects.for_object(lot).order_by("id")
    assert [(a.transition, a.target_state) for a in trail] == [
        ("create", "available"),
        ("send_to_inspection", "inspection"),
        ("release", "available"),
        ("block", "blocked"),
    ]
    assert trail.last().correlation_id == recorded["correlation_id"]
    assert trail.last().actor_label == "system:QMS-P1"

    # Blocked in the ERP, and a move-to-hold task in the WMS.
    changes = [e for e in p1.ledger(p1.erp, "lot.status_change") if e["payload"]["lot"] == LOT]
    assert [e["payload"]["status"] for e in changes] == ["available", "blocked"]
    block = changes[-1]
    assert block["correlation_id"] == recorded["correlation_id"]
    assert p1.erp.query("SELECT status FROM lots WHERE lot = ?", (LOT,))[0]["status"] == "blocked"
    [hold] = p1.ledger(p1.wms, "lot.move_to_hold")
    [task] = p1.wms.query("SELECT * FROM tasks WHERE lot = ?", (LOT,))
    assert (task["kind"], task["to_location"], task["status"]) == ("move_to_hold", "HOLD", "open")
    assert hold["reference"] == task["number"]

    tasks = Task.objects.filter(plant__code="P1", correlation_id=recorded["correlation_id"])
    by_role = {}
    for t in tasks:
        by_role.setdefault(t.role, []).append(t)

    # Every order reserving the item was re-evaluated, flagged in its trail, and given to
    # planning with the outcome.
    replan = {t.order.number: t for t in by_role["planning"] if t.kind == "review" and t.order}
    assert set(replan) >= {waiting}
    assert replan[waiting].details["covered_by_other_lots"] is True  # CH4711-0001 holds plenty
    flags = AuditRecord.objects.filter(transition="reevaluate_allocation")
    assert any(f.object_id == str(ProductionOrder.objects.get(number=waiting).pk) for f in flags)

    # Procurement: the supplier case with the evidence, and the replacement to arrange.
    case = Notification.objects.get(kind="supplier_case", correlation_id=recorded["correlation_id"])
    assert case.details["supplier"] == "SUP-300"
    assert case.details["lot"] == LOT
    assert case.details["qty"] == "4800"
    assert case.details["inspection"] == inspection
    assert {m["characteristic"] for m in case.details["measurements"]} == {
        "hardness HV",
        "thickness mm",
    }
    kinds = sorted(t.kind for t in by_role["procurement"])
    assert kinds == ["reply", "reply"]
    assert any("replacement" in t.title for t in by_role["procurement"])

    # Partly consumed: quality contains the order that used it and what it made.
    [contain] = [t for t in by_role["quality_lead"] if t.kind == "contain"]
    assert contain.details["orders"] == [consumer]
    assert contain.details["lots_made"][0]["lot"] == f"FG-{consumer}"
    assert float(contain.details["consumed_qty"]) > 0


def test_the_goods_receipt_sets_the_announced_lot_to_what_arrived(p1):
    """An ASN that names its lot creates it with the announced quantity; the supplier goods
    receipt sets it to what was received, a second receipt of the same lot adds to it, and
    a replay changes nothing."""
    [asn] = p1.post(
        "ERP",
        [
            p1.envelope(
                "ERP",
                "asn.received",
                {
                    "asn": "ASN-4711-77",
                    "supplier": "SUP-300",
                    "lines": [{"item": CMP, "qty": 5000, "uom": "EA", "lot": LOT}],
                },
            )
        ],
    )
    assert asn["status"] == "accepted", asn
    assert Lot.objects.get(number=LOT).qty == 5000
    first = p1.envelope("ERP", "supplier_receipt.posted", _receipt("GR-1", 4800))
    second = p1.envelope("ERP", "supplier_receipt.posted", _receipt("GR-2", 150))
    statuses = [r["status"] for r in p1.post("ERP", [first, second, first])]
    assert statuses == ["accepted", "accepted", "duplicate"]
    lot = Lot.objects.get(number=LOT)
    assert (lot.qty, lot.status) == (4950, "inspection")
    received = AuditRecord.objects.for_object(lot).filter(transition="receive").order_by("id")
    assert [r.reason.rsplit(": ", 1)[1] for r in received] == [
        "quantity 5000 → 4800 EA",
        "quantity 4800 → 4950 EA",
    ]
    assert set(GoodsReceipt.objects.filter(lot=lot).values_list("number", "state")) == {
        ("GR-1", "posted"),
        ("GR-2", "posted"),
    }
    # Another item's receipt into the same lot number is refused with its reason.
    [wrong] = p1.post(
        "ERP",
        [
            p1.envelope(
                "ERP",
                "supplier_receipt.posted",
                {**_receipt("GR-3", 10), "item": "000000000010001000"},
            )
        ],
    )
    assert wrong["status"] == "quarantined", wrong
    assert [r["code"] for r in Event.objects.get(pk=wrong["event_id"]).reasons] == ["lot_mismatch"]
