"""Simulation: a draft run over a plant's stored events, compared with what is live there."""

from __future__ import annotations

import datetime as dt

import pytest

from interlock.errors import DomainError, NotAllowed
from plants.choices import Role
from rules import services
from rules.choices import DecisionKind
from rules.models import SimulationReport
from rules.simulation import SimEvent, register_event_source
from tests.factories import make_member
from tests.factories_rules import board, published

pytestmark = pytest.mark.django_db


def gate_doc(*, qty: float, scrap: float) -> str:
    """Two rules: big confirmations hold the goods receipt; scrap notifies quality."""
    return f"""\
schema: interlock/ruleset/v1
ruleset: receipt-gate
rules:
  - id: big_confirmation
    description: Large confirmations hold the goods receipt
    owner: governance-board
    on: [operation.confirmed]
    when: event.qty > {qty}
    then:
      - action: hold_gate
        params: {{gate: goods_receipt}}
  - id: scrap_note
    description: Scrap is reported to quality
    owner: quality
    on: [operation.confirmed]
    when: event.scrap_qty > {scrap}
    then:
      - action: notify_role
        params: {{role: quality_lead, message: scrap reported}}
tests:
  - name: a large confirmation holds the gate
    event_type: operation.confirmed
    event: {{qty: {qty + 1}, scrap_qty: 0.0}}
    expect: {{actions: [hold_gate]}}
"""


T0 = dt.datetime(2026, 5, 10, 8, 0, tzinfo=dt.UTC)


def confirmation(n: int, qty: float, scrap: float) -> SimEvent:
    event = {
        "qty": qty,
        "scrap_qty": scrap,
        "occurred_at": (T0 + dt.timedelta(hours=n)).isoformat(),
    }
    return SimEvent(f"e{n}", "operation.confirmed", {"event": event})


#: A prepared history. Live: hold over 100, notify over 0 scrap. Draft: hold over 50,
#: notify over 5 scrap. The comment says what the draft changes.
HISTORY = [
    confirmation(1, 20.0, 0.0),  # nothing either way
    confirmation(2, 70.0, 0.0),  # +hold_gate
    confirmation(3, 80.0, 0.0),  # +hold_gate
    confirmation(4, 150.0, 0.0),  # hold either way
    confirmation(5, 20.0, 2.0),  # -notify_role
    confirmation(6, 60.0, 2.0),  # +hold_gate, -notify_role
    confirmation(7, 20.0, 9.0),  # notify either way
    SimEvent("e8", "scrap.declared", {"event": {"qty": 5.0}}),  # no rule for this type
]


@pytest.fixture
def draft(plant_p1):
    alice, bob = board("alice"), board("bob")
    published(gate_doc(qty=100.0, scrap=0.0), author=alice, approver=bob)
    return services.ruleset_version_create(source=gate_doc(qty=50.0, scrap=5.0), author=alice)


@pytest.fixture
def event_log():
    """Registers a fake event log (the orchestrator registers the real one)."""
    calls = []

    def source(*, plant, last_n, since, until):
        calls.append({"plant": plant.code, "last_n": last_n, "since": since, "until": until})
        return [(e.event_id, e.event_type, e.context) for e in reversed(HISTORY)]

    previous = register_event_source(source)
    yield calls
    register_event_source(previous)


def groups(report, name):
    return {g["key"]: (g["events"], sorted(g["examples"])) for g in report.summary[name]}


def test_simulation_reports_which_events_change_grouped_and_counted(draft, plant_p1):
    report = services.ruleset_version_simulate(
        version=draft, plant=plant_p1, actor=board("bob"), events=HISTORY
    )
    assert (report.events_evaluated, report.events_changed) == (8, 4)
    assert report.summary["unchanged"] == 4
    assert report.baseline.number == 1
    assert report.summary["baseline"] == "receipt-gate@1"
    assert groups(report, "by_action") == {
        "+hold_gate": (3, ["e2", "e3", "e6"]),
        "-notify_role": (2, ["e5", "e6"]),
    }
    assert groups(report, "by_rule") == {
        "big_confirmation": (3, ["e2", "e3", "e6"]),
        "scrap_note": (2, ["e5", "e6"]),
    }
    assert groups(report, "by_event_type") == {"operation.confirmed": (4, ["e2", "e3", "e5", "e6"])}
    [e6] = [c for c in report.changes if c["event_id"] == "e6"]
    assert [a["action"] for a in e6["added"]] == ["hold_gate"]
    assert [a["rule"] for a in e6["removed"]] == ["scrap_note"]
    assert (e6["actions"], e6["baseline_actions"]) == (["hold_gate"], ["notify_role"])
    # Stored, and the decision trail says it ran.
    assert SimulationReport.objects.get().version == draft
    decision = draft.decisions.get(kind=DecisionKind.SIMULATE)
    assert "4 of 8 events would change" in decision.text


