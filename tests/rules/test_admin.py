"""The rules admin: four eyes through the approval action, diff page, tests and simulations."""

from __future__ import annotations

import re

import pytest

from plants.choices import Role
from rules import services
from rules.choices import VersionState
from rules.simulation import SimEvent
from tests.factories import make_member
from tests.factories_rules import board, published, threshold_doc

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/rules/rulesetversion/"


def text(response) -> str:
    """The page as text: tags dropped, so a highlighted diff reads as its lines."""
    return re.sub(r"<[^>]+>", "", response.content.decode()).replace("&nbsp;", " ")


def text_of(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def change_url(version):
    return f"{CHANGELIST}{version.pk}/change/"


@pytest.fixture
def in_review():
    alice = board("alice")
    version = services.ruleset_version_create(source=threshold_doc(10), author=alice)
    services.ruleset_version_submit(version=version, actor=alice)
    return version


def approve_through_admin(client, user, version):
    client.force_login(user)
    response = client.post(
        CHANGELIST, {"action": "approve", "_selected_action": [version.pk]}, follow=True
    )
    assert response.status_code == 200
    version.refresh_from_db()
    return [str(m) for m in response.context["messages"]]


def test_the_author_clicking_approve_is_refused_with_a_message(client, in_review):
    messages = approve_through_admin(client, in_review.author, in_review)
    assert any("author cannot approve their own version" in m for m in messages), messages
    assert in_review.state == VersionState.IN_REVIEW
    assert in_review.approved_by is None


def test_another_board_member_approves_through_the_admin(client, in_review):
    bob = board("bob")
    messages = approve_through_admin(client, bob, in_review)
    assert any("approved" in m for m in messages), messages
    assert in_review.state == VersionState.APPROVED
    assert in_review.approved_by == bob


def test_a_plant_admin_cannot_approve_through_the_admin(client, in_review, plant_p1):
    padmin = make_member(Role.PLANT_ADMIN, plant_p1, username="padmin")
    client.force_login(padmin)
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert "approve" not in dict(page.context["action_form"].fields["action"].choices)
    approve_through_admin(client, padmin, in_review)
    assert in_review.state == VersionState.IN_REVIEW


def test_diff_between_two_versions(client):
    alice, bob = board("alice"), board("bob")
    first = published(threshold_doc(100), author=alice, approver=bob)
    second = services.ruleset_version_create(source=threshold_doc(10), author=alice)
    third = services.ruleset_version_create(source=threshold_doc(20), author=alice)
    client.force_login(bob)
    change_page = client.get(change_url(second)).content.decode()
    diff_url = f"{CHANGELIST}{second.pk}/diff/"
    assert diff_url in change_page
    default = text(client.get(diff_url))  # against the version before it
    assert "receipt-gate@1" in default
    assert "event.qty &gt; 100.0" in default
    assert "event.qty &gt; 10.0" in default
    chosen = text(client.get(f"{diff_url}?other={third.pk}"))
    assert "event.qty &gt; 20.0" in chosen
    assert "event.qty &gt; 100.0" not in chosen
    assert client.get(f"{diff_url}?other=999999").status_code == 404
    assert first.pk != second.pk


def test_change_page_shows_test_results_and_the_simulation_report(client, in_review, plant_p1):
    events = [
        SimEvent("e1", "operation.confirmed", {"event": {"qty": 50.0}}),
        SimEvent("e2", "operation.confirmed", {"event": {"qty": 5.0}}),
    ]
    report = services.ruleset_version_simulate(version=in_review, plant=plant_p1, events=events)
    client.force_login(board("bob"))
    page = client.get(change_url(in_review)).content.decode()
    assert "large confirmation holds the gate" in page
    assert "✔ passed" in page
    assert "1 of 2 events would get different actions at P1" in text_of(page)
    assert "+hold_gate" in page
    detail = client.get(f"/admin/rules/simulationreport/{report.pk}/change/").content.decode()
    assert "+hold_gate (big_confirmation)" in detail
