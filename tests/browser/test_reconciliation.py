"""The operator works a reconciliation run in the browser (scenario 9): reconciles P1 now
from the runs list, reads the run report, assigns a lot-status difference to themself and
corrects it through the outbox, accepts a scrap difference with a reason and closes it.
Every step is audited with the operator as the actor.

The ERP's snapshot is what a hand reversal in the ERP would give (the finished lot
blocked, 3 pieces of scrap nobody reported to Interlock); the snapshot fetcher for the
``rest`` transport is replaced for the test, so that "Reconcile now" asks it, as it would
ask the real systems, in the live server's thread."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from orchestrator.models import (
    AuditRecord,
    Lot,
    OutboxMessage,
    ReconciliationException,
    ReconciliationRun,
)
from orchestrator.services import reconciliation as recon
from plants.models import Plant
from tests.browser.demo_flow import run_order


def _trail(obj) -> list[tuple[str, str]]:
    return [
        (a.transition, a.actor.username if a.actor_id else a.actor_label)
        for a in AuditRecord.objects.for_object(obj).order_by("pk")
    ]


@pytest.mark.timeout(600)  # the demo seed and a live server on a busy machine
def test_operator_reconciles_p1_corrects_one_difference_and_accepts_another(
    login, shot, monkeypatch
):
    call_command("load_rule_packs", verbosity=0)
    order = run_order("WO-REC1", result="A")
    fg = Lot.objects.get(number="FG-WO-REC1")
    assert fg.status != "blocked"
    erp_says = {
        "orders": {
            order.number: {
                "status": "settled" if order.state == "financially_posted" else "open",
                "produced_qty": str(order.confirmed_qty),
                "scrapped_qty": str(order.scrapped_qty + 3),
                "uom": order.uom.code,
            }
        },
        "lots": {fg.number: {"status": "BLOC"}},  # P1's ERP code for blocked
    }

    def snapshot(system, plant):
        return erp_says if system.kind == "erp" else {}

    monkeypatch.setitem(recon.FETCHERS, "rest", snapshot)

    page = login("operator")
    base = page.url.split("/admin/")[0]
    page.goto(f"{base}/admin/orchestrator/reconciliationrun/")
    page.locator("#reconcile-now").click()
    page.select_option("select[name=plant]", label=str(Plant.objects.get(code="P1")))
    page.locator("input[type=submit][value=Reconcile]").click()
    expect(page.locator(".messagelist .success")).to_contain_text("Reconciled P1")
    run = ReconciliationRun.objects.get()
    assert (run.state, run.started_by, run.differences, run.opened) == ("done", "operator", 2, 2)
    # The run reads as the plant's code, never as its database id.
    title = page.locator("#content h2").first
    expect(title).to_have_text(
        re.compile(r"^P1 reconciliation \d{4}-\d\d-\d\d \d\d:\d\d \(done\)$")
    )
    report = page.locator("#recon-report")
    expect(report).to_contain_text("lot FG-WO-REC1 status")
    expect(report).to_contain_text("order WO-REC1 scrapped_qty")
    expect(page.locator("body")).not_to_contain_text("{'")  # no raw dicts on the page
    shot(page, "reconciliation-run-report")

    lot_diff = ReconciliationException.objects.get(field="status", subject_kind="lot")
    scrap_diff = ReconciliationException.objects.get(field="scrapped_qty")
    assert (lot_diff.interlock_value, lot_diff.system_value) == (fg.status, "blocked")

    # The lot status: assigned to me, then corrected through the outbox.
    page.locator(f"a[href$='/reconciliationexception/{lot_diff.pk}/change/']").first.click()
    card = page.locator("#recon-card")
    expect(card).to_contain_text("ERP says blocked")
    expect(card).to_contain_text(
        f"post lot.status_change to ERP: lot=FG-WO-REC1, status={fg.status}"
    )
    page.get_by_role("button", name="Assign to me").click()
    expect(page.locator(".messagelist .success")).to_contain_text("Assigned to you")
    expect(card).to_contain_text("Assigned")
    page.fill("textarea[name=reason]", "lot was blocked in the ERP by hand; Interlock released it")
    shot(page, "reconciliation-exception-assigned")
    page.get_by_role("button", name="Post correction").click()
    expect(page.locator(".messagelist .success")).to_contain_text("in the outbox")
    expect(card).to_contain_text("Correction posted")
    expect(card).to_contain_text("Assigned to operator")
    expect(page.locator("#recon-steps")).to_contain_text("post_correction")
    shot(page, "reconciliation-exception-corrected")

    # The scrap: accepted with a reason, then closed.
    page.goto(f"{base}/admin/orchestrator/reconciliationrun/{run.pk}/change/")
    page.locator(f"a[href$='/reconciliationexception/{scrap_diff.pk}/change/']").first.click()
    expect(card).to_contain_text("none can be posted")
    expect(page.get_by_role("button", name="Post correction")).to_have_count(0)
    page.fill("textarea[name=reason]", "3 pieces scrapped at the ERP's goods receipt; MES right")
    page.get_by_role("button", name="Accept the difference").click()
    expect(page.locator(".messagelist .success")).to_contain_text("accepted")
    page.fill("textarea[name=reason]", "explained; nothing to post")
    page.get_by_role("button", name="Close the exception").click()
    expect(page.locator(".messagelist .success")).to_contain_text("Closed")
    expect(card).to_contain_text("Closed")
    steps = page.locator("#recon-steps tbody tr")
    expect(steps).to_have_count(3)
    expect(steps.nth(1)).to_contain_text("operator")
    expect(steps.nth(1)).to_contain_text("accept")
    expect(steps.nth(2)).to_contain_text("explained; nothing to post")
    shot(page, "reconciliation-exception-closed")

    lot_diff.refresh_from_db()
    scrap_diff.refresh_from_db()
    assert (lot_diff.state, lot_diff.assignee.username) == ("correction_posted", "operator")
    assert scrap_diff.state == "closed"
    correction = OutboxMessage.objects.get(message_type="lot.status_change", rule="reconciliation")
    assert lot_diff.correction == correction
    assert (correction.target_system, correction.payload["lot"], correction.payload["status"]) == (
        "erp",
        "FG-WO-REC1",
        fg.status,
    )
    assert _trail(run) == [("start", "operator"), ("finish", "operator")]
    assert _trail(lot_diff) == [
        ("open", "system:interlock"),
        ("assign", "operator"),
        ("post_correction", "operator"),
    ]
    assert _trail(scrap_diff) == [
        ("open", "system:interlock"),
        ("accept", "operator"),
        ("close", "operator"),
    ]
    # Each difference's task was done by the operator's step.
    assert (lot_diff.task.state, lot_diff.task.outcome, lot_diff.task.completed_by.username) == (
        "done",
        "corrected",
        "operator",
    )
    assert (scrap_diff.task.outcome, scrap_diff.task.completed_by.username) == (
        "accepted",
        "operator",
    )
    assert str(run).startswith("P1 reconciliation ")
