"""Scenario 4 end to end: finished goods wait in QC with a shipment hold; the final pass
makes the stock available in the ERP, releases the WMS hold, updates ATP, and customer
service is told which backorders can now ship."""

from __future__ import annotations

import pytest

from orchestrator.models import AuditRecord, Lot, ProductionOrder, Task

pytestmark = [pytest.mark.scenario, pytest.mark.django_db]

FG = "000000000010001000"  # FG-1000 in P1's own code


def test_the_final_pass_releases_stock_shipment_and_atp_and_tells_customer_service(p1):
    small = p1.erp._backorder({"plant": "P1", "item": FG, "qty": "30", "customer": "ACME"}).body
    large = p1.erp._backorder({"plant": "P1", "item": FG, "qty": "99999", "customer": "BIG"}).body
    number = p1.release()
    for step in p1.mes_run(number):
        for result in p1.post("MES-P1", step):
            assert result["status"] in ("accepted", "duplicate"), result
    lot = f"FG-{number}"
    p1.deliver("WMS-P1")
    [held] = p1.wms.query("SELECT * FROM shipment_holds WHERE lot = ?", (lot,))
    assert held["status"] == "held"
    # The WMS stores the finished lot under its item (P1's own code), not under "".
    assert held["item"] == FG
    [stock] = p1.wms.query("SELECT * FROM stock WHERE lot = ?", (lot,))
    assert (stock["item"], stock["status"]) == (FG, "hold")

    inspection = f"QI-{lot}"
    results = p1.post(
        "QMS-P1",
        [
            p1.envelope(
                "QMS-P1",
                "inspection.requested",
                {"inspection": inspection, "lot": lot, "order": number, "plan": "FINAL"},
            ),
            p1.envelope(
                "QMS-P1",
                "inspection.recorded",
                {
                    "inspection": inspection,
                    "lot": lot,
                    "order": number,
                    "result": "A",
                    "inspector": "qms-p1",
                    "results": [{"characteristic": "dimensions", "value": 12.02, "ok": True}],
                },
            ),
        ],
    )
    assert [r["status"] for r in results] == ["accepted", "accepted"], results
    approval = results[1]["correlation_id"]
    p1.deliver()

    # Stock status in the ERP, and here (with its audit chain).
    assert p1.erp.query("SELECT status FROM lots WHERE lot = ?", (lot,))[0]["status"] == "available"
    fg = Lot.objects.get(number=lot)
    assert [a.target_state for a in AuditRecord.objects.for_object(fg).order_by("id")] == [
        "available",
        "inspection",
        "available",
    ]
    assert AuditRecord.objects.for_object(fg).order_by("id").last().correlation_id == approval
    # The WMS shipment hold is released by the release.
    [release] = p1.ledger(p1.wms, "shipment.release_hold")
    [held] = p1.wms.query("SELECT * FROM shipment_holds WHERE lot = ?", (lot,))
    assert (held["status"], held["released_by"]) == ("released", release["reference"])
    # ATP went up by the lot, which covers the small backorder, not the large one.
    [atp] = p1.ledger(p1.erp, "atp.update")
    assert atp["effect"]["can_ship"] == [
        {"backorder": small["backorder"], "customer": "ACME", "qty": "30"}
    ]
    backorders = {r["number"]: r["status"] for r in p1.erp.query("SELECT * FROM backorders")}
    assert backorders == {small["backorder"]: "can_ship", large["backorder"]: "open"}
    # Customer service has the task to ship it.
    [task] = Task.objects.filter(role="customer_service", plant__code="P1")
    assert small["backorder"] in task.title
    assert task.details["backorders"][0]["customer"] == "ACME"
    assert task.order == ProductionOrder.objects.get(number=number)
    assert task.correlation_id == approval
    # … and scenario 1 went on: the receipt was posted and the order settled.
    assert ProductionOrder.objects.get(number=number).state == "financially_posted"
