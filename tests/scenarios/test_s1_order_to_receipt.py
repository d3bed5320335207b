"""Scenario 1 end to end in process: the ERP simulator releases an order, Interlock
publishes it to the MES, the MES's run comes back (acknowledgment, issues, confirmations,
completion), the QMS passes the lot, and only then is the goods receipt posted in the ERP
and the order settled. (``tests/test_demo_scenario.py`` plays the same at three plants
through the whole demo, with duplicates and out-of-order steps.)"""

from __future__ import annotations

import pytest

from orchestrator.models import AuditRecord, Gate, GoodsReceipt, ProductionOrder, Task

pytestmark = [pytest.mark.scenario, pytest.mark.django_db]


def test_an_order_reaches_financially_posted_only_through_the_quality_gate(p1):
    number = p1.release()
    for step in p1.mes_run(number):
        for result in p1.post("MES-P1", step):
            assert result["status"] in ("accepted", "duplicate"), result.get("reasons")
    order = ProductionOrder.objects.get(number=number)
    assert order.state == "quality_pending"
    p1.deliver()
    assert p1.ledger(p1.erp, "goods_receipt") == []  # nothing received before quality
    gate = Gate.objects.get(order=order, kind="goods_receipt")
    assert gate.state == "closed"

    lot, inspection = f"FG-{number}", f"QI-FG-{number}"
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
                {"inspection": inspection, "lot": lot, "order": number, "result": "A"},
            ),
        ],
    )
    assert [r["status"] for r in results] == ["accepted", "accepted"]
    p1.deliver()

    order.refresh_from_db()
    assert order.state == "financially_posted"
    [receipt] = p1.ledger(p1.erp, "goods_receipt")
    [settle] = p1.ledger(p1.erp, "order.settle")
    assert receipt["payload"]["order"] == settle["payload"]["order"] == number
    assert GoodsReceipt.objects.get(order=order).erp_document == receipt["reference"]
    confirmations = p1.ledger(p1.erp, "operation.confirmation")
    assert {c["payload"]["operation"] for c in confirmations} == {"0010", "0020"}
    assert p1.ledger(p1.erp, "goods_issue")
    # The order's audit chain, released to settled, each step by the system that caused it.
    trail = list(AuditRecord.objects.for_object(order).order_by("id"))
    assert [a.target_state for a in trail][-4:] == [
        "partially_confirmed",
        "completed",
        "quality_pending",
        "financially_posted",
    ]
    assert trail[0].actor_label == "system:ERP"
    assert trail[-1].actor_label == "system:ERP"
    gate.refresh_from_db()
    assert gate.state == "open"
    assert not Task.objects.filter(order=order).exists()  # nothing for a person to do
