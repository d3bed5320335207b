"""The trace of a correlation id shows every stage, and only at the caller's plants.

Transitions and gates are made here directly (a lot blocked under the correlation id, a
gate on the released order), so the trace is tested whatever the handlers do.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from orchestrator.ingest.pipeline import ingest_batch, principal_for
from orchestrator.models import Event, Gate, InboundMessage, ProductionOrder
from orchestrator.services.lifecycle import transition_apply
from orchestrator.services.replay import message_discard, message_replay
from plants.choices import Role
from tests.factories import ConnectedSystemFactory, issue_api_key, make_member
from tests.factories_orchestrator import LotFactory, ProductionOrderFactory
from tests.ingest.conftest import envelope, release

pytestmark = pytest.mark.django_db

ACC, DUP, BAD = "trace-accepted", "trace-duplicate", "trace-quarantined"


def ingest(world, body):
    result = ingest_batch(principal=principal_for(world["erp"]), envelopes=[body])[0]
    return InboundMessage.objects.get(pk=result.message_id)


@pytest.fixture
def chain(world):
    """An accepted release, a duplicate of it under another id, a quarantined one; a lot
    blocked and gates on the order and the lot under the accepted one's id."""
    p1 = world["p1"]
    accepted = ingest(
        world, envelope("production_order.released", release(), source="ERP", correlation_id=ACC)
    )
    duplicate = ingest(
        world, envelope("production_order.released", release(), source="ERP", correlation_id=DUP)
    )
    quarantined = ingest(
        world,
        envelope(
            "production_order.released",
            release("WO-2002", item="NOPE"),
            source="ERP",
            correlation_id=BAD,
        ),
    )
    order = ProductionOrder.objects.filter(plant=p1, number="WO-1001").first()
    order = order or ProductionOrderFactory(plant=p1, number="WO-1001")
    lot = LotFactory(plant=p1, number="L-TRACE")
    transition_apply(obj=lot, transition="block", actor="system:ERP", correlation_id=ACC)
    Gate.objects.create(plant=p1, kind="trace_order", order=order, waits_for="inspection INS-77")
    Gate.objects.create(plant=p1, kind="trace_lot", lot=lot, waits_for="release of L-TRACE")
    Gate.objects.create(
        plant=p1,
        kind="trace_other",
        order=ProductionOrderFactory(plant=p1, number="WO-OTHER"),
        waits_for="nothing of ours",
    )
    return {"accepted": accepted, "duplicate": duplicate, "quarantined": quarantined, "lot": lot}


def get(api_client, user, cid):
    api_client.force_authenticate(user)
    return api_client.get(f"/api/v1/trace/{cid}")


@pytest.fixture
def operator(world):
    return make_member(Role.OPERATOR, world["p1"], username="op-p1")


def test_accepted_message_shows_every_stage(world, chain, operator, api_client):
    response = get(api_client, operator, ACC)
    assert response.status_code == 200, response.json()
    trace = response.json()
    event = Event.objects.get(pk=chain["accepted"].event_id)

    [message] = trace["messages"]
    assert message["id"] == chain["accepted"].pk
    assert message["status"] == "accepted"
    assert message["body"]["payload"]["item"] == "000000000000001000"  # as received
    assert message["validation"] == {"outcome": "passed", "reasons": []}
    mapping = message["mapping"]
    assert mapping["outcome"] == "mapped"
    assert mapping["canonical_payload"]["item"] == "FG-1000"
    changes = {c["path"]: (c["sent"], c["canonical"]) for c in mapping["changes"]}
    assert changes["payload.item"] == ("000000000000001000", "FG-1000")
    assert changes["payload.uom"] == ("ST", "EA")
    assert changes["payload.operations[0].work_center"] == ("LINE_A", "P1-ASSY1")
    assert "payload.order" not in changes  # unchanged fields are not listed
    idem = message["idempotency"]
    assert idem["decision"] == "accepted"
    assert idem["event_id"] == event.pk
    assert idem["idempotency_key"] == "production_order.released|P1|WO-1001"

    assert [e["id"] for e in trace["events"]] == [event.pk]
    assert trace["events"][0]["payload"]["item"] == "FG-1000"
    blocked = [t for t in trace["transitions"] if "L-TRACE" in t["object_repr"]]
    assert [(t["transition"], t["source_state"], t["target_state"]) for t in blocked] == [
        ("block", "available", "blocked")
    ]
    kinds = {g["kind"]: g for g in trace["gates"]}
    assert kinds["trace_order"]["order"] == "WO-1001"  # named in the payload
    assert kinds["trace_order"]["waits_for"] == "inspection INS-77"
    assert kinds["trace_lot"]["lot"] == "L-TRACE"  # moved by a transition
    assert "trace_other" not in kinds
    assert trace["outbox"] is not None  # the outbox model exists: tracked
    assert all(o["id"] for o in trace["outbox"])


def test_duplicate_names_the_original_event(world, chain, operator, api_client):
    trace = get(api_client, operator, DUP).json()
    [message] = trace["messages"]
    original = Event.objects.get(pk=chain["accepted"].event_id)
    assert message["status"] == "duplicate"
    assert message["validation"]["outcome"] == "passed"
    assert message["idempotency"]["decision"] == "duplicate"
    assert message["idempotency"]["event_id"] == original.pk
    assert message["idempotency"]["original_correlation_id"] == ACC
    assert f"duplicate of event {original.pk}" in message["idempotency"]["explanation"]
    assert message["mapping"]["canonical_payload"] == original.payload
    assert [e["id"] for e in trace["events"]] == [original.pk]  # shown, though under ACC
    assert Event.objects.count() == 1


