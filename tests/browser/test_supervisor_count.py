"""The supervisor approves a cycle count over the plant's tolerance in the browser
(scenario 5): the WMS reported the count, picks paused; the approval task is in the
supervisor's "My tasks"; approving it posts the ERP adjustment and resumes picks."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from playwright.sync_api import expect
from rest_framework.test import APIClient

from orchestrator.models import AuditRecord, CycleCount, OutboxMessage
from plants.models import ConnectedSystem
from tests.factories import issue_api_key


def _count_from_the_wms(number: str, counted: int) -> None:
    client = APIClient()
    key = issue_api_key(ConnectedSystem.objects.get(code="WMS-P1"))
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    envelope = {
        "source": "WMS-P1",
        "plant": "P1",
        "type": "cycle_count.recorded",
        "occurred_at": "2026-11-30T06:00:00Z",
        "payload": {
            "count": number,
            "item": "000000000010004711",
            "lot": "CH4711-0001",
            "location": "A-01",
            "counted_qty": counted,
            "system_qty": 1000000,
            "uom": "EA",
        },
    }
    response = client.post("/api/v1/events/bulk", {"events": [envelope]}, format="json")
    assert response.json()["results"][0]["status"] == "accepted", response.content


@pytest.mark.timeout(300)
def test_supervisor_approves_a_count_over_tolerance_from_my_tasks(login, shot):
    call_command("load_rule_packs", verbosity=0)
    call_command("seed_demo_lots", verbosity=0)
    _count_from_the_wms("CC-B1", 950_000)  # 5 % short; P1 tolerates 1 %
    count = CycleCount.objects.get(number="CC-B1")
    assert count.state == "approval_pending"
    assert OutboxMessage.objects.filter(message_type="pick.pause").count() == 1

    page = login("p1-super")
    page.locator("#my-tasks-link").click()
    row = page.locator("tr.task-row", has_text="Approve count CC-B1")
    expect(row).to_have_count(1)
    expect(
        page.locator("tr.task-row", has_text="Investigate the cycle count variance")
    ).to_have_count(1)
    shot(page, "supervisor-my-tasks")
    row.locator("[data-task-action=claim]").click()
    expect(page.locator(".messagelist .success")).to_contain_text("You claimed")
    expect(page.locator("#task-card")).to_contain_text("CC-B1")
    page.locator("input[name=outcome][value=approved]").check()
    page.fill("textarea[name=comment]", "recounted: 50 000 scrapped without posting")
    shot(page, "supervisor-approve-count")
    page.locator("[data-task-action=complete]").click()
    expect(page.locator(".messagelist .success")).to_contain_text("done")
    shot(page, "supervisor-count-approved")

    count.refresh_from_db()
    assert count.state == "posted"
    approved = AuditRecord.objects.for_object(count).get(target_state="approved")
    assert approved.actor.username == "p1-super"
    adjustment = OutboxMessage.objects.get(message_type="inventory.adjustment")
    assert adjustment.payload["variance_qty"] == -50000
    assert OutboxMessage.objects.filter(message_type="pick.resume", target_system="wms").exists()
