"""The operator's exception workbench: fix-and-replay, discard with a reason, who may do it.

Handlers are not what is tested here: where an event must be quarantined first and
applicable after a fix, a stand-in handler for the event type plays that part.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from interlock.errors import NotAllowed
from orchestrator.ingest import handlers
from orchestrator.ingest.normalize import Reason
from orchestrator.ingest.pipeline import ingest_batch, principal_for
from orchestrator.models import AuditRecord, Event, EventStatus, InboundMessage
from orchestrator.services.replay import (
    NotReplayable,
    event_discard,
    event_replay,
    message_discard,
    message_replay,
)
from plants.choices import Role
from plants.models import Item, ItemMapping
from tests.factories import ItemFactory, make_member
from tests.ingest.conftest import DAY, envelope, release

pytestmark = pytest.mark.django_db

UNMAPPED = "000000000000009999"
MESSAGES = "/admin/orchestrator/inboundmessage/"
EVENTS = "/admin/orchestrator/event/"


@pytest.fixture
def people(world):
    p1, p2 = world["p1"], world["p2"]
    return {
        "operator": make_member(Role.OPERATOR, p1, username="op-p1"),
        "operator_p2": make_member(Role.OPERATOR, p2, username="op-p2"),
        "auditor": make_member(Role.AUDITOR, None, username="auditor"),
        "plant_admin": make_member(Role.PLANT_ADMIN, p1, username="padmin-p1"),
    }


def ingest(world, body, system="erp"):
    result = ingest_batch(principal=principal_for(world[system]), envelopes=[body])[0]
    return InboundMessage.objects.get(pk=result.message_id)


def quarantined_release(world, order="WO-1001", item=UNMAPPED, **extra):
    body = envelope("production_order.released", release(order, item=item), source="ERP", **extra)
    message = ingest(world, body)
    assert message.status == "quarantined"
    assert message.reasons[0]["code"] == "mapping_missing"
    return message


def add_mapping_as_plant_admin(client, world, person, capture):
    """The fix: the plant admin adds the missing item mapping through the admin (the
    commit's callbacks run, as in production: they invalidate the mapping cache)."""
    item = ItemFactory(code="FG-9999", base_uom=Item.objects.get(code="FG-1000").base_uom)
    client.force_login(person)
    with capture(execute=True):
        response = client.post(
            reverse("admin:plants_itemmapping_add"),
            {
                "plant": world["p1"].pk,
                "plant_code": UNMAPPED,
                "item": item.pk,
                "revision": "",
                "valid_from": DAY.isoformat(),
                "valid_to": "",
                "note": "was missing",
            },
        )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert ItemMapping.objects.filter(plant=world["p1"], plant_code=UNMAPPED).exists()
    client.logout()


def add_mapping(world, capture):
    with capture(execute=True):
        ItemMapping.objects.create(
            plant=world["p1"], plant_code=UNMAPPED, item=ItemFactory(code="FG-9999"), valid_from=DAY
        )


# --- fix and replay -----------------------------------------------------------------------
def test_unmapped_code_then_mapping_added_then_operator_replays_is_accepted(
    world, people, client, django_capture_on_commit_callbacks
):
    original = quarantined_release(world)
    add_mapping_as_plant_admin(
        client, world, people["plant_admin"], django_capture_on_commit_callbacks
    )

    client.force_login(people["operator"])
    listing = client.get(MESSAGES)
    assert listing.status_code == 200
    assert f"{MESSAGES}{original.pk}/change/" in listing.content.decode()  # on the default list
    response = client.post(
        MESSAGES, {"action": "replay_selected", "_selected_action": [original.pk]}, follow=True
    )
    assert response.status_code == 200

    replay = InboundMessage.objects.get(replay_of=original)
    assert replay.status == "accepted"
    assert replay.handled_by == people["operator"]
    assert replay.correlation_id == original.correlation_id
    assert replay.body["payload"] == original.body["payload"]  # the stored body, unchanged
    event = Event.objects.get(pk=replay.event_id)
    assert event.payload["item"] == "FG-9999"
    original.refresh_from_db()
    assert original.status == "quarantined"  # history stays as it was
    assert original.handled_by == people["operator"]
    assert f"replayed as message {replay.pk}: accepted" in original.handled_reason
    record = AuditRecord.objects.get(transition="replay")
    assert (record.actor, record.object_id, record.target_state) == (
        people["operator"],
        str(original.pk),
        "accepted",
    )
    assert record.correlation_id == original.correlation_id
    # Handled: off the default list, still there under "all".
    assert f"{MESSAGES}{original.pk}/change/" not in client.get(MESSAGES).content.decode()
    assert (
        f"{MESSAGES}{original.pk}/change/" in client.get(MESSAGES + "?status=all").content.decode()
    )
    # A second replay is refused rather than queued again.
    with pytest.raises(NotReplayable):
        message_replay(message=original, actor=people["operator"])


def test_replay_before_the_fix_is_quarantined_again_and_stays_open(
    world, people, django_capture_on_commit_callbacks
):
    original = quarantined_release(world)
    replay = message_replay(message=original, actor=people["operator"])
    assert replay.status == "quarantined"
    assert replay.replay_of_id == original.pk
    assert Event.objects.count() == 0
    # Not resolved, so it may be replayed again after the fix.
    add_mapping(world, django_capture_on_commit_callbacks)
    again = message_replay(message=original, actor=people["operator"])
    assert again.status == "accepted", again.reasons


def test_replay_and_discard_over_the_api(
    world, people, api_client, django_capture_on_commit_callbacks
):
    original = quarantined_release(world)
    add_mapping(world, django_capture_on_commit_callbacks)
    api_client.force_authenticate(people["operator"])
    response = api_client.post(f"/api/v1/messages/{original.pk}/replay")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "accepted"
    assert body["replay_of"] == original.pk
    assert body["handled_by"] == "op-p1"

    other = quarantined_release(world, order="WO-2002", item="000000000000008888")
    assert api_client.post(f"/api/v1/messages/{other.pk}/discard", {}).status_code == 400
    response = api_client.post(
        f"/api/v1/messages/{other.pk}/discard", {"reason": "order cancelled in ERP"}
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "discarded"
    again = api_client.post(f"/api/v1/messages/{other.pk}/discard", {"reason": "twice"})
    assert again.status_code == 409


def test_discard_records_who_and_why_and_is_audited(world, people):
    message = quarantined_release(world)
    message_discard(message=message, actor=people["operator"], reason="test order, never real")
    message.refresh_from_db()
    assert message.status == "discarded"
    assert message.handled_by == people["operator"]
    assert message.handled_reason == "test order, never real"
    record = AuditRecord.objects.get(transition="discard")
    assert (record.source_state, record.target_state) == ("quarantined", "discarded")
    assert (record.actor_label, record.reason) == ("op-p1", "test order, never real")
    assert record.plant_id == world["p1"].pk
    with pytest.raises(NotReplayable):  # discarded is final
        message_replay(message=message, actor=people["operator"])


def test_discard_needs_a_reason(world, people):
    from interlock.errors import DomainError

    message = quarantined_release(world)
    with pytest.raises(DomainError, match="why"):
        message_discard(message=message, actor=people["operator"], reason="   ")
    message.refresh_from_db()
    assert message.status == "quarantined"


def test_accepted_messages_are_not_replayed(world, people):
    message = ingest(world, envelope("production_order.released", release(), source="ERP"))
    assert message.status == "accepted"
    with pytest.raises(NotReplayable):
        message_replay(message=message, actor=people["operator"])


# --- who may -------------------------------------------------------------------------------
def test_operator_of_another_plant_cannot_replay_or_discard(world, people, client, api_client):
    message = quarantined_release(world)
    p2 = people["operator_p2"]
    with pytest.raises(NotAllowed):
        message_replay(message=message, actor=p2)
    with pytest.raises(NotAllowed):
        message_discard(message=message, actor=p2, reason="not mine")
    api_client.force_authenticate(p2)
    assert api_client.post(f"/api/v1/messages/{message.pk}/replay").status_code == 404
    client.force_login(p2)
    assert client.get(MESSAGES).status_code == 200
    assert (
        f"{MESSAGES}{message.pk}/change/"
        not in client.get(MESSAGES + "?status=all").content.decode()
    )
    assert client.post(f"{MESSAGES}{message.pk}/replay/").status_code == 404
    # A forged action POST with P1's id finds nothing in P2's scope.
    client.post(MESSAGES, {"action": "replay_selected", "_selected_action": [message.pk]})
    assert not InboundMessage.objects.filter(replay_of=message).exists()
    message.refresh_from_db()
    assert (message.status, message.handled_by) == ("quarantined", None)


def test_auditor_sees_but_cannot_replay_or_discard(world, people, client, api_client):
    message = quarantined_release(world)
    auditor = people["auditor"]
    with pytest.raises(NotAllowed):
        message_replay(message=message, actor=auditor)
    api_client.force_authenticate(auditor)
    assert api_client.post(f"/api/v1/messages/{message.pk}/replay").status_code == 403
    assert (
        api_client.post(f"/api/v1/messages/{message.pk}/discard", {"reason": "x"}).status_code
        == 403
    )
    client.force_login(auditor)
    page = client.get(f"{MESSAGES}{message.pk}/change/")
    assert page.status_code == 200
    assert "workbench-replay" not in page.content.decode()  # no button
    listing = client.get(MESSAGES)
    assert "replay_selected" not in listing.content.decode()  # no action offered
    assert client.post(f"{MESSAGES}{message.pk}/replay/").status_code == 403
    assert not InboundMessage.objects.filter(replay_of=message).exists()
    assert not AuditRecord.objects.exists()


def test_connected_systems_cannot_use_the_workbench(world, api_client):
    message = quarantined_release(world)
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {world['erp_key']}")
    assert api_client.post(f"/api/v1/messages/{message.pk}/replay").status_code == 403


# --- the admin pages ---------------------------------------------------------------------------
def test_message_page_shows_reasons_table_pretty_body_and_trace_link(world, people, client):
    message = quarantined_release(world)
    client.force_login(people["operator"])
    page = client.get(f"{MESSAGES}{message.pk}/change/").content.decode()
    assert '<table class="workbench-reasons">' in page
    assert "<td>mapping_missing</td><td>payload.item</td>" in page
    assert '<pre class="workbench-json"' in page
    assert f"&quot;item&quot;: &quot;{UNMAPPED}&quot;" in page  # indented JSON, escaped
    assert reverse("admin:orchestrator_inboundmessage_trace", args=[message.correlation_id]) in page
    assert "workbench-replay" in page
    assert "workbench-discard" in page


def test_default_list_is_what_needs_attention(world, people, client):
    accepted = ingest(world, envelope("production_order.released", release(), source="ERP"))
    quarantined = quarantined_release(world, order="WO-2")
    client.force_login(people["operator"])
    page = client.get(MESSAGES).content.decode()
    assert f"{MESSAGES}{quarantined.pk}/change/" in page
    assert f"{MESSAGES}{accepted.pk}/change/" not in page
    page = client.get(MESSAGES + "?status=accepted").content.decode()
    assert f"{MESSAGES}{accepted.pk}/change/" in page
    assert f"{MESSAGES}{quarantined.pk}/change/" not in page
    found = client.get(MESSAGES, {"status": "all", "q": accepted.correlation_id}).content.decode()
    assert f"{MESSAGES}{accepted.pk}/change/" in found
    assert f"{MESSAGES}{quarantined.pk}/change/" not in found


def test_discard_action_asks_for_a_reason_then_discards(world, people, client):
    message = quarantined_release(world)
    client.force_login(people["operator"])
    form = client.post(MESSAGES, {"action": "discard_selected", "_selected_action": [message.pk]})
    assert form.status_code == 200
    assert 'name="reason"' in form.content.decode()
    message.refresh_from_db()
    assert message.status == "quarantined"
    client.post(
        MESSAGES,
        {
            "action": "discard_selected",
            "_selected_action": [message.pk],
            "apply": "1",
            "reason": "sent to the wrong plant",
        },
    )
    message.refresh_from_db()
    assert (message.status, message.handled_reason) == ("discarded", "sent to the wrong plant")


# --- events ----------------------------------------------------------------------------------
@pytest.fixture
def flaky_handler(monkeypatch):
    """Quarantines ``production_order.released`` until ``state["fixed"]``."""
    state = {"fixed": False, "calls": 0}

    def handler(ctx, event):
        state["calls"] += 1
        if state["fixed"]:
            ctx.applied(event)
        else:
            ctx.quarantine(
                event,
                [Reason(code="lot_blocked", path="payload.lot", message="lot L-1 is blocked")],
            )
        return None

    monkeypatch.setitem(handlers.HANDLERS, "production_order.released", handler)
    return state


def test_quarantined_event_is_reapplied_after_the_fix(world, people, flaky_handler, client):
    message = ingest(world, envelope("production_order.released", release(), source="ERP"))
    event = Event.objects.get(pk=message.event_id)
    assert event.status == EventStatus.QUARANTINED
    client.force_login(people["operator"])
    assert f"{EVENTS}{event.pk}/change/" in client.get(EVENTS).content.decode()

    flaky_handler["fixed"] = True
    response = client.post(f"{EVENTS}{event.pk}/replay/")
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.status == EventStatus.APPLIED
    assert event.reasons == []
    assert Event.objects.count() == 1  # the same event, not a new one
    record = AuditRecord.objects.get(transition="replay")
    assert (record.source_state, record.target_state, record.actor) == (
        "quarantined",
        "applied",
        people["operator"],
    )
    with pytest.raises(NotReplayable):  # applied now: nothing to re-apply
        event_replay(event=event, actor=people["operator"])


def test_event_discard_and_permissions(world, people, flaky_handler, api_client):
    message = ingest(world, envelope("production_order.released", release(), source="ERP"))
    event = Event.objects.get(pk=message.event_id)
    with pytest.raises(NotAllowed):
        event_replay(event=event, actor=people["operator_p2"])
    with pytest.raises(NotAllowed):
        event_discard(event=event, actor=people["auditor"], reason="no")
    api_client.force_authenticate(people["operator_p2"])
    assert api_client.post(f"/api/v1/events/{event.pk}/replay").status_code == 404
    api_client.force_authenticate(people["operator"])
    response = api_client.post(f"/api/v1/events/{event.pk}/discard", {"reason": "duplicate order"})
    assert response.status_code == 200, response.json()
    event.refresh_from_db()
    assert event.status == EventStatus.DISCARDED
    assert event.reasons[-1] == {
        "code": "discarded",
        "path": "",
        "message": "duplicate order",
        "found": "op-p1",
    }
    assert AuditRecord.objects.get(transition="discard").reason == "duplicate order"
    assert api_client.post(f"/api/v1/events/{event.pk}/replay").status_code == 409
