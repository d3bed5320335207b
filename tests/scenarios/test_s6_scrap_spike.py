"""Scenario 6 (scrap spike): scrap of one item on one line of a plant, summed over the
plant's sliding window, over the plant's threshold alerts quality and maintenance and
flags the replenishment plan in the ERP's planning (through the outbox); the window is
per line and item, and a board edit of the threshold in the pack changes the outcome."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from orchestrator.models import AuditRecord, Event, Notification, OutboxMessage, Task
from orchestrator.services.audit_chain import audit_verify
from rules import services as rule_services
from rules.choices import VersionState
from rules.models import RuleSetVersion
from tests.scenarios.plant_world import deliver, demo, envelope, erp, ledger, post, release

__all__ = ["demo", "erp"]
pytestmark = pytest.mark.django_db

GOOD = 100  # good quantity the last operation confirms: the threshold's base


def _confirmed(api_client, demo, erp) -> str:
    order = release(api_client, demo, erp, "P1")["order"]
    confirmation = envelope(
        "P1",
        "operation.confirmed",
        {"order": order, "operation": "0020", "sequence": 1, "qty": GOOD, "uom": "EA"},
        source="MES-P1",
    )
    assert [r["status"] for r in post(api_client, demo["MES-P1"], [confirmation])] == ["accepted"]
    return order


def _scrap(api_client, demo, order: str, operation: str, qty: int, minutes_ago: int) -> Event:
    """A scrap declaration (the MES's idempotency bucket is a minute: one per minute)."""
    body = {"order": order, "operation": operation, "qty": qty, "uom": "EA", "reason": "S01-GRAT"}
    at = timezone.now() - dt.timedelta(minutes=minutes_ago)
    [result] = post(
        api_client,
        demo["MES-P1"],
        [envelope("P1", "scrap.declared", body, source="MES-P1", at=at)],
    )
    assert result["status"] == "accepted", result
    return Event.objects.get(pk=result["event_id"])


def _alerts(event: Event) -> set[tuple[str, str]]:
    return set(Notification.objects.filter(event=event).values_list("kind", "role"))


@pytest.mark.scenario
def test_scenario_6_a_scrap_spike_on_one_line_alerts_and_flags_the_replenishment_plan(
    demo, erp, api_client
):
    order = _confirmed(api_client, demo, erp)
    # P1: threshold 5 % of the good quantity (default), window 30 min (P1's override).
    first = _scrap(api_client, demo, order, "0010", 3, 10)  # press line: 3 %
    other_line = _scrap(api_client, demo, order, "0020", 3, 8)  # assembly line: 3 % of its own
    assert _alerts(first) == _alerts(other_line) == set()
    assert (first.explanation["rulesets"][0]["ruleset"], other_line.status) == (
        "order-to-receipt",
        "applied",
    )
    spike = _scrap(api_client, demo, order, "0010", 4, 6)  # press line: 7 % in the window
    assert _alerts(spike) == {
        ("threshold_alert", "quality_lead"),
        ("threshold_alert", "maintenance"),
        ("notify", "planning"),
    }
    # Each alert is a task in the inbox of the people holding the role at P1.
    assert set(Task.objects.filter(event=spike).values_list("role", "kind", "plant__code")) == {
        ("quality_lead", "investigate", "P1"),
        ("maintenance", "investigate", "P1"),
        ("planning", "review", "P1"),
    }
    assert not Task.objects.exclude(event=spike).exists()
    flag = OutboxMessage.objects.get(event=spike, message_type="replenishment.flag")
    assert (flag.payload["line"], flag.payload["item"], flag.payload["window_qty"]) == (
        "P1-PRESS-01",
        "FG-1000",
        7.0,
    )

    deliver("ERP")
    [flagged] = ledger(erp, "replenishment.flag", "P1")
    assert flagged["payload"]["line"] == "P1-PRESS-01"
    assert flagged["correlation_id"] == spike.correlation_id
    assert len(ledger(erp, "scrap", "P1")) == 3  # every declaration posted, once
    worklist = erp.extra_routes("GET", ["_planning"], {"plant": "P1"}).body["planning"]
    # In the plant's own code: the outbound mapping translated FG-1000 for the ERP.
    assert [(w["type"], w["subject"]) for w in worklist] == [
        ("replenishment.flag", "000000000010001000")
    ]
    # The audit chain: the order's run is recorded, and the chain verifies.
    assert AuditRecord.objects.filter(object_repr__contains=order).exists()
    assert audit_verify().ok


def test_a_spike_that_goes_on_is_one_open_task_per_role_until_someone_completes_it(
    demo, erp, api_client
):
    """The pack's ``once_per: [line, window_item]``: every further declaration over the
    threshold is recorded (a notification each), but a person gets one task per line and
    item while it is open; once completed, the next spike opens a new one."""
    from orchestrator.services.tasks import task_complete_by_system

    order = _confirmed(api_client, demo, erp)
    spike = _scrap(api_client, demo, order, "0010", 7, 6)  # press line: 7 %
    again = _scrap(api_client, demo, order, "0010", 1, 5)  # 8 %, same line and item
    assert _alerts(again) == _alerts(spike) != set()
    assert set(Task.objects.values_list("event_id", "role")) == {
        (spike.pk, "quality_lead"),
        (spike.pk, "maintenance"),
        (spike.pk, "planning"),
    }
    other_line = _scrap(api_client, demo, order, "0020", 9, 4)  # assembly: its own spike
    assert set(Task.objects.filter(event=other_line).values_list("role", flat=True)) == {
        "quality_lead",
        "maintenance",
        "planning",
    }
    quality = Task.objects.get(event=spike, role="quality_lead")
    task_complete_by_system(task=quality, outcome="done", comment="die changed on the press")
    later = _scrap(api_client, demo, order, "0010", 1, 3)  # still over the threshold
    assert set(Task.objects.filter(event=later).values_list("role", flat=True)) == {"quality_lead"}


def test_a_board_edit_of_the_spike_threshold_changes_the_outcome(demo, erp, api_client):
    users = get_user_model().objects
    author, approver = users.get(username="board1"), users.get(username="board2")
    live = RuleSetVersion.objects.get(ruleset__key="scrap-spike", state=VersionState.PUBLISHED)
    draft = rule_services.ruleset_version_new_draft(version=live, author=author)
    old = '> double(plant["scrap.spike_threshold_pct"])'
    source = live.source.replace(old, '> 2.0 * double(plant["scrap.spike_threshold_pct"])')
    # Its embedded example changes with it: 6 % is no spike any more at 5 %.
    source = source.replace(
        "expect: {actions: [threshold_alert, flag_replenishment, notify_role]}",
        "expect: {actions: []}",
    )
    draft = rule_services.ruleset_version_update(version=draft, source=source, actor=author)
    rule_services.ruleset_version_submit(version=draft, actor=author)
    rule_services.ruleset_version_approve(version=draft, approver=approver, comment="tolerate")
    rule_services.ruleset_version_publish(version=draft, actor=approver)

    order = _confirmed(api_client, demo, erp)
    seven = _scrap(api_client, demo, order, "0010", 7, 10)  # 7 %: a spike before the edit
    assert _alerts(seven) == set()
    assert seven.rule_pins["scrap-spike"] == draft.pk
    eleven = _scrap(api_client, demo, order, "0010", 4, 6)  # 11 % > 2 × 5 %
    assert ("threshold_alert", "quality_lead") in _alerts(eleven)
    assert not OutboxMessage.objects.filter(event=seven, message_type="replenishment.flag")
    assert OutboxMessage.objects.filter(event=eleven, message_type="replenishment.flag").exists()
