"""The auditor follows an order to its lots and inspections and opens the genealogy
picture, in the browser (issue 8, items 7 and 9)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from orchestrator.models import ProductionOrder
from tests.browser.demo_flow import run_order


@pytest.mark.timeout(300)
def test_auditor_follows_an_order_to_its_lots_inspections_and_genealogy(login, shot):
    run_order("WO-A1")
    order = ProductionOrder.objects.get(number="WO-A1")
    page = login("auditor")
    page.get_by_role("link", name="Production orders").first.click()
    page.get_by_role("link", name="WO-A1").click()
    related = page.locator(".related-objects")
    order_url = page.url
    expect(related.get_by_role("link", name="FG-WO-A1")).to_be_visible()
    expect(related.get_by_role("link", name="L-4711-01")).to_be_visible()
    shot(page, "auditor-order")

    # The order's inspection, and back.
    related.get_by_role("link", name="INS-WO-A1 (passed)").click()
    expect(page).to_have_url(re.compile(r".*/admin/orchestrator/inspection/\d+/change/$"))
    expect(page.locator("#content")).to_contain_text("INS-WO-A1")
    page.go_back()

    # The timeline: the order's whole life, payloads folded.
    page.locator("a.object-button-timeline").click()
    expect(page.locator("tr.timeline-row").first).to_be_visible()
    assert page.locator("tr.timeline-row").count() > 10
    assert page.locator("details").count() > 0
    shot(page, "auditor-timeline")
    page.go_back()

    # The trace of the order's latest step: one compact timeline, payloads folded until clicked.
    page.locator("a.object-button-trace").click()
    timeline = page.locator("table.trace-timeline")
    expect(timeline).to_be_visible()
    assert timeline.count() == 1
    for kind in ("message", "event", "transition"):
        expect(timeline.locator(f"tr[data-kind={kind}]").first).to_be_visible()
    folds = timeline.locator("details.payload")
    assert folds.count() >= 2
    assert not any(folds.evaluate_all("ds => ds.map(d => d.open)"))
    body = folds.filter(has_text="body as received").first
    expect(body.locator("pre")).to_be_hidden()
    shot(page, "auditor-trace")
    body.locator("summary").click()
    expect(body.locator("pre")).to_be_visible()
    expect(body.locator("pre")).to_contain_text('"order": "WO-A1"')
    shot(page, "auditor-trace-open")
    # Every step links its object; the message page links back to the trace.
    timeline.locator("tr[data-kind=message] a").first.click()
    expect(page.get_by_role("link", name="Trace")).to_be_visible()
    page.goto(order_url)

    # The produced lot, then its genealogy: the component lot went into it.
    related.get_by_role("link", name="FG-WO-A1").click()
    page.locator("a.object-button-genealogy").click()
    svg = page.locator("svg.genealogy-graph")
    expect(svg).to_be_visible()
    expect(svg).to_contain_text("L-4711-01")
    assert page.locator("tr.ingredient").count() == 1
    shot(page, "auditor-genealogy")
    # Where did the component lot go? Click its box in the picture.
    page.locator("svg.genealogy-graph a", has_text="L-4711-01").first.click()
    expect(page.locator("#content h2").first).to_contain_text("L-4711-01")
    page.locator("a.object-button-genealogy").click()
    expect(page.locator("tr.where-used", has_text="FG-WO-A1")).to_have_count(1)
    shot(page, "auditor-where-used")
    assert order.state in ("quality_pending", "financially_posted")
