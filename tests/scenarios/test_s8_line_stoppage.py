"""Scenario 8 (line stoppage): a machine.downtime on a constrained work center (master
data) updates the capacity in the ERP's planning (outbox), finds the orders at risk,
proposes the alternate routing or plant master data has, asks planning to approve the
move and tells customer service which order dates are at risk. Planning's approval
re-plans the order in the ERP on the alternate (``order.reroute``); a rejection posts
nothing. A stop of an unconstrained line does nothing of the kind."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from orchestrator.models import (
    ApprovalRequest,
    AuditRecord,
    Event,
    Exposure,
    MachineDowntime,
    Notification,
    OutboxMessage,
    Task,
)
from orchestrator.services.audit_chain import audit_verify
from tests.scenarios.plant_world import deliver, demo, envelope, erp, ledger, post, release

__all__ = ["demo", "erp"]
pytestmark = pytest.mark.django_db


def _downtime(api_client, demo, line: str, hours: float) -> Event:
    start = timezone.now() - dt.timedelta(hours=1)
    payload = {
        "work_center": line,
        "equipment": f"{line}-HYD",
        "started_at": start.isoformat(),
        "ended_at": (start + dt.timedelta(hours=hours)).isoformat(),
        "reason": "hydraulic leak",
    }
    [result] = post(
        api_client, demo["MES-P1"], [envelope("P1", "machine.downtime", payload, source="MES-P1")]
    )
    assert result["status"] == "accepted", result
    return Event.objects.get(pk=result["event_id"])


@pytest.mark.scenario
def test_scenario_8_a_constrained_line_stops_and_planning_is_asked_to_move_its_orders(
    demo, erp, api_client
):
    order = release(api_client, demo, erp, "P1")["order"]  # 0010 runs on PRESS_1
    event = _downtime(api_client, demo, "PRESS_1", hours=4)
    assert event.status == "applied", event.reasons
    assert MachineDowntime.objects.filter(work_center__code="P1-PRESS-01").exists()

    exposure = Exposure.objects.get(event=event)
    assert (exposure.kind, exposure.work_center.code, exposure.lost_hours) == (
        "line_stoppage",
        "P1-PRESS-01",
        4.0,
    )
    [line] = exposure.lines.select_related("order", "alternate__plant")
    assert line.order.number == order
    assert (line.proposal, line.alternate.code, line.from_plant.code) == (
        "alternate_plant",
        "P3-ASSY-01",
        "P3",
    )
    [ask] = ApprovalRequest.objects.filter(event=event)
    assert (ask.role, ask.escalate_to) == ("planning", "supervisor")
    [told] = Notification.objects.filter(event=event, role="customer_service")
    assert [o["order"] for o in told.details["orders"]] == [order]
    tasks = set(Task.objects.filter(event=event).values_list("role", "kind"))
    assert tasks == {("planning", "approve"), ("customer_service", "review")}

    deliver("ERP")
    [capacity] = ledger(erp, "capacity.update", "P1")
    assert capacity["payload"]["lost_hours"] == 4.0
    assert capacity["payload"]["orders_at_risk"] == [order]
    assert capacity["correlation_id"] == event.correlation_id
    assert AuditRecord.objects.filter(
        transition="record", object_id=str(exposure.pk), target_state="line_stoppage"
    ).exists()
    assert audit_verify().ok

    # The consolidated page, linked from the downtime's page (as planning sees it).
    from django.test import Client

    from plants.models import Membership

    planner = Membership.objects.get(role="planning", plant__code="P1").user
    browser = Client()
    browser.force_login(planner)
    page = browser.get(f"/admin/orchestrator/exposure/{exposure.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert order in html
    assert "P3-ASSY-01" in html
    plants = html.split("Plants at risk:", 1)[1].split("</div>", 1)[0]
    assert ", ".join(exposure.plants_at_risk) in plants  # read as "P1, P3", not as JSON
    assert "[" not in plants
    downtime = MachineDowntime.objects.get(work_center__code="P1-PRESS-01")
    page = browser.get(f"/admin/orchestrator/machinedowntime/{downtime.pk}/change/")
    assert f"/admin/orchestrator/exposure/{exposure.pk}/change/" in page.content.decode()

    # Nothing moves before planning decides; the approval re-plans the order in the ERP.
    assert ledger(erp, "order.reroute") == []
    assert erp.routing("P1", order) == {}
    _decide(api_client, planner, ask, approve=True, reason="P3 has a free shift")
    deliver("ERP")
    [move] = ledger(erp, "order.reroute", "P1")
    assert move["payload"]["order"] == order
    assert move["payload"]["work_center"] == "PRESS_1"  # P1's own code, mapped on the way out
    assert move["payload"]["approved_by"] == planner.username
    assert move["effect"]["to_plant"] == "P3"
    assert move["effect"]["to_work_center"] == "MONT-01"  # P3's own code of P3-ASSY-01
    assert move["correlation_id"] == event.correlation_id
    assert erp.routing("P1", order) == {
        "0010": {"plant": "P3", "work_center": "MONT-01", "reference": move["reference"]}
    }
    [row] = erp.extra_routes("GET", ["_orders"], {"plant": "P1"}).body["orders"]
    assert row["routing"]["0010"]["plant"] == "P3"
    exposure.refresh_from_db()
    assert exposure.proposal_state == "approved"
    [approved] = AuditRecord.objects.for_object(exposure).filter(transition="approve")
    assert approved.actor == planner
    assert f"order.reroute {order}" in approved.reason
    assert audit_verify().ok


def _decide(api_client, user, request, *, approve: bool, reason: str) -> None:
    api_client.force_authenticate(user)
    answer = api_client.post(
        f"/api/v1/approvals/{request.pk}/decide",
        {"approve": approve, "reason": reason},
        format="json",
    )
    api_client.force_authenticate(None)
    assert answer.status_code == 200, answer.content


def test_a_rejected_move_posts_nothing_and_closes_the_proposal(demo, erp, api_client):
    order = release(api_client, demo, erp, "P1")["order"]
    event = _downtime(api_client, demo, "PRESS_1", hours=4)
    exposure = Exposure.objects.get(event=event)
    [ask] = ApprovalRequest.objects.filter(event=event)
    assert exposure.approval == ask
    planner = get_user_model().objects.get(username="p1-planner")
    _decide(api_client, planner, ask, approve=False, reason="the press is back within the hour")
    deliver("ERP")
    assert ledger(erp, "order.reroute") == []
    assert erp.routing("P1", order) == {}
    assert not OutboxMessage.objects.filter(message_type="order.reroute").exists()
    exposure.refresh_from_db()
    assert exposure.proposal_state == "rejected"
    [closed] = AuditRecord.objects.for_object(exposure).filter(transition="reject")
    assert closed.actor == planner


def test_an_unconstrained_line_stop_is_recorded_without_an_exposure(demo, erp, api_client):
    release(api_client, demo, erp, "P1")  # 0020 runs on LINE_A (not constrained)
    event = _downtime(api_client, demo, "LINE_A", hours=4)
    assert event.status == "applied"
    assert MachineDowntime.objects.filter(work_center__code="P1-ASSY-01").exists()
    assert not Exposure.objects.exists()
    assert not ApprovalRequest.objects.filter(event=event).exists()
