"""Customer service handles "backorders can ship" in the browser (scenario 4): a finished
lot passed its final inspection, the ATP update went to the ERP, and the ERP answered
which backorders the lot covers. The task is in the customer-service user's "My tasks";
they open it, read the backorders, follow its link to the released lot, claim it and
complete it as replied. The task is done and audited with them as the actor."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from connectors.outbound.acks import backorders_can_ship
from connectors.outbound.base import Receipt
from orchestrator.models import AuditRecord, OutboxMessage, Task
from plants.models import ConnectedSystem
from tests.browser.demo_flow import FG_P1, run_order


def _trail(obj) -> list[tuple[str, str]]:
    return [
        (a.transition, a.actor.username if a.actor_id else a.actor_label)
        for a in AuditRecord.objects.for_object(obj).order_by("pk")
    ]


@pytest.mark.timeout(600)  # the demo seed and a live server on a busy machine
def test_customer_service_follows_and_completes_the_backorders_can_ship_task(login, shot):
    call_command("load_rule_packs", verbosity=0)
    order = run_order("WO-CS1", result="A")
    atp = OutboxMessage.objects.get(message_type="atp.update", payload__order=order.number)
    # The ERP's answer to the ATP update, as its delivery receipt brings it.
    backorders_can_ship(
        message=atp,
        receipt=Receipt(
            idempotency_key=atp.idempotency_key,
            status="applied",
            reference="ATP-000042",
            extra={
                "effect": {
                    "item": FG_P1,
                    "can_ship": [{"backorder": "BO-000007", "customer": "ACME", "qty": "5"}],
                }
            },
        ),
        system=ConnectedSystem.objects.get(code="ERP"),
    )
    task = Task.objects.get(role="customer_service", plant__code="P1")
    assert task.title.startswith("Backorders can ship: BO-000007")

    page = login("p1-cs")
    page.locator("#my-tasks-link").click()
    row = page.locator("tr.task-row", has_text="Backorders can ship: BO-000007")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("WO-CS1")
    shot(page, "cs-my-tasks")

    row.locator("td.title a").click()
    card = page.locator("#task-card")
    # The evidence reads as a table of backorders, not as a Python dict.
    details = card.locator("#task-details")
    expect(details).to_contain_text("BO-000007")
    expect(details).to_contain_text("ACME")
    expect(details).not_to_contain_text("{'")
    shot(page, "cs-task")

    card.get_by_role("link", name="lot FG-WO-CS1", exact=True).click()
    expect(page.locator("#content")).to_contain_text("FG-WO-CS1")
    expect(page.locator("#content")).to_contain_text("Available")
    shot(page, "cs-lot")
    page.go_back()

    page.locator("[data-task-action=claim]").click()
    expect(page.locator(".messagelist .success")).to_contain_text("You claimed")
    page.locator("input[name=outcome][value=replied]").check()
    page.fill("textarea[name=comment]", "ACME told: BO-000007 ships tomorrow")
    page.locator("[data-task-action=complete]").click()
    expect(page.locator(".messagelist .success")).to_contain_text("done")
    expect(page.locator("#my-tasks")).not_to_contain_text("BO-000007")
    shot(page, "cs-task-done")

    task.refresh_from_db()
    assert (task.state, task.outcome, task.comment, task.completed_by.username) == (
        "done",
        "replied",
        "ACME told: BO-000007 ships tomorrow",
        "p1-cs",
    )
    assert _trail(task) == [("open", "system:ERP"), ("claim", "p1-cs"), ("complete", "p1-cs")]
