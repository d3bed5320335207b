"""Plant overrides: a plant admin authors and publishes them for their own plant only."""

from __future__ import annotations

import pytest

from interlock.errors import DomainError, NotAllowed
from plants.choices import Role
from rules import services
from rules.choices import VersionState
from tests.factories import make_member
from tests.factories_rules import board, published, threshold_doc

pytestmark = pytest.mark.django_db

EVENT = {"event": {"qty": 50.0}}


def actions_at(plant):
    result = services.evaluate(plant=plant, event_type="operation.confirmed", context=EVENT)
    return [a.action for a in result.actions]


@pytest.fixture
def admins(plant_p1, plant_p2):
    return (
        make_member(Role.PLANT_ADMIN, plant_p1, username="p1-admin"),
        make_member(Role.PLANT_ADMIN, plant_p2, username="p2-admin"),
    )


@pytest.fixture
def override(plant_p1, admins):
    """P1's admin drafts an override for P1 (hold from qty 10) over a global of 100."""
    published(threshold_doc(100), author=board("alice"), approver=board("bob"))
    version = services.ruleset_version_create(
        source=threshold_doc(10), author=admins[0], plant=plant_p1
    )
    services.ruleset_version_submit(version=version, actor=admins[0])
    return version


def test_plant_admin_authors_overrides_only_for_their_own_plant(plant_p1, plant_p2, admins):
    p1_admin, _ = admins
    version = services.ruleset_version_create(
        source=threshold_doc(10), author=p1_admin, plant=plant_p1
    )
    assert version.plant == plant_p1
    with pytest.raises(NotAllowed):
        services.ruleset_version_create(source=threshold_doc(10), author=p1_admin, plant=plant_p2)
    with pytest.raises(NotAllowed):  # a global version is the board's
        services.ruleset_version_create(source=threshold_doc(10), author=p1_admin)


def test_another_plants_admin_cannot_edit_or_submit_the_override(plant_p1, admins):
    p1_admin, p2_admin = admins
    version = services.ruleset_version_create(
        source=threshold_doc(10), author=p1_admin, plant=plant_p1
    )
    with pytest.raises(NotAllowed):
        services.ruleset_version_update(version=version, source=threshold_doc(20), actor=p2_admin)
    with pytest.raises(NotAllowed):
        services.ruleset_version_submit(version=version, actor=p2_admin)
    colleague = make_member(Role.PLANT_ADMIN, plant_p1, username="p1-admin-2")
    services.ruleset_version_update(version=version, source=threshold_doc(20), actor=colleague)
    version.refresh_from_db()
    assert "event.qty > 20.0" in version.source


def test_override_needs_board_approval_then_its_plant_admin_publishes(
    override, plant_p1, plant_p2, admins
):
    p1_admin, p2_admin = admins
    with pytest.raises(NotAllowed):  # four eyes stay with the governance board
        services.ruleset_version_approve(version=override, approver=p1_admin)
    services.ruleset_version_approve(version=override, approver=board("bob"))
    with pytest.raises(NotAllowed):
        services.ruleset_version_publish(version=override, actor=p2_admin)
    override.refresh_from_db()
    assert override.state == VersionState.APPROVED
    services.ruleset_version_publish(version=override, actor=p1_admin)
    assert actions_at(plant_p1) == ["hold_gate"]
    assert actions_at(plant_p2) == []  # P2 keeps the global version


def test_an_override_cannot_be_published_to_another_plant(override, plant_p2):
    services.ruleset_version_approve(version=override, approver=board("bob"))
    with pytest.raises(DomainError) as info:
        services.ruleset_version_publish(version=override, actor=board("bob"), plants=[plant_p2])
    assert info.value.code == "wrong_plant"


def test_plant_admin_cannot_publish_global_versions(plant_p1, admins):
    alice, bob = board("alice"), board("bob")
    version = services.ruleset_version_create(source=threshold_doc(10), author=alice)
    services.ruleset_version_submit(version=version, actor=alice)
    services.ruleset_version_approve(version=version, approver=bob)
    with pytest.raises(NotAllowed):
        services.ruleset_version_publish(version=version, actor=admins[0], plants=[plant_p1])


def test_plant_admin_rolls_back_only_their_own_plant(override, plant_p1, plant_p2, admins):
    p1_admin, p2_admin = admins
    services.ruleset_version_approve(version=override, approver=board("bob"))
    services.ruleset_version_publish(version=override, actor=p1_admin)
    second = services.ruleset_version_create(
        source=threshold_doc(40), author=p1_admin, plant=plant_p1
    )
    services.ruleset_version_submit(version=second, actor=p1_admin)
    services.ruleset_version_approve(version=second, approver=board("bob"))
    services.ruleset_version_publish(version=second, actor=p1_admin)
    with pytest.raises(NotAllowed):
        services.ruleset_rollback(
            ruleset=override.ruleset, plant=plant_p1, actor=p2_admin, reason="not mine"
        )
    with pytest.raises(NotAllowed):
        services.ruleset_rollback(
            ruleset=override.ruleset, plant=None, actor=p1_admin, reason="global is not mine"
        )
    activation = services.ruleset_rollback(
        ruleset=override.ruleset, plant=plant_p1, actor=p1_admin, reason="too many holds"
    )
    assert activation.version == override
