"""The operations dashboard in a real browser: the operator sees every plant's charts,
the plant admin of P1 only P1's."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.observability.helpers import demo_activity

pytestmark = pytest.mark.postgres

CHARTS = ("throughput", "latency", "backlog", "oldest", "retries", "failed")


@pytest.fixture
def activity(demo_users):
    demo_activity(timezone.now())


def _charts_drawn(page) -> None:
    for chart in CHARTS:
        svg = page.locator(f"#chart-{chart} svg.ilk-chart")
        expect(svg).to_be_visible()
        box = svg.bounding_box()
        assert box["width"] > 300
        assert box["height"] > 150
        # something was drawn in it: bars or a line, not only the axes
        assert svg.locator("rect.bar, polyline.line").count() > 0, chart


def test_operator_sees_every_plant_and_the_charts_are_drawn(login, activity, shot):
    page = login("operator")
    page.get_by_role("link", name="Operations dashboard").click()
    page.wait_for_selector("#ilk-dashboard")
    _charts_drawn(page)
    assert page.locator(".ilk-plants a").all_inner_texts() == ["All my plants", "P1", "P2", "P3"]
    assert page.locator(".ilk-sla tbody th").all_inner_texts() == ["P1", "P2", "P3"]
    shot(page, "dashboard-operator-24h")
    page.get_by_role("link", name="1h", exact=True).click()
    page.wait_for_url("**range=1h**")
    _charts_drawn(page)
    shot(page, "dashboard-operator-1h")
    # a chart leads to the items behind it
    page.locator("#chart-failed h2 a").click()
    page.wait_for_url("**/orchestrator/inboundmessage/**")
    expect(page.locator("#result_list")).to_be_visible()


def test_p1_admin_sees_only_p1(login, activity, shot):
    page = login("p1-admin")
    page.goto(page.url + "dashboard/?range=7d")
    page.wait_for_selector("#ilk-dashboard")
    _charts_drawn(page)
    assert page.locator(".ilk-plants a").all_inner_texts() == ["All my plants", "P1"]
    assert page.locator(".ilk-sla tbody th").all_inner_texts() == ["P1"]
    assert "P2" not in page.locator("#exceptions").inner_text()
    shot(page, "dashboard-p1-admin-7d")
