"""The browser harness itself: a demo login reaches the admin index in real Chromium."""

from __future__ import annotations


def test_auditor_logs_in_and_sees_the_admin_index(login, shot):
    page = login("auditor")
    assert page.locator("#site-name").is_visible()
    # The auditor reads everything: the orchestrator's models are listed on the index.
    assert page.get_by_role("link", name="Production orders").count() >= 1
    shot(page, "smoke-auditor-index")


def test_wrong_password_is_refused(live_server, demo_users, page):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "auditor")
    page.fill("#id_password", "not-the-password")
    page.click("input[type=submit]")
    assert page.locator(".errornote").is_visible()
