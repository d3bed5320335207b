"""Replaying an event writes back the outcome of every event the replay released."""

import pytest

from orchestrator.models import Event, ProductionOrder
from orchestrator.services.orders import order_revise
from orchestrator.services.replay import event_replay
from plants.choices import Role
from tests.factories import make_member
from tests.ingest.conftest import envelope, release

pytestmark = pytest.mark.django_db


def test_replayed_acknowledgment_applies_and_saves_the_events_parked_behind_it(world, post):
    post(world["erp_key"], envelope("production_order.released", release(), source="ERP"))
    ack = post(
        world["mes_key"],
        envelope(
            "production_order.acknowledged",
            {"order": "WO-1001", "routing_revision": "R9", "bom_revision": "B1"},
            occurred_at="2026-05-10T08:16:00Z",
        ),
    ).json()
    assert ack["status"] == "quarantined"
    started = post(
        world["mes_key"],
        envelope(
            "operation.started",
            {"order": "WO-1001", "operation": "0010"},
            occurred_at="2026-05-10T08:17:00Z",
        ),
    ).json()
    assert Event.objects.get(pk=started["event_id"]).status == "parked"

    # The ERP's routing revision was the stale one: fix it, then replay the acknowledgment.
    order = ProductionOrder.objects.get(number="WO-1001")
    order_revise(order=order, actor=None, reason="ERP corrected", routing_revision="R9")
    operator = make_member(Role.OPERATOR, world["p1"], username="op")
    replayed = event_replay(event=Event.objects.get(pk=ack["event_id"]), actor=operator)

    assert replayed.status == "applied"
    released = Event.objects.get(pk=started["event_id"])
    assert (released.status, released.waiting_for) == ("applied", "")
    assert released.applied_at is not None