def test_the_baseline_is_what_is_live_at_that_plant(draft, plant_p1, plant_p2):
    # P2 runs a canary identical to the draft: nothing would change there.
    published(
        gate_doc(qty=50.0, scrap=5.0),
        author=board("carol"),
        approver=board("bob"),
        plants=[plant_p2],
    )
    at_p2 = services.ruleset_version_simulate(version=draft, plant=plant_p2, events=HISTORY)
    at_p1 = services.ruleset_version_simulate(version=draft, plant=plant_p1, events=HISTORY)
    assert (at_p2.baseline.number, at_p2.events_changed) == (3, 0)
    assert (at_p1.baseline.number, at_p1.events_changed) == (1, 4)


def test_a_new_rule_set_is_compared_with_nothing_and_errors_are_changes(plant_p1):
    version = services.ruleset_version_create(
        source=gate_doc(qty=50.0, scrap=5.0), author=board("alice")
    )
    events = [*HISTORY, SimEvent("bad", "operation.confirmed", {"event": {"scrap_qty": 0.0}})]
    report = services.ruleset_version_simulate(version=version, plant=plant_p1, events=events)
    assert report.baseline is None
    assert groups(report, "by_action") == {
        "+hold_gate": (4, ["e2", "e3", "e4", "e6"]),
        "+notify_role": (1, ["e7"]),
        "+error big_confirmation": (1, ["bad"]),
    }
    [bad] = [c for c in report.changes if c["event_id"] == "bad"]
    assert "big_confirmation" in bad["error"]
    assert bad["baseline_error"] is None


def test_the_registered_event_source_supplies_the_last_n_events(draft, plant_p1, event_log):
    report = services.ruleset_version_simulate(version=draft, plant=plant_p1, last_n=3)
    assert event_log == [{"plant": "P1", "last_n": 3, "since": None, "until": None}]
    # The source answers newest first: e8, e7, e6 — only e6 changes.
    assert (report.events_evaluated, report.events_changed) == (3, 1)
    assert report.last_n == 3


def test_a_time_window_limits_the_events(draft, plant_p1, event_log):
    report = services.ruleset_version_simulate(
        version=draft,
        plant=plant_p1,
        last_n=None,
        since=T0 + dt.timedelta(hours=2),
        until=T0 + dt.timedelta(hours=5),
    )
    assert event_log[0]["since"] == T0 + dt.timedelta(hours=2)
    assert (report.events_evaluated, report.events_changed) == (4, 3)  # e2..e5; e4 unchanged


def test_without_an_event_source_simulation_says_so(draft, plant_p1):
    previous = register_event_source(None)
    try:
        with pytest.raises(DomainError) as info:
            services.ruleset_version_simulate(version=draft, plant=plant_p1)
    finally:
        register_event_source(previous)
    assert info.value.code == "no_event_source"


def test_plant_admin_cannot_simulate_global_versions(draft, plant_p1):
    padmin = make_member(Role.PLANT_ADMIN, plant_p1, username="padmin")
    with pytest.raises(NotAllowed):
        services.ruleset_version_simulate(version=draft, plant=plant_p1, actor=padmin, events=[])


def test_simulate_over_the_api(api_client, draft, plant_p1, event_log):
    api_client.force_authenticate(board("bob"))
    url = f"/api/v1/rules/versions/{draft.pk}/simulate"
    response = api_client.post(url, {"plant": "P1", "last_n": 100}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["events_evaluated"], body["events_changed"]) == (8, 4)
    assert body["baseline"] == "receipt-gate@1"
    assert {g["key"]: g["events"] for g in body["summary"]["by_action"]} == {
        "+hold_gate": 3,
        "-notify_role": 2,
    }
    listed = api_client.get(url).json()
    assert [r["id"] for r in listed] == [body["id"]]
