"""Gate timeouts: a gate closed longer than its plant's ``gate.timeout.<kind>`` opens a
task for ``gate.escalate_to.<kind>``, once, audited on the gate; opening the gate
resolves the task."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.contenttypes.models import ContentType

from orchestrator.models import AuditRecord, Gate, Task
from orchestrator.services.gate_timeouts import gate_timeout, gates_escalate_overdue
from orchestrator.tasks import escalate_gate_timeouts
from plants.models import SiteParameter, SiteParameterOverride
from tests.ingest.flow import run, steel_lot

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed_gate(world, post):
    """WO-1001 completed: its goods-receipt gate is closed waiting for the inspection."""
    steel_lot(world)
    steps = run()
    for key, body in steps[:8]:
        assert post(world[key], body).status_code in (200, 201, 202), body
    gate = Gate.objects.get(kind="goods_receipt")
    assert gate.state == "closed"
    return {**world, "gate": gate, "steps": steps}


def test_timeouts_and_roles_are_site_parameters_per_kind_with_a_default(closed_gate):
    p1 = closed_gate["p1"]
    assert gate_timeout(kind="goods_receipt", plant=p1) == (dt.timedelta(hours=4), "quality_lead")
    assert gate_timeout(kind="shipment_hold", plant=p1) == (dt.timedelta(days=1), "plant_admin")
    SiteParameterOverride.objects.create(
        parameter=SiteParameter.objects.get(key="gate.timeout.goods_receipt"),
        plant=p1,
        value="0",
        reason="never at P1",
    )
    assert gate_timeout(kind="goods_receipt", plant=p1) == (None, "quality_lead")


def test_a_gate_past_its_timeout_opens_one_task_for_the_escalation_role(closed_gate):
    gate = closed_gate["gate"]
    assert gates_escalate_overdue(now=gate.state_changed_at + dt.timedelta(hours=3)) == 0
    late = gate.state_changed_at + dt.timedelta(hours=4, seconds=1)
    assert gates_escalate_overdue(now=late) == 1
    assert gates_escalate_overdue(now=late) == 0  # once
    task = Task.objects.get(key__startswith="gate-timeout:")
    assert (task.role, task.kind, task.state) == ("quality_lead", "investigate", "open")
    assert task.subject == gate
    assert task.order == gate.order
    assert task.details["waits_for"] == gate.waits_for
    assert "goods_receipt for WO-1001" in task.title
    audit = AuditRecord.objects.get(
        content_type=ContentType.objects.get_for_model(Gate),
        object_id=str(gate.pk),
        transition="escalate",
    )
    assert audit.actor_label == "system:interlock"
    assert f"task {task.pk} for quality_lead" in audit.reason


def test_opening_the_gate_resolves_its_escalation_task(closed_gate, post):
    gate = closed_gate["gate"]
    gates_escalate_overdue(now=gate.state_changed_at + dt.timedelta(hours=5))
    world, steps = closed_gate, closed_gate["steps"]
    for key, body in steps[8:9]:  # the inspection passes: the gate opens
        post(world[key], body)
    gate.refresh_from_db()
    assert gate.state == "open"
    gates_escalate_overdue()
    task = Task.objects.get(key__startswith="gate-timeout:")
    assert (task.state, task.outcome) == ("done", "resolved")


def test_the_beat_task_runs_the_service(closed_gate, settings):
    SiteParameterOverride.objects.create(
        parameter=SiteParameter.objects.get(key="gate.timeout.goods_receipt"),
        plant=closed_gate["p1"],
        value="0",
        reason="never",
    )
    assert escalate_gate_timeouts() == 0
    assert "orchestrator-escalate-gate-timeouts" in settings.CELERY_BEAT_SCHEDULE
