"""Every governance button of the version page, through the admin as a person clicks it:
each calls its service with the logged-in user as the actor, and a refusal is a message
that changes nothing."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from plants.choices import Role
from plants.models import ReleaseWindow
from rules import services
from rules.choices import DecisionKind, VersionState
from rules.models import Activation, RuleSetVersion, ScheduledPublish, SimulationReport
from tests.factories import make_member
from tests.factories_rules import board, published, threshold_doc

pytestmark = pytest.mark.django_db

ADMIN = "/admin/rules/rulesetversion/"


def press(client, version, operation, data=None):
    """POST a governance button; returns the messages shown on the page it lands on."""
    response = client.post(f"{ADMIN}{version.pk}/govern/{operation}/", data or {}, follow=True)
    assert response.status_code == 200
    version.refresh_from_db()
    return " | ".join(str(m) for m in response.context["messages"])


@pytest.fixture
def alice():
    return board("alice")


@pytest.fixture
def bob():
    return board("bob")


@pytest.fixture
def draft(alice):
    return services.ruleset_version_create(source=threshold_doc(10), author=alice)


@pytest.fixture
def approved(draft, alice, bob):
    services.ruleset_version_submit(version=draft, actor=alice)
    services.ruleset_version_approve(version=draft, approver=bob)
    return draft


def test_add_creates_a_rule_set_and_its_first_version_as_the_author(client, alice):
    client.force_login(alice)
    page = client.get(f"{ADMIN}add/")
    assert page.status_code == 200
    assert "ruleset: my-rule-set" in page.content.decode()  # a starter document
    response = client.post(f"{ADMIN}add/", {"source": threshold_doc(10), "plant": ""})
    version = RuleSetVersion.objects.get()
    assert response.status_code == 302, response.content.decode()[:2000]
    assert (version.ruleset.key, version.number, version.author) == ("receipt-gate", 1, alice)
    assert version.state == VersionState.DRAFT


def test_a_cel_error_is_handed_to_the_editor_with_line_and_column(client, alice):
    client.force_login(alice)
    bad = threshold_doc(10).replace("event.qty > 10.0", "event.qtty > 10.0")
    response = client.post(f"{ADMIN}add/", {"source": bad, "plant": ""})
    assert response.status_code == 200
    [problem] = response.context["rule_problems"]
    line = bad.splitlines().index("    when: event.qtty > 10.0") + 1
    assert problem["line"] == line
    # CEL points at the unknown field's selection.
    assert bad.splitlines()[line - 1][problem["column"] - 1 :] == ".qtty > 10.0"
    assert 'id="rule-problems"' in response.content.decode()
    assert not RuleSetVersion.objects.exists()


def test_a_published_version_shows_its_yaml_read_only_with_its_lines(client, alice, bob):
    version = published(threshold_doc(100), author=alice, approver=bob)
    client.force_login(bob)
    html = client.get(f"{ADMIN}{version.pk}/change/").content.decode()
    block = re.search(r'<pre class="rules-yaml">(.*?)</pre>', html, re.S).group(1)
    assert "\n  - id: big_confirmation\n    description:" in block  # indentation kept
    assert 'name="source"' not in html  # nothing to edit
    assert "Publish to chosen plants" not in html  # live everywhere already


def test_run_tests_stores_the_results_on_the_draft(client, draft, alice):
    client.force_login(alice)
    assert "all 1 embedded tests pass" in press(client, draft, "run_tests")
    assert draft.test_results[0]["passed"] is True


def test_simulate_stores_a_report_requested_by_the_user(client, draft, bob, plant_p1):
    client.force_login(bob)
    text = press(client, draft, "simulate", {"plants": "P1", "last_n": "50"})
    assert "simulated at P1: 0 of 0 events would change" in text
    report = SimulationReport.objects.get()
    assert (report.requested_by, report.last_n, report.plant) == (bob, 50, plant_p1)


def test_submit_then_the_author_cannot_approve_but_another_member_can(client, draft, alice, bob):
    client.force_login(alice)
    assert "submitted for review" in press(client, draft, "submit")
    assert draft.state == VersionState.IN_REVIEW
    assert "author cannot approve" in press(client, draft, "approve")
    assert draft.state == VersionState.IN_REVIEW
    client.force_login(bob)
    assert "approved" in press(client, draft, "approve", {"comment": "fine"})
    assert (draft.state, draft.approved_by) == (VersionState.APPROVED, bob)
    decision = draft.decisions.get(kind=DecisionKind.APPROVE)
    assert (decision.actor, decision.text) == (bob, "fine")


def test_reject_needs_a_comment_and_sends_back_to_draft(client, draft, alice, bob):
    services.ruleset_version_submit(version=draft, actor=alice)
    client.force_login(bob)
    assert "say why" in press(client, draft, "reject", {"comment": " "})
    assert draft.state == VersionState.IN_REVIEW
    assert "sent back to draft" in press(client, draft, "reject", {"comment": "too low"})
    assert draft.state == VersionState.DRAFT
    assert draft.decisions.get(kind=DecisionKind.REJECT).actor == bob


def test_publish_a_canary_widen_it_then_go_global(client, approved, bob, plant_p1, plant_p2):
    client.force_login(bob)
    assert "published at P1 (canary)" in press(client, approved, "publish", {"plants": ["P1"]})
    live = Activation.objects.get(plant=plant_p1)
    assert (live.version, live.activated_by) == (approved, bob)
    assert "published at P2" in press(client, approved, "publish", {"plants": ["P2"]})
    assert Activation.objects.filter(version=approved).count() == 2
    assert "choose at least one plant" in press(client, approved, "publish", {})
    assert "global default" in press(client, approved, "publish", {"scope": "global"})
    assert list(Activation.objects.values_list("plant", flat=True)) == [None]


def test_schedule_into_the_release_window(client, approved, bob, plant_p1):
    client.force_login(bob)
    assert "no release window ahead" in press(client, approved, "schedule", {"plants": "P1"})
    local = timezone.now().astimezone(plant_p1.tz) + dt.timedelta(days=1)
    ReleaseWindow.objects.create(
        plant=plant_p1,
        name="tomorrow",
        weekday=local.weekday(),
        start_time=dt.time(2, 0),
        end_time=dt.time(4, 0),
    )
    assert "scheduled: P1 at" in press(client, approved, "schedule", {"plants": "P1"})
    item = ScheduledPublish.objects.get()
    assert (item.requested_by, item.plant, item.status) == (bob, plant_p1, "pending")


def test_roll_back_a_canary_and_the_global_default(client, alice, bob, plant_p1):
    first = published(threshold_doc(100), author=alice, approver=bob)
    second = published(threshold_doc(50), author=alice, approver=bob, plants=[plant_p1])
    client.force_login(bob)
    text = press(client, second, "rollback", {"plant": "P1", "reason": "false alarms"})
    assert "at P1 is back on receipt-gate@1" in text
    assert not Activation.objects.filter(plant=plant_p1).exists()
    third = published(threshold_doc(20), author=alice, approver=bob)
    assert "all plants is back on receipt-gate@1" in press(client, third, "rollback", {"plant": ""})
    assert Activation.objects.get(plant=None).version == first
    decision = third.decisions.get(kind=DecisionKind.ROLLBACK)
    assert (decision.actor, decision.text) == (
        bob,
        "rolled back in the admin (back to receipt-gate@1)",
    )


def test_new_draft_from_a_version_belongs_to_whoever_presses_it(client, alice, bob):
    version = published(threshold_doc(100), author=alice, approver=bob)
    client.force_login(bob)
    response = client.post(f"{ADMIN}{version.pk}/govern/new_draft/")
    new = RuleSetVersion.objects.get(number=2)
    assert response.url == f"{ADMIN}{new.pk}/change/"
    assert (new.source, new.author, new.state) == (version.source, bob, VersionState.DRAFT)


def test_buttons_are_post_only_and_follow_permissions(client, draft, alice, plant_p1):
    services.ruleset_version_submit(version=draft, actor=alice)
    client.force_login(alice)
    assert client.get(f"{ADMIN}{draft.pk}/govern/approve/").status_code == 405
    assert client.post(f"{ADMIN}{draft.pk}/govern/explode/").status_code == 404
    padmin = make_member(Role.PLANT_ADMIN, plant_p1, username="padmin")
    client.force_login(padmin)
    page = client.get(f"{ADMIN}{draft.pk}/change/").content.decode()
    assert 'name="approve"' not in page
    assert "lacks rules.approve_rulesetversion" in press(client, draft, "approve")
    assert draft.state == VersionState.IN_REVIEW


def test_site_parameters_a_rule_reads_are_shown_per_plant(client, alice, plant_p1, plant_p2):
    from plants.models import SiteParameter, SiteParameterOverride

    parameter = SiteParameter.objects.get(key="scrap.spike_threshold_pct")
    SiteParameterOverride.objects.create(parameter=parameter, plant=plant_p2, value="8.0")
    source = threshold_doc(10).replace(
        "event.qty > 10.0", 'event.qty > double(plant["scrap.spike_threshold_pct"])'
    )
    version = services.ruleset_version_create(source=source, author=alice)
    client.force_login(alice)
    html = client.get(f"{ADMIN}{version.pk}/change/").content.decode()
    table = re.search(r'<table class="rules-table" id="rules-parameters">(.*?)</table>', html, re.S)
    cells = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", table.group(1)))
    assert "scrap.spike_threshold_pct" in cells
    assert f"{parameter.default_value} % {parameter.default_value} % 8.0 %" in cells


def test_a_stale_button_and_a_changed_rule_set_key_are_explained(client, draft, alice):
    client.force_login(alice)
    # "Send back" from a page that is out of date: the version is still a draft.
    text = press(client, draft, "reject", {"comment": "stale page"})
    assert "does not apply" in text
    assert draft.state == VersionState.DRAFT
    renamed = threshold_doc(10).replace("ruleset: receipt-gate", "ruleset: other-gate")
    response = client.post(f"{ADMIN}{draft.pk}/change/", {"source": renamed})
    assert response.status_code == 200
    [problem] = response.context["rule_problems"]
    assert (problem["code"], problem["line"]) == ("ruleset_key_changed", 2)
    draft.refresh_from_db()
    assert "receipt-gate" in draft.source
