"""Replay with a chosen rule version, after a dry run (issue 8, item 6).

A published rule quarantines large releases; the board approves a version with a higher
limit. The operator dry-runs the quarantined event with that version (the difference is
shown, nothing changes), then replays it with the version pinned: the event is applied
under that version, the audit names the version and the operator, and the item leaves
the workbench."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from interlock.errors import Conflict, DomainError
from orchestrator.models import AuditRecord, Event, InboundMessage, ProductionOrder
from orchestrator.selectors_trace import trace_get, trace_timeline
from orchestrator.selectors_workbench import workbench_groups
from orchestrator.services.replay_version import (
    replay_version_choices,
    version_dry_run,
    version_replay,
)
from plants.choices import Role
from rules import services as rules
from tests.factories import make_member
from tests.factories_rules import approved, board, limit_doc, published
from tests.ingest.conftest import envelope, release
from tests.ingest.test_workbench import ingest

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limit():
    cache.clear()


@pytest.fixture
def setup(world):
    b1, b2 = board("board1"), board("board2")
    v1 = published(limit_doc(50), author=b1, approver=b2)
    message = ingest(world, envelope("production_order.released", release(), source="ERP"))
    assert message.status == "quarantined"
    assert message.reasons[0]["code"] == "rule_quarantine"
    v2 = approved(limit_doc(500, notify_over=50), author=b1, approver=b2)
    return {
        "v1": v1,
        "v2": v2,
        "board": (b1, b2),
        "message": message,
        "event": Event.objects.get(pk=message.event_id),
        "op": make_member(Role.OPERATOR, world["p1"], username="op-p1"),
        "op_p2": make_member(Role.OPERATOR, world["p2"], username="op-p2"),
    }


def test_dry_run_shows_the_difference_and_changes_nothing(setup):
    s = setup
    dry = version_dry_run(items=[s["message"]], version=s["v2"], actor=s["op"])
    [preview] = dry.previews
    assert preview.event == s["event"]
    assert preview.current.decision == "quarantined"
    assert preview.current.reasons[0]["code"] == "rule_quarantine"
    assert preview.current.versions == {"release-limit": "release-limit@1"}
    assert preview.chosen.decision == "applied"
    assert preview.chosen.versions == {"release-limit": "release-limit@2"}
    assert [a["action"] for a in preview.removed] == ["quarantine_event"]
    assert [a["action"] for a in preview.added] == ["notify_role"]
    assert dry.changed == 1
    assert dry.refused == []
    # A dry run is only a look.
    s["event"].refresh_from_db()
    assert s["event"].status == "quarantined"
    assert not ProductionOrder.objects.exists()
    assert not AuditRecord.objects.filter(transition__startswith="replay").exists()


def test_replay_runs_with_the_pinned_version_and_audits_it(setup, world):
    s = setup
    assert {g.kind for g in workbench_groups(user=s["op"])} == {"message", "event"}
    dry = version_dry_run(items=[s["message"]], version=s["v2"], actor=s["op"])
    _, done, refused = version_replay(
        items=[s["message"]],
        version=s["v2"],
        actor=s["op"],
        reason="limit raised by the board (v2)",
        fingerprint=dry.fingerprint,
    )
    assert refused == []
    [event] = done
    # Under the live version 1 the release would be quarantined again: it is applied
    # because version 2 judged it, and the event says so.
    assert event.status == "applied"
    assert event.rule_pins == {"release-limit": s["v2"].pk}
    assert ProductionOrder.objects.filter(number="WO-1001").exists()
    record = AuditRecord.objects.for_object(event).get(transition="replay_with_version")
    assert record.actor == s["op"]
    assert (record.source_state, record.target_state) == ("quarantined", "applied")
    assert "release-limit@2" in record.reason
    assert "limit raised by the board" in record.reason
    message = InboundMessage.objects.get(pk=s["message"].pk)
    assert message.status == "quarantined"  # kept as history
    assert message.handled_by == s["op"]
    assert "release-limit@2" in message.handled_reason
    # The original leaves the list (the message and its event).
    assert workbench_groups(user=s["op"]) == []
    # The trace shows the operator's step on the event and on its message.
    rows = trace_timeline(trace_get(correlation_id=event.correlation_id, user=s["op"]))
    human = [(r.what, r.who, r.kind) for r in rows if r.human]
    assert human == [("replay_with_version", "op-p1", "transition")] * 2
    # The version live at the plant is unchanged: the board publishes, not the operator.
    assert rules.live_versions(plant=world["p1"])["release-limit"] == s["v1"]


def test_replay_without_the_dry_run_seen_is_refused(setup):
    s = setup
    with pytest.raises(Conflict, match="dry run") as exc:
        version_replay(
            items=[s["event"]], version=s["v2"], actor=s["op"], reason="go", fingerprint="x"
        )
    assert exc.value.code == "dry_run_stale"
    # The dry run was of version 1 (no change): its fingerprint does not replay version 2.
    dry_v1 = version_dry_run(items=[s["event"]], version=s["v1"], actor=s["op"])
    assert dry_v1.changed == 0
    with pytest.raises(Conflict):
        version_replay(
            items=[s["event"]],
            version=s["v2"],
            actor=s["op"],
            reason="go",
            fingerprint=dry_v1.fingerprint,
        )
    s["event"].refresh_from_db()
    assert s["event"].status == "quarantined"


def test_replay_with_the_live_version_quarantines_again(setup):
    s = setup
    dry = version_dry_run(items=[s["event"]], version=s["v1"], actor=s["op"])
    _, [event], _ = version_replay(
        items=[s["event"]],
        version=s["v1"],
        actor=s["op"],
        reason="try",
        fingerprint=dry.fingerprint,
    )
    assert event.status == "quarantined"
    assert len(workbench_groups(user=s["op"])) == 2  # still needs attention


def test_only_governed_versions_of_the_plant_are_offered_and_accepted(setup, world):
    s = setup
    b1, b2 = s["board"]
    draft = rules.ruleset_version_create(source=limit_doc(1000), author=b1)
    p2_admin = make_member(Role.PLANT_ADMIN, world["p2"], username="padmin-p2")
    other_plant = approved(limit_doc(900), author=p2_admin, approver=b2, plant=world["p2"])
    choices = replay_version_choices(items=[s["event"]], actor=s["op"])
    assert [v.label for v in choices] == ["release-limit@2", "release-limit@1"]
    for version, words in ((draft, "four eyes"), (other_plant, "another plant")):
        dry = version_dry_run(items=[s["event"]], version=version, actor=s["op"])
        assert dry.previews == []
        assert words in dry.refused[0]
        with pytest.raises(DomainError):
            version_replay(
                items=[s["event"]],
                version=version,
                actor=s["op"],
                reason="x",
                fingerprint=dry.fingerprint,
            )


def test_what_a_version_cannot_decide_is_refused_with_the_reason(setup, world):
    s = setup
    from tests.ingest.test_workbench import quarantined_release

    unmapped = quarantined_release(world, "WO-2")
    dry = version_dry_run(items=[unmapped, s["event"]], version=s["v2"], actor=s["op"])
    assert len(dry.previews) == 1
    assert "stopped before the rules (mapping_missing)" in dry.refused[0]
    # Another plant's operator may not even dry-run it.
    other = version_dry_run(items=[s["event"]], version=s["v2"], actor=s["op_p2"])
    assert other.previews == []
    assert "may not" in other.refused[0]


# --- over the API and in the admin -------------------------------------------------------------
def test_dry_run_and_replay_over_the_api(setup, api_client):
    s = setup
    event = s["event"]
    api_client.force_authenticate(s["op"])
    choices = api_client.get(f"/api/v1/workbench/replay-versions?events={event.pk}")
    assert choices.status_code == 200
    assert [c["label"] for c in choices.json()] == ["release-limit@2", "release-limit@1"]

    body = {"messages": [s["message"].pk], "version": s["v2"].pk}
    dry = api_client.post("/api/v1/workbench/version-dry-run", body, format="json")
    assert dry.status_code == 200, dry.content
    data = dry.json()
    assert data["changed"] == 1
    [row] = data["events"]
    assert (row["event"], row["changed"]) == (event.pk, True)
    assert (row["current"]["decision"], row["chosen"]["decision"]) == ("quarantined", "applied")
    assert [a["action"] for a in row["added"]] == ["notify_role"]

    missing = api_client.post(
        "/api/v1/workbench/version-replay", {**body, "reason": "v2"}, format="json"
    )
    assert missing.status_code == 400  # no fingerprint: no replay without the dry run
    stale = {**body, "reason": "v2", "fingerprint": "0" * 32}
    assert (
        api_client.post("/api/v1/workbench/version-replay", stale, format="json").status_code == 409
    )
    done = api_client.post(
        "/api/v1/workbench/version-replay",
        {**body, "reason": "limit raised (v2)", "fingerprint": data["fingerprint"]},
        format="json",
    )
    assert done.status_code == 200, done.content
    assert [e["status"] for e in done.json()["replayed"]] == ["applied"]
    assert (
        AuditRecord.objects.for_object(event).get(transition="replay_with_version").actor
        == (s["op"])
    )

    # Another plant's operator does not even see the event; an auditor may not replay.
    api_client.force_authenticate(s["op_p2"])
    assert api_client.post(
        "/api/v1/workbench/version-dry-run", body, format="json"
    ).status_code == (404)


def test_the_admin_page_dry_runs_then_replays(setup, client):
    s = setup
    client.force_login(s["op"])
    page = client.get(f"/admin/orchestrator/event/{s['event'].pk}/change/").content.decode()
    assert "Replay with a rule version" in page
    url = f"/admin/orchestrator/inboundmessage/workbench/replay-with-version/?event={s['event'].pk}"
    picker = client.get(url).content.decode()
    assert "release-limit@2" in picker
    assert "Dry run with" not in picker
    dry_url = f"{url}&version={s['v2'].pk}"
    dry = client.get(dry_url)
    text = dry.content.decode()
    assert "1 of 1 event would come out differently" in text
    fingerprint = dry.context["dry"].fingerprint
    assert client.post(dry_url, {"fingerprint": fingerprint, "reason": ""}).status_code == 200
    s["event"].refresh_from_db()
    assert s["event"].status == "quarantined"  # no reason, no replay
    response = client.post(dry_url, {"fingerprint": fingerprint, "reason": "board raised it"})
    assert response.status_code == 302
    s["event"].refresh_from_db()
    assert (s["event"].status, s["event"].rule_pins) == ("applied", {"release-limit": s["v2"].pk})
