"""``demo --check``'s scenario check says where orders stopped instead of hanging."""

from __future__ import annotations

import pytest
from django.utils import timezone

from connectors.management.flowcheck import wait_for_scenario_1
from orchestrator.models import OutboxMessage
from tests.factories import PlantFactory
from tests.factories_orchestrator import ProductionOrderFactory

pytestmark = pytest.mark.django_db


def _force_state(order, state):
    # django-fsm protects the field; the check only reads it.
    type(order).objects.filter(pk=order.pk).update(state=state)


def test_pending_outbox_rows_nobody_delivers_are_named_as_what_is_missing():
    p1, p2 = PlantFactory(code="P1"), PlantFactory(code="P2")
    for plant in (p1, p2):
        order = ProductionOrderFactory(plant=plant)
        _force_state(order, "released")
        OutboxMessage.objects.create(
            plant=plant,
            target_system="mes",
            message_type="production_order.release",
            payload={"order": order.number},
            idempotency_key=f"k-{plant.code}",
            correlation_id="c",
            created_at=timezone.now(),
        )
    said = []
    problem = wait_for_scenario_1(timeout=30, out=said.append, stall=0.5, poll=0.2)
    assert problem is not None
    assert "nothing moved past the release" in problem
    assert "missing at P1, P2" in problem
    assert "nothing delivers the outbox" in problem
    assert "MES's acknowledgment" in problem
    assert any("mes production_order.release pending 1" in line for line in said)


def test_it_answers_as_soon_as_every_plant_has_an_order_posted():
    for code in ("P1", "P2"):
        _force_state(ProductionOrderFactory(plant=PlantFactory(code=code)), "financially_posted")
    said = []
    assert wait_for_scenario_1(timeout=5, out=said.append) is None
    assert "an order financially posted at P1, P2" in said[0]


def test_a_finite_run_waits_for_every_order():
    plant = PlantFactory(code="P1")
    _force_state(ProductionOrderFactory(plant=plant), "financially_posted")
    _force_state(ProductionOrderFactory(plant=plant), "quality_pending")
    problem = wait_for_scenario_1(
        timeout=1, out=lambda _: None, per_plant=1, every_order=True, poll=0.2
    )
    assert "within 1 s" in problem
    assert "quality_pending" in problem
