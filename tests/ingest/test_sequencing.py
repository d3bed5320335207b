"""Sequencing: early events are parked with what they wait for, applied when it arrives,
escalated after the plant's timeout; state never goes backwards."""

import datetime as dt

import pytest
from django.utils import timezone

from orchestrator.models import AuditRecord, Event, Operation, ProductionOrder
from orchestrator.tasks import escalate_parked_events
from tests.ingest.flow import run, steel_lot

pytestmark = pytest.mark.django_db


def _post(world, post, steps):
    return [Event.objects.get(pk=post(world[k], b).json()["event_id"]) for k, b in steps]


def test_confirmation_before_acknowledgment_is_parked_then_applied(world, post):
    steps = run()
    (_release,) = _post(world, post, [steps[0]])
    (confirmation,) = _post(world, post, [steps[4]])
    confirmation.refresh_from_db()
    assert confirmation.status == "parked"
    assert confirmation.waiting_for == "order-acknowledged:P1:WO-1001"
    assert confirmation.reasons[0]["code"] == "waiting"
    _post(world, post, [steps[1]])  # the acknowledgment releases it, same transaction
    confirmation.refresh_from_db()
    assert confirmation.status == "applied"
    op = Operation.objects.get(sequence="0010")
    assert (op.state, op.confirmed_qty) == ("confirmed", 40)
    assert ProductionOrder.objects.get().state == "partially_confirmed"


def test_confirmation_of_an_unknown_order_waits_for_its_release(world, post):
    steps = run()
    (ack, confirmation) = _post(world, post, [steps[1], steps[3]])
    assert {ack.status, confirmation.status} == {"parked"}
    assert confirmation.waiting_for == "order-released:P1:WO-1001"
    _post(world, post, [steps[0]])
    ack.refresh_from_db()
    confirmation.refresh_from_db()
    assert (ack.status, confirmation.status) == ("applied", "applied")


def test_completion_waits_for_every_operation(world, post):
    steps = run()
    _post(world, post, steps[:2])
    (completion,) = _post(world, post, [steps[6]])
    completion.refresh_from_db()
    assert completion.status == "parked"
    assert completion.waiting_for == "operations-confirmed:P1:WO-1001"
    _post(world, post, steps[3:6])
    completion.refresh_from_db()
    assert completion.status == "applied"
    assert ProductionOrder.objects.get().state == "quality_pending"


def test_a_late_older_event_does_not_move_state_back(world, post):
    steel_lot(world)
    steps = run()
    _post(world, post, steps[:7])
    assert ProductionOrder.objects.get().state == "quality_pending"
    from tests.ingest.conftest import envelope

    (late,) = _post(
        world,
        post,
        [
            (
                "mes_key",
                envelope(
                    "operation.started",
                    {"order": "WO-1001", "operation": "0010"},
                    occurred_at="2026-05-10T07:00:00Z",
                ),
            )
        ],
    )
    assert late.status == "applied"
    assert ProductionOrder.objects.get().state == "quality_pending"
    assert Operation.objects.get(sequence="0010").state == "confirmed"


def test_parked_event_is_escalated_after_the_plant_timeout(world, post):
    steps = run()
    (confirmation,) = _post(world, post, [steps[3]])
    assert escalate_parked_events() == 0  # not yet (default timeout 300 s)
    Event.objects.filter(pk=confirmation.pk).update(
        parked_at=timezone.now() - dt.timedelta(seconds=301)
    )
    assert escalate_parked_events() == 1
    confirmation.refresh_from_db()
    assert confirmation.status == "escalated"
    assert confirmation.reasons[-1]["code"] == "escalated"
    record = AuditRecord.objects.get(transition="escalate")
    assert (record.source_state, record.target_state) == ("parked", "escalated")
    assert record.correlation_id == confirmation.correlation_id
    assert escalate_parked_events() == 0  # safe to run twice
