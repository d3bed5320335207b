"""The planner approves a move in the browser (scenario 8): the constrained press line at
P1 stopped, the rules asked planning to approve moving its orders to the alternate plant.
The approval task is in the planner's "My tasks"; they open it, read the exposure it
links to, claim it and approve it. The approval request is decided by them, the task is
done, and both are audited with the planner as the actor."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from orchestrator.ingest.pipeline import ingest_batch, principal_for
from orchestrator.models import ApprovalRequest, AuditRecord, Exposure, Task
from plants.models import ConnectedSystem
from tests.browser.demo_flow import CMP_P1, FG_P1, component_lot


def _post(source: str, type_: str, payload: dict) -> None:
    envelope = {
        "source": source,
        "plant": "P1",
        "type": type_,
        "occurred_at": timezone.now().isoformat().replace("+00:00", "Z"),
        "payload": payload,
    }
    system = ConnectedSystem.objects.get(code=source)
    [result] = ingest_batch(principal=principal_for(system), envelopes=[envelope])
    assert result.status == "accepted", result


def _press_order_and_stoppage(order: str) -> None:
    """An order with its first operation on P1's press line, then a 4 h stop of it."""
    component_lot()
    due = (timezone.now() + dt.timedelta(days=10)).date().isoformat()
    _post(
        "ERP",
        "production_order.released",
        {
            "order": order,
            "item": FG_P1,
            "routing_revision": "R1",
            "bom_revision": "B1",
            "qty": 100,
            "uom": "EA",
            "due_date": due,
            "operations": [
                {"operation": "0010", "work_center": "PRESS_1", "qty": 100},
                {"operation": "0020", "work_center": "LINE_A", "qty": 100},
            ],
            "components": [{"item": CMP_P1, "qty": 100, "uom": "EA"}],
        },
    )
    start = timezone.now() - dt.timedelta(hours=1)
    _post(
        "MES-P1",
        "machine.downtime",
        {
            "work_center": "PRESS_1",
            "equipment": "PRESS_1-HYD",
            "started_at": start.isoformat(),
            "ended_at": (start + dt.timedelta(hours=4)).isoformat(),
            "reason": "hydraulic leak",
        },
    )


@pytest.mark.timeout(600)  # the demo seed and a live server on a busy machine
def test_planner_approves_moving_the_orders_of_a_stopped_line_from_my_tasks(login, shot):
    call_command("load_rule_packs", verbosity=0)
    _press_order_and_stoppage("WO-PLAN1")
    exposure = Exposure.objects.get(kind="line_stoppage")
    ask = ApprovalRequest.objects.get(role="planning", plant__code="P1")
    task = Task.objects.get(approval=ask, role="planning")
    assert (task.kind, task.state) == ("approve", "open")

    page = login("p1-planner")
    page.locator("#my-tasks-link").click()
    row = page.locator("tr.task-row", has_text=task.title)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Approve")
    expect(row.get_by_role("link", name="approval request", exact=True)).to_be_visible()
    shot(page, "planner-my-tasks")

    # Read what is at stake before deciding: the exposure the task is about.
    row.locator("td.title a").click()
    card = page.locator("#task-card")
    expect(card).to_contain_text("planning at P1")
    card.get_by_role("link", name="exposure", exact=True).click()
    expect(page.locator("#content")).to_contain_text("WO-PLAN1")
    expect(page.locator("#content")).to_contain_text("P3-ASSY-01")
    shot(page, "planner-exposure")
    page.go_back()

    page.locator("[data-task-action=claim]").click()
    expect(page.locator(".messagelist .success")).to_contain_text("You claimed")
    expect(card).to_contain_text("Claimed")
    page.locator("input[name=outcome][value=approved]").check()
    page.fill("textarea[name=comment]", "P3 has press capacity this week; move WO-PLAN1")
    shot(page, "planner-approve-move")
    page.locator("[data-task-action=complete]").click()
    expect(page.locator(".messagelist .success")).to_contain_text("done")
    expect(page.locator("#my-tasks")).not_to_contain_text(task.title)
    shot(page, "planner-move-approved")

    ask.refresh_from_db()
    assert (ask.state, ask.decided_by.username, ask.decision_reason) == (
        "approved",
        "p1-planner",
        "P3 has press capacity this week; move WO-PLAN1",
    )
    decided = AuditRecord.objects.for_object(ask).get(transition="approve")
    assert (decided.actor.username, decided.target_state) == ("p1-planner", "approved")
    task.refresh_from_db()
    assert (task.state, task.outcome, task.completed_by.username) == (
        "done",
        "approved",
        "p1-planner",
    )
    assert [
        (a.transition, a.actor.username)
        for a in AuditRecord.objects.for_object(task).order_by("pk")
    ] == [("claim", "p1-planner"), ("complete", "p1-planner")]
    assert exposure.lines.get().order.number == "WO-PLAN1"
