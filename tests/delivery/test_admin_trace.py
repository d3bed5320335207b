"""The outbox in the admin (plant-scoped, replay action, circuit state) and in the trace."""

from __future__ import annotations

import pytest

from orchestrator.models.outbox import OutboxMessage
from orchestrator.selectors_trace import trace_get
from plants.choices import Role
from tests.factories import PlantFactory, make_member

from .conftest import drain, make_rows

pytestmark = pytest.mark.django_db


def test_the_trace_lists_deliveries_with_their_attempts(erp, plant, receiver):
    receiver.receiver.script = [(500, None)]
    [row] = make_rows(erp, plant, 1)
    drain(erp)
    operator = make_member(Role.OPERATOR, plant, username="op")
    [entry] = trace_get(correlation_id=row.correlation_id, user=operator).outbox
    assert entry["status"] == "delivered"
    assert entry["system"] == "ERP-P1"
    assert entry["reference"] == receiver.receiver.references[row.idempotency_key]
    assert [a["outcome"] for a in entry["attempts_log"]] == ["transient", "delivered"]
    other = make_member(Role.OPERATOR, PlantFactory(code="P2"), username="op2")
    assert trace_get(correlation_id=row.correlation_id, user=other).outbox == []


def test_the_admin_lists_plant_scoped_rows_and_replays_dead_letters(erp, plant, receiver, client):
    receiver.receiver.script = [(400, None)]
    [row] = make_rows(erp, plant, 1)
    drain(erp)
    assert OutboxMessage.objects.get(pk=row.pk).status == "dead"
    operator = make_member(Role.OPERATOR, plant, username="op")
    client.force_login(operator)
    page = client.get("/admin/orchestrator/outboxmessage/?status__exact=dead")
    assert page.status_code == 200
    assert row.idempotency_key.encode() in page.content or b"goods_issue" in page.content
    change = client.get(f"/admin/orchestrator/outboxmessage/{row.pk}/change/")
    assert change.status_code == 200
    assert f"/admin/orchestrator/inboundmessage/trace/{row.correlation_id}/" in change.text
    answer = client.post(
        "/admin/orchestrator/outboxmessage/",
        {"action": "replay_selected", "_selected_action": [row.pk]},
    )
    assert answer.status_code == 302
    assert OutboxMessage.objects.get(pk=row.pk).status == "pending"
    drain(erp)
    assert receiver.receiver.effects == {row.idempotency_key: 1}
