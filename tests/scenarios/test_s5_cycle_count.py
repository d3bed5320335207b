"""Scenario 5 end to end: the WMS reports counts; within P1's tolerance (1 %) the ERP
adjustment posts at once, over it picks pause, a supervisor approves through the API, and
then the ERP adjustment posts and picks resume; the variance is investigated."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from orchestrator.models import ApprovalRequest, AuditRecord, CycleCount, Task

pytestmark = [pytest.mark.scenario, pytest.mark.django_db]


def _count(p1, lot: str, counted: int, number: str) -> dict:
    [result] = p1.post("WMS-P1", [p1.wms.count_envelope("P1", lot, Decimal(counted), number)])
    assert result["status"] == "accepted", result
    return result


def test_a_variance_within_tolerance_posts_at_once(p1):
    result = _count(p1, "CH0200-0001", 499_500, "CC-P1-1")  # 0.1 % of 500 000 KG
    p1.deliver()
    count = CycleCount.objects.get(number="CC-P1-1")
    assert count.state == "posted"
    assert [a.target_state for a in AuditRecord.objects.for_object(count).order_by("id")] == [
        "recorded",
        "approved",
        "posted",
    ]
    [adjustment] = p1.ledger(p1.erp, "inventory.adjustment")
    assert adjustment["correlation_id"] == result["correlation_id"]
    assert adjustment["effect"]["qty"] == "-500"
    assert p1.ledger(p1.wms, "pick.pause") == []
    assert not ApprovalRequest.objects.exists()


def test_a_variance_over_tolerance_pauses_picks_until_a_supervisor_approves(p1, api_client):
    result = _count(p1, "CH4711-0001", 980_000, "CC-P1-2")  # 2 % of 1 000 000 EA
    p1.deliver()
    count = CycleCount.objects.get(number="CC-P1-2")
    assert count.state == "approval_pending"
    [pause] = p1.ledger(p1.wms, "pick.pause")
    assert pause["payload"]["lot"] == "CH4711-0001"
    assert pause["payload"]["item"] == "000000000010004711"  # the WMS's own item code
    [held] = p1.wms.query("SELECT * FROM pick_holds")
    assert held["status"] == "paused"
    assert p1.ledger(p1.erp, "inventory.adjustment") == []  # nothing before the approval

    request = ApprovalRequest.objects.get(correlation_id=result["correlation_id"])
    assert request.role == "supervisor"
    tasks = Task.objects.filter(correlation_id=result["correlation_id"])
    assert sorted((t.role, t.kind) for t in tasks) == [
        ("supervisor", "approve"),
        ("supervisor", "investigate"),
    ]

    supervisor = get_user_model().objects.get(username="p1-super")
    api_client.force_authenticate(supervisor)
    answer = api_client.post(
        f"/api/v1/approvals/{request.pk}/decide",
        {"approve": True, "reason": "recounted: 20 000 pieces scrapped unposted"},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    p1.deliver()

    count.refresh_from_db()
    assert count.state == "posted"
    trail = list(AuditRecord.objects.for_object(count).order_by("id"))
    assert [a.target_state for a in trail] == ["recorded", "approval_pending", "approved", "posted"]
    assert trail[2].actor == supervisor
    [adjustment] = p1.ledger(p1.erp, "inventory.adjustment")
    assert adjustment["effect"]["qty"] == "-20000"
    assert Decimal(adjustment["effect"]["stock"]) == Decimal(1_000_000 - 20_000)
    [resume] = p1.ledger(p1.wms, "pick.resume")
    assert p1.wms.query("SELECT status FROM pick_holds")[0]["status"] == "resumed"
    assert resume["correlation_id"] == result["correlation_id"]


def test_a_board_edit_to_the_pack_sends_even_a_small_variance_to_the_supervisor(p1):
    """Behaviour follows the published pack: the board tightens ``within_tolerance`` to
    exact counts only, and the same 0.1 % variance now pauses picks and waits."""
    from rules.services import PACKS_DIR
    from tests.factories_rules import published

    source = (PACKS_DIR / "cycle-count.yaml").read_text()
    source = source.replace(
        'when: event.variance_pct <= double(plant["cycle_count.variance_pct"])',
        "when: event.variance_pct == 0.0",
    )
    source = source[: source.index("tests:")] + (
        "tests:\n"
        "  - name: only an exact count posts at once\n"
        "    event_type: cycle_count.recorded\n"
        "    event: {count: CC-1, item: CMP-4711, counted_qty: 999.0, system_qty: 1000.0,\n"
        "            uom: EA, variance_pct: 0.1, variance_qty: -1.0}\n"
        "    context: {plant: {cycle_count.variance_pct: 1.0}}\n"
        "    expect: {actions: [post_to_system, hold_count_for_approval, open_task]}\n"
    )
    users = get_user_model().objects
    published(source, author=users.get(username="board1"), approver=users.get(username="board2"))

    _count(p1, "CH0200-0001", 499_500, "CC-P1-9")  # 0.1 %: posted at once before the edit
    p1.deliver()
    assert CycleCount.objects.get(number="CC-P1-9").state == "approval_pending"
    assert len(p1.ledger(p1.wms, "pick.pause")) == 1
    assert p1.ledger(p1.erp, "inventory.adjustment") == []
