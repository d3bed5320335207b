"""The operator fixes and replays a grouped failure, and fixes one message's payload, in
the browser (issue 8, items 6 and 9)."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from orchestrator.models import InboundMessage, ProductionOrder
from plants.models import Item, ItemMapping, Plant
from tests.browser.demo_flow import release_payload, send

UNMAPPED = "000000000010009999"


@pytest.mark.timeout(300)
def test_operator_fixes_and_replays_a_grouped_failure(login, shot):
    for n in (1, 2, 3):  # an item code P1's mapping does not know yet: three quarantines
        message = send("ERP", "production_order.released", release_payload(f"WO-G{n}", UNMAPPED))
        assert message.status == "quarantined"
    typo = send("ERP", "production_order.released", {**release_payload("WO-T1"), "qty": "10x"})
    assert typo.status == "quarantined"

    page = login("operator")
    base = page.url.split("/admin/")[0]
    page.goto(f"{base}/admin/orchestrator/inboundmessage/")
    page.get_by_role("link", name="Workbench (grouped)").click()
    group_row = page.locator("tr.workbench-group", has_text="mapping_missing")
    expect(group_row.locator("td").nth(6)).to_have_text("3")
    shot(page, "operator-workbench")

    # The fix (the plant admin's job, done meanwhile): map the code.
    from plants.services.mapping import mapping_cache

    ItemMapping.objects.create(
        plant=Plant.objects.get(code="P1"),
        plant_code=UNMAPPED,
        item=Item.objects.get(code="FG-1000"),
        revision="A",
        valid_from="2026-01-01",
    )
    mapping_cache.clear()

    group_row.get_by_role("link").click()
    expect(page.locator("tr.workbench-item")).to_have_count(3)
    shot(page, "operator-group")
    page.locator("input[name=action][value=replay]").check()
    page.fill("#id_reason", "P1 item mapping for 000000000010009999 added")
    page.get_by_role("button", name="Apply to 3 items").click()
    expect(page.locator(".messagelist")).to_contain_text("Replayed 3 of 3")
    # Resolved items leave the list; the typo is still there.
    expect(page.locator("tr.workbench-group")).to_have_count(1)
    expect(page.locator("tr.workbench-group", has_text="mapping_missing")).to_have_count(0)
    assert ProductionOrder.objects.filter(number__startswith="WO-G").count() == 3

    # Edit and replay the typo: the original is kept, the fixed copy goes through.
    page.locator("tr.workbench-group").get_by_role("link").click()
    page.locator("tr.workbench-item").get_by_role("link").first.click()
    page.get_by_role("link", name="Edit and replay…").click()
    body = json.loads(page.locator("#id_body").input_value())
    body["payload"]["qty"] = 10
    page.fill("#id_body", json.dumps(body, indent=2))
    page.fill("#id_reason", "quantity typo 10x, the order is for 10")
    shot(page, "operator-edit-replay")
    page.get_by_role("button", name="Save and replay").click()
    expect(page.locator(".messagelist")).to_contain_text("Fixed and replayed")
    typo.refresh_from_db()
    assert typo.body["payload"]["qty"] == "10x"  # as received
    replay = InboundMessage.objects.get(replay_of=typo)
    assert replay.status == "accepted"
    page.goto(f"{base}/admin/orchestrator/inboundmessage/workbench/")
    expect(page.locator("#content")).to_contain_text("Nothing needs attention")
    shot(page, "operator-workbench-empty")
