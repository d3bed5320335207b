"""The shipped rule packs: valid, their embedded tests pass, loaded idempotently with four eyes."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from rules import services
from rules.choices import VersionState
from rules.compiler import check_ruleset
from rules.models import RuleSetVersion, VersionDecision
from tests.factories_rules import board

PACKS = services.rule_pack_paths()


def test_the_packs_cover_scenario_one_and_the_pipeline_gates():
    assert {p.stem for p in PACKS} >= {
        "order-to-receipt",
        "quality-gates",
        "material-gates",
        "scrap-spike",
        "incoming-inspection",
        "finished-goods-release",
        "cycle-count",
        "supply-risk",
        "line-stoppage",
    }


@pytest.mark.parametrize("path", PACKS, ids=lambda p: p.stem)
def test_every_pack_validates_and_its_embedded_tests_pass(path):
    compiled, problems = check_ruleset(path.read_text())
    assert problems == []
    results = compiled.run_tests()
    assert len(results) >= 3
    assert [r for r in results if not r.passed] == []


def load(**kw):
    command_out = StringIO()
    call_command("load_rule_packs", stdout=command_out, **kw)
    return command_out.getvalue()


@pytest.fixture
def board_users(db):
    return board("board1"), board("board2")


@pytest.mark.django_db
def test_loading_publishes_global_versions_with_four_eyes(board_users):
    author, approver = board_users
    assert f"{len(PACKS)} published" in load()
    versions = RuleSetVersion.objects.all()
    assert versions.count() == len(PACKS)
    for version in versions:
        assert version.state == VersionState.PUBLISHED
        assert version.plant is None
        assert (version.author, version.approved_by) == (author, approver)


@pytest.mark.django_db
def test_loading_twice_changes_nothing(board_users):
    load()
    before = (
        list(RuleSetVersion.objects.values_list("pk", "state", "source")),
        VersionDecision.objects.count(),
        RuleSetVersion.history.count(),
    )
    assert f"0 published, {len(PACKS)} unchanged" in load()
    after = (
        list(RuleSetVersion.objects.values_list("pk", "state", "source")),
        VersionDecision.objects.count(),
        RuleSetVersion.history.count(),
    )
    assert after == before


@pytest.mark.django_db
def test_the_shipped_rules_drive_evaluation(board_users, plant_p1):
    load()
    failed = services.evaluate(
        plant=plant_p1,
        event_type="inspection.recorded",
        context={"event": {"lot": "FG-1", "result": "failed", "supplier": ""}},
    )
    assert [a.action for a in failed.actions] == [
        "open_nonconformance",
        "hold_gate",
        "notify_role",
    ]
    assert failed.pins.keys() == {p.stem for p in PACKS}


SPIKE = {
    "event": {"order": "WO-1", "qty": 3.0, "window_qty": 6.0},
    "order": {"number": "WO-1", "confirmed_qty": 100.0},
    "plant": {"scrap.spike_threshold_pct": 5.0},
}


@pytest.mark.django_db
def test_a_change_by_the_board_takes_effect_after_approval_and_survives_a_reload(
    board_users, plant_p1
):
    author, approver = board_users

    def spike_actions():
        result = services.evaluate(plant=plant_p1, event_type="scrap.declared", context=SPIKE)
        return [a.action for a in result.actions]

    load()
    assert spike_actions() == [
        "post_to_system",
        "threshold_alert",
        "flag_replenishment",
        "notify_role",
    ]
    shipped = RuleSetVersion.objects.get(ruleset__key="scrap-spike")
    # The board doubles the tolerance: the same scrap is no longer a spike.
    changed = shipped.source.replace(
        '> double(plant["scrap.spike_threshold_pct"])',
        '> 2.0 * double(plant["scrap.spike_threshold_pct"])',
    ).replace("window_qty: 6.0}", "window_qty: 11.0}")
    version = services.ruleset_version_create(source=changed, author=author)
    services.ruleset_version_submit(version=version, actor=author)
    assert spike_actions() == [
        "post_to_system",
        "threshold_alert",
        "flag_replenishment",
        "notify_role",
    ]
    services.ruleset_version_approve(version=version, approver=approver)
    services.ruleset_version_publish(version=version, actor=approver)
    assert spike_actions() == ["post_to_system"]
    assert "1 kept" in load()  # re-seeding does not undo the board's change
    assert spike_actions() == ["post_to_system"]


@pytest.mark.django_db
def test_loading_needs_two_board_members(board_users):
    with pytest.raises(CommandError, match="four eyes"):
        load(approver="board1")
    with pytest.raises(CommandError, match="must exist"):
        load(author="nobody")
