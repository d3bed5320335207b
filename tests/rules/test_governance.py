"""Versions, four eyes, rollout per plant, rollback, pinning, scheduled publish."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from interlock.errors import DomainError, NotAllowed
from plants.choices import Role
from plants.models import ReleaseWindow
from rules import services
from rules.choices import DecisionKind, VersionState
from rules.errors import RuleEvaluationError, RuleSetInvalid
from rules.models import ScheduledPublish
from tests.factories import make_member
from tests.factories_rules import board, published, threshold_doc

pytestmark = pytest.mark.django_db

EVENT = {"event": {"qty": 50.0}}


def actions_at(plant, context=EVENT, **kw):
    result = services.evaluate(plant=plant, event_type="operation.confirmed", context=context, **kw)
    return [a.action for a in result.actions]


def test_invalid_document_cannot_be_saved():
    with pytest.raises(RuleSetInvalid):
        services.ruleset_version_create(source="schema: nope\n", author=board("alice"))


def test_author_cannot_approve_own_version():
    alice = board("alice")
    version = services.ruleset_version_create(source=threshold_doc(10), author=alice)
    services.ruleset_version_submit(version=version, actor=alice)
    with pytest.raises(NotAllowed) as info:
        services.ruleset_version_approve(version=version, approver=alice)
    assert info.value.code == "four_eyes"
    version.refresh_from_db()
    assert version.state == VersionState.IN_REVIEW


def test_approval_needs_the_governance_board_role(plant_p1):
    alice = board("alice")
    admin = make_member(Role.PLANT_ADMIN, plant_p1, username="padmin")
    version = services.ruleset_version_create(source=threshold_doc(10), author=alice)
    services.ruleset_version_submit(version=version, actor=alice)
    with pytest.raises(NotAllowed):
        services.ruleset_version_approve(version=version, approver=admin)
    services.ruleset_version_approve(version=version, approver=board("bob"))
    version.refresh_from_db()
    assert version.state == VersionState.APPROVED
    kinds = list(version.decisions.values_list("kind", flat=True))
    assert kinds == [DecisionKind.SUBMIT, DecisionKind.APPROVE]
    assert version.history.count() >= 3  # every change kept by simple-history


def test_failing_embedded_tests_block_submit():
    alice = board("alice")
    # The embedded test probes qty 5, below the threshold: it expects a hold that never comes.
    version = services.ruleset_version_create(
        source=threshold_doc(10, expect_hold_at=5), author=alice
    )
    with pytest.raises(DomainError) as info:
        services.ruleset_version_submit(version=version, actor=alice)
    assert info.value.code == "tests_failed"
    version.refresh_from_db()
    assert version.state == VersionState.DRAFT
    assert version.test_results[0]["passed"] is False


def test_published_versions_are_immutable():
    version = published(threshold_doc(10), author=board("alice"), approver=board("bob"))
    with pytest.raises(DomainError) as info:
        services.ruleset_version_update(
            version=version, source=threshold_doc(20), actor=version.author
        )
    assert info.value.code == "version_immutable"


def test_canary_publish_to_one_plant_while_others_keep_the_old_version(plant_p1, plant_p2):
    alice, bob = board("alice"), board("bob")
    published(threshold_doc(100), author=alice, approver=bob)  # global: 50 does not hold
    assert actions_at(plant_p1) == actions_at(plant_p2) == []
    v2 = published(threshold_doc(10), author=alice, approver=bob, plants=[plant_p1])
    assert actions_at(plant_p1) == ["hold_gate"]
    assert actions_at(plant_p2) == []
    services.ruleset_version_publish(version=v2, actor=bob)  # widen to every plant
    assert actions_at(plant_p2) == ["hold_gate"]


def test_rollback_returns_a_plant_to_its_previous_version_in_one_action(plant_p1, plant_p2):
    alice, bob = board("alice"), board("bob")
    v1 = published(threshold_doc(100), author=alice, approver=bob)
    published(threshold_doc(10), author=alice, approver=bob, plants=[plant_p1])
    # P1 had no row of its own before the canary; give it one so rollback has a target.
    published(threshold_doc(20), author=alice, approver=bob, plants=[plant_p1])
    activation = services.ruleset_rollback(
        ruleset=v1.ruleset, plant=plant_p1, actor=bob, reason="false holds"
    )
    assert activation.version.number == 2
    assert actions_at(plant_p1) == ["hold_gate"]
    rollback = activation.previous.decisions.get(kind=DecisionKind.ROLLBACK)
    assert "false holds" in rollback.text
    assert activation.history.count() >= 2


def test_in_flight_events_keep_their_version(plant_p1):
    alice, bob = board("alice"), board("bob")
    published(threshold_doc(100), author=alice, approver=bob)
    first = services.evaluate(plant=plant_p1, event_type="operation.confirmed", context=EVENT)
    published(threshold_doc(10), author=alice, approver=bob)
    assert actions_at(plant_p1) == ["hold_gate"]
    assert actions_at(plant_p1, version=first.pins) == []
    assert first.explanation()["rulesets"][0]["version"] == "receipt-gate@1"


def test_scheduled_publish_happens_in_the_release_window(plant_p1):
    alice, bob = board("alice"), board("bob")
    published(threshold_doc(100), author=alice, approver=bob)
    version = services.ruleset_version_create(source=threshold_doc(10), author=alice)
    services.ruleset_version_submit(version=version, actor=alice)
    services.ruleset_version_approve(version=version, approver=bob)
    now = timezone.now()
    local = now.astimezone(plant_p1.tz) + dt.timedelta(days=1)
    ReleaseWindow.objects.create(
        plant=plant_p1,
        name="tomorrow",
        weekday=local.weekday(),
        start_time=dt.time(2, 0),
        end_time=dt.time(4, 0),
    )
    scheduled = services.ruleset_version_schedule_publish(
        version=version, plant=plant_p1, actor=bob
    )
    assert scheduled.due_at > now
    assert services.scheduled_publishes_run(now=now) == 0
    assert actions_at(plant_p1) == []
    assert services.scheduled_publishes_run(now=scheduled.due_at) == 1
    assert services.scheduled_publishes_run(now=scheduled.due_at) == 0  # safe to run twice
    assert actions_at(plant_p1) == ["hold_gate"]
    assert ScheduledPublish.objects.get().status == "done"


def test_rule_evaluation_error_propagates_with_rule_id(plant_p1):
    published(threshold_doc(10), author=board("alice"), approver=board("bob"))
    with pytest.raises(RuleEvaluationError) as info:
        services.evaluate(plant=plant_p1, event_type="operation.confirmed", context={"event": {}})
    assert info.value.rule_id == "big_confirmation"
