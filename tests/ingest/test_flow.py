"""Scenario 1 end to end through the API: release to goods receipt with quality hold."""

import pytest

from orchestrator.models import (
    AuditRecord,
    Event,
    Gate,
    Inspection,
    Lot,
    Nonconformance,
    OutboxMessage,
    ProductionOrder,
)
from tests.ingest.flow import end_state, run, steel_lot

pytestmark = pytest.mark.django_db


def _send(world, post, steps):
    answers = []
    for key, body in steps:
        response = post(world[key], body)
        assert response.status_code == 202, response.json()
        answers.append(response.json())
    return answers


def test_scenario_1_reaches_financially_posted_with_the_audit_chain(world, post):
    steel_lot(world)
    answers = _send(world, post, run())
    events = Event.objects.in_bulk([a["event_id"] for a in answers])
    assert [events[a["event_id"]].status for a in answers] == ["applied"] * len(answers), [
        (e.event_type, e.status, e.reasons) for e in events.values()
    ]
    state = end_state()
    assert state["order"] == ("financially_posted", 99, 1)
    assert state["operations"] == [("0010", "confirmed", 100, 0), ("0020", "confirmed", 99, 1)]
    assert state["lots"] == [("FG-WO-1001", "available")]
    assert state["inspections"] == [("INS-WO-1001", "passed")]
    assert ("goods_receipt", "open") in state["gates"]
    assert ("mes_acknowledgment", "open") in state["gates"]
    assert state["receipts"] == [("50001001", "posted")]
    assert ("L-77", "consumed") in [(n, r) for n, r, _ in state["links"]]
    assert ("FG-WO-1001", "produced") in [(n, r) for n, r, _ in state["links"]]

    # the audit chain: order ↔ lot ↔ inspection ↔ disposition, each with its event's
    # correlation id and the system as the actor
    order = ProductionOrder.objects.get(number="WO-1001")
    trail = list(
        AuditRecord.objects.for_object(order)
        .order_by("occurred_at", "id")
        .values_list("target_state", flat=True)
    )
    assert trail == [
        "created",
        "released",
        "acknowledged",
        "in_process",
        "partially_confirmed",
        "completed",
        "quality_pending",
        "financially_posted",
    ]
    posted = AuditRecord.objects.for_object(order).get(target_state="financially_posted")
    assert posted.actor_label == "system:ERP"
    assert posted.correlation_id == answers[-1]["correlation_id"]
    lot = Lot.objects.get(number="FG-WO-1001")
    assert lot.producing_order == order
    inspection = Inspection.objects.get(number="INS-WO-1001")
    assert inspection.lot == lot
    assert inspection.order == order
    assert list(
        AuditRecord.objects.for_object(inspection)
        .order_by("id")
        .values_list("target_state", flat=True)
    ) == ["requested", "in_progress", "passed"]
    gate = Gate.objects.get(order=order, kind="goods_receipt")
    assert gate.inspection == inspection
    assert list(
        AuditRecord.objects.for_object(gate)
        .order_by("id")
        .values_list("target_state", "correlation_id")
    ) == [("closed", answers[6]["correlation_id"]), ("open", answers[8]["correlation_id"])]
    # the rules' side effects: outbox rows toward MES, ERP and QMS
    messages = set(OutboxMessage.objects.values_list("target_system", "message_type"))
    assert {
        ("mes", "production_order.release"),
        ("erp", "operation.confirmation"),
        ("erp", "goods_issue"),
        ("qms", "inspection.request"),
        ("erp", "goods_receipt"),
        ("erp", "order.settle"),
    } <= messages
    release = Event.objects.get(pk=answers[0]["event_id"])
    assert release.explanation["rule_set"] == "DEFAULT_RULE_SET"


def test_a_failed_inspection_opens_a_nonconformance_and_keeps_the_gate_closed(world, post):
    steel_lot(world)
    answers = _send(world, post, run(result="R"))
    gate = Gate.objects.get(order__number="WO-1001", kind="goods_receipt")
    assert gate.state == "closed"
    nc = Nonconformance.objects.get(order__number="WO-1001")
    assert nc.inspection.number == "INS-WO-1001"
    assert nc.state == "opened"
    receipt = Event.objects.get(pk=answers[-1]["event_id"])
    assert receipt.status == "quarantined"
    assert receipt.reasons[0]["code"] == "gate_closed"
    assert ProductionOrder.objects.get(number="WO-1001").state == "quality_pending"
