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


@pytest.mark.timeout(300)
def test_operator_replays_a_group_with_a_chosen_rule_version(login, shot):
    """A published rule quarantines large releases; the board approves a higher limit. The
    operator dry-runs the group with that version, sees the difference, and replays it."""
    from django.contrib.auth import get_user_model

    from orchestrator.models import AuditRecord, Event
    from rules import services as rules
    from tests.factories_rules import approved, limit_doc

    users = get_user_model().objects
    board1, board2 = users.get(username="board1"), users.get(username="board2")
    for path in rules.rule_pack_paths():  # the shipped packs, as the demo runs them
        rules.rule_pack_load(source=path.read_text(), author=board1, approver=board2)
    live = approved(limit_doc(50), author=board1, approver=board2)
    rules.ruleset_version_publish(version=live, actor=board2)
    for order in ("WO-V1", "WO-V2"):
        payload = {**release_payload(order), "qty": 100}
        payload["operations"] = [{**payload["operations"][0], "qty": 100}]
        assert send("ERP", "production_order.released", payload).status == "quarantined"
    fixed = approved(limit_doc(500, notify_over=50), author=board1, approver=board2)

    page = login("operator")
    base = page.url.split("/admin/")[0]
    page.goto(f"{base}/admin/orchestrator/inboundmessage/workbench/")
    group_row = page.locator("tr.workbench-group[data-kind=event]", has_text="rule_quarantine")
    expect(group_row.locator("td").nth(6)).to_have_text("2")
    group_row.get_by_role("link").click()
    page.get_by_role("link", name="Replay with a rule version…").click()
    # Only governed versions are offered: the live one and the approved fix.
    expect(page.locator("#id_version")).to_be_visible()
    options = page.locator("#id_version option").all_inner_texts()
    assert any(o.startswith(fixed.label) and "approved" in o for o in options)
    page.select_option("#id_version", str(fixed.pk))
    page.get_by_role("button", name="Dry run").click()
    expect(page.locator("h2.dry-run-summary")).to_contain_text(
        f"Dry run with {fixed.label}: 2 of 2 events would come out differently"
    )
    row = page.locator("tr.dry-run-row.changed").first
    expect(row.locator("td.judgement-current .decision")).to_have_text("quarantined")
    expect(row.locator("td.judgement-chosen .decision")).to_have_text("applied")
    expect(row.locator("td.judgement-current li.act-removed")).to_contain_text("quarantine_event")
    expect(row.locator("td.judgement-chosen li.act-added")).to_contain_text("notify_role")
    shot(page, "operator-version-dry-run")
    assert Event.objects.filter(status="quarantined").count() == 2  # a dry run changes nothing

    page.fill("#id_reason", "limit raised to 500 by the board (release-limit@2)")
    page.get_by_role("button", name=f"Replay 2 events with {fixed.label}").click()
    expect(page.locator(".messagelist")).to_contain_text(
        f"Replayed 2 events with {fixed.label}: 2 applied"
    )
    expect(page.locator("tr.workbench-group", has_text="rule_quarantine")).to_have_count(0)
    shot(page, "operator-version-replayed")
    assert ProductionOrder.objects.filter(number__in=["WO-V1", "WO-V2"]).count() == 2
    records = AuditRecord.objects.filter(transition="replay_with_version")
    assert {r.actor.username for r in records} == {"operator"}
    assert all(fixed.label in r.reason for r in records)