def test_quarantined_message_shows_why_and_goes_no_further(world, chain, operator, api_client):
    trace = get(api_client, operator, BAD).json()
    [message] = trace["messages"]
    assert message["status"] == "quarantined"
    assert message["validation"]["outcome"] == "quarantined"
    assert [(r["code"], r["path"]) for r in message["validation"]["reasons"]] == [
        ("mapping_missing", "payload.item")
    ]
    assert message["mapping"]["outcome"] == "failed"
    assert message["mapping"]["canonical_payload"] is None
    assert message["idempotency"]["decision"] is None
    assert message["idempotency"]["event_id"] is None
    assert trace["events"] == []


def test_replay_and_discard_appear_in_the_trace(world, chain, operator, api_client):
    quarantined = chain["quarantined"]
    replay = message_replay(message=quarantined, actor=operator)
    other = ingest(
        world,
        envelope(
            "production_order.released",
            release("WO-3003", item="NOPE"),
            source="ERP",
            correlation_id=BAD,
        ),
    )
    message_discard(message=other, actor=operator, reason="test order")
    trace = get(api_client, operator, BAD).json()
    by_id = {m["id"]: m for m in trace["messages"]}
    assert by_id[quarantined.pk]["replays"] == [replay.pk]
    assert by_id[replay.pk]["replay_of"] == quarantined.pk
    assert by_id[replay.pk]["handled_by"] == "op-p1"
    assert by_id[other.pk]["status"] == "discarded"
    assert by_id[other.pk]["handled_reason"] == "test order"
    actions = {(t["transition"], t["object_id"], t["actor_label"]) for t in trace["transitions"]}
    assert ("replay", str(quarantined.pk), "op-p1") in actions
    assert ("discard", str(other.pk), "op-p1") in actions


def test_trace_is_plant_scoped(world, chain, operator, api_client):
    p2_operator = make_member(Role.OPERATOR, world["p2"], username="op-p2")
    auditor = make_member(Role.AUDITOR, None, username="auditor")
    assert get(api_client, p2_operator, ACC).status_code == 404
    assert get(api_client, operator, ACC).status_code == 200
    assert get(api_client, auditor, ACC).status_code == 200
    assert get(api_client, operator, "no-such-id").status_code == 404

    api_client.force_authenticate(None)
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {world['mes_key']}")  # serves P1
    assert api_client.get(f"/api/v1/trace/{ACC}").status_code == 200
    p2_system = ConnectedSystemFactory(kind="mes", code="MES-P2")
    p2_system.plants.set([world["p2"]])
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {issue_api_key(p2_system)}")
    assert api_client.get(f"/api/v1/trace/{ACC}").status_code == 404


def test_outbox_rows_of_the_chain_are_listed(world, chain, operator, api_client):
    from orchestrator.models import OutboxMessage

    event = Event.objects.get(pk=chain["accepted"].event_id)
    OutboxMessage.objects.create(
        plant=world["p1"],
        target_system="mes",
        message_type="trace.test",
        payload={},
        idempotency_key="trace-test-1",
        event=event,
        correlation_id=ACC,
        created_at=timezone.now(),
    )
    outbox = get(api_client, operator, ACC).json()["outbox"]
    mine = [o for o in outbox if o["message_type"] == "trace.test"]
    assert len(mine) == 1
    assert (mine[0]["target_system"], mine[0]["event_id"]) == ("mes", event.pk)
    assert mine[0]["status"] == "pending"


def html_of(client, cid: str) -> str:
    return client.get(
        reverse("admin:orchestrator_inboundmessage_trace", args=[cid])
    ).content.decode()


def test_admin_trace_page_shows_every_section(world, chain, operator, client):
    client.force_login(operator)
    for cid, expected in (
        (ACC, "claimed the business key"),
        (DUP, "duplicate of event"),
        (BAD, "mapping_missing"),
    ):
        page = client.get(reverse("admin:orchestrator_inboundmessage_trace", args=[cid]))
        assert page.status_code == 200
        html = page.content.decode()
        assert expected in html
        # One timeline: every kind of step is a row of the same table, payloads folded.
        assert html.count('class="timeline trace-timeline"') == 1
        assert 'data-kind="message"' in html
        assert '<details class="payload"><summary>body as received</summary>' in html
        assert "<details open" not in html
    for kind in ("event", "transition", "gate"):
        assert f'data-kind="{kind}"' in html_of(client, ACC)
    html = client.get(reverse("admin:orchestrator_inboundmessage_trace", args=[ACC])).content
    assert b"inspection INS-77" in html  # the order's gate
    assert b"L-TRACE" in html
    search = client.get(reverse("admin:orchestrator_inboundmessage_trace_search"))
    assert search.status_code == 200
    found = client.get(
        reverse("admin:orchestrator_inboundmessage_trace_search"), {"correlation_id": ACC}
    )
    assert b"claimed the business key" in found.content

    client.force_login(make_member(Role.OPERATOR, world["p2"], username="op-p2"))
    page = client.get(reverse("admin:orchestrator_inboundmessage_trace", args=[ACC]))
    assert page.status_code == 404


def test_trace_costs_a_fixed_number_of_queries(
    world, chain, operator, api_client, django_assert_max_num_queries
):
    body = envelope("production_order.released", release(), source="ERP", correlation_id=DUP)
    ingest_batch(principal=principal_for(world["erp"]), envelopes=[body] * 30)
    api_client.force_authenticate(operator)
    with django_assert_max_num_queries(12):
        response = api_client.get(f"/api/v1/trace/{DUP}")
    assert len(response.json()["messages"]) == 31
