"""A person works their task inbox in the browser (issue 12, item 8): the quality lead
finds the task a failed inspection opened for them under "My tasks", claims it and
completes it with an outcome and a comment; the task is done and audited."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from playwright.sync_api import expect

from orchestrator.models import AuditRecord, Task
from tests.browser.demo_flow import run_order


@pytest.mark.timeout(300)
def test_quality_lead_claims_and_completes_a_task_from_my_tasks(login, shot):
    call_command("load_rule_packs", verbosity=0)
    order = run_order("WO-TASK1", result="R")
    task = Task.objects.get(order=order, role="quality_lead")
    assert task.title == "inspection failed; disposition needed"
    assert task.state == "open"

    page = login("quality")
    expect(page.locator("#my-tasks-link")).to_be_visible()
    page.locator("#my-tasks-link").click()
    row = page.locator("tr.task-row", has_text="inspection failed; disposition needed")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("WO-TASK1")
    shot(page, "tasks-my-tasks")

    row.locator("[data-task-action=claim]").click()
    expect(page.locator(".messagelist .success")).to_contain_text("You claimed")
    expect(page.locator("#task-card")).to_contain_text("Claimed")
    shot(page, "tasks-claimed")

    page.locator("input[name=outcome][value=done]").check()
    page.fill("textarea[name=comment]", "disposition decided: rework")
    page.locator("[data-task-action=complete]").click()
    expect(page.locator(".messagelist .success")).to_contain_text("done")
    expect(page.locator("#my-tasks")).not_to_contain_text("inspection failed; disposition needed")
    expect(page.locator("body")).to_contain_text("Recently done by you")
    shot(page, "tasks-completed")

    task.refresh_from_db()
    assert (task.state, task.outcome, task.comment) == (
        "done",
        "done",
        "disposition decided: rework",
    )
    assert task.completed_by.username == "quality"
    trail = AuditRecord.objects.filter(
        content_type=ContentType.objects.get_for_model(Task), object_id=str(task.pk)
    ).order_by("pk")
    assert [(a.transition, a.actor.username) for a in trail] == [
        ("claim", "quality"),
        ("complete", "quality"),
    ]


@pytest.mark.timeout(300)
def test_a_person_without_the_role_cannot_claim(login):
    call_command("load_rule_packs", verbosity=0)
    order = run_order("WO-TASK2", result="R")
    task = Task.objects.get(order=order, role="quality_lead")
    page = login("p1-planner")
    base = page.url.split("/admin/")[0]
    page.goto(f"{base}/admin/orchestrator/task/mine/")
    expect(page.locator("#my-tasks")).not_to_contain_text("inspection failed")
    page.goto(f"{base}/admin/orchestrator/task/{task.pk}/change/")
    expect(page.locator("[data-task-action=claim]")).to_have_count(0)
    task.refresh_from_db()
    assert task.state == "open"
