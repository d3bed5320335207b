"""The browser harness itself: a demo login reaches the admin index in real Chromium."""

from __future__ import annotations

from playwright.sync_api import expect


def test_auditor_logs_in_and_sees_the_admin_index(login, shot):
    page = login("auditor")
    expect(page.locator("#site-name")).to_be_visible()
    # The auditor reads everything: the orchestrator's models are listed on the index.
    assert page.get_by_role("link", name="Production orders").count() >= 1
    shot(page, "smoke-auditor-index")


def test_wrong_password_is_refused(live_server, demo_users, page):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "auditor")
    page.fill("#id_password", "not-the-password")
    page.click("input[type=submit]")
    # the click starts a navigation: wait for the refused page, do not sample it
    expect(page.locator(".errornote")).to_be_visible()
