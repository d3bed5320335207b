"""SLA targets per plant and flow: a breach raises one alert, and clears when back within
target; the history stays for the SLA report."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from orchestrator.models import Notification, OutboxMessage, ProductionOrder
from orchestrator.observability.models import SlaBreach, SlaSample
from orchestrator.observability.selectors import sla_targets
from orchestrator.observability.services.sla import sla_evaluate
from plants.choices import Role
from plants.models import SiteParameter, SiteParameterOverride
from tests.factories import PlantFactory, make_member

pytestmark = pytest.mark.django_db


def _queued(plant, *, age: dt.timedelta, key: str, now) -> OutboxMessage:
    return OutboxMessage.objects.create(
        plant=plant,
        target_system="erp",
        message_type="goods_receipt.post",
        idempotency_key=key,
        correlation_id=f"c-{key}",
        created_at=now - age,
    )


def test_targets_are_site_parameters_with_plant_overrides(sla_parameters):
    p1, p2 = PlantFactory(code="P1"), PlantFactory(code="P2")
    parameter = SiteParameter.objects.get(key="sla.delivery.target")
    SiteParameterOverride.objects.create(parameter=parameter, plant=p2, value="3600")
    targets = sla_targets()
    assert targets.target("delivery", p1.pk) == 300  # the global default (migration 0002)
    assert targets.target("delivery", p2.pk) == 3600
    assert targets.target("acknowledgment", p1.pk) == 900


def test_a_breach_raises_one_alert_and_clears_when_back_within_target(sla_parameters):
    now = timezone.now()
    p1, p2 = PlantFactory(code="P1"), PlantFactory(code="P2")
    parameter = SiteParameter.objects.get(key="sla.delivery.target")
    SiteParameterOverride.objects.create(parameter=parameter, plant=p2, value="3600")
    late = _queued(p1, age=dt.timedelta(minutes=10), key="a", now=now)
    _queued(p1, age=dt.timedelta(seconds=30), key="b", now=now)
    _queued(p2, age=dt.timedelta(minutes=10), key="c", now=now)  # within P2's own target

    first = sla_evaluate(now=now)
    assert [(b.plant.code, b.flow) for b in first.raised] == [("P1", "delivery")]
    breach = SlaBreach.objects.get()
    assert (breach.state, breach.role, breach.target_seconds) == ("open", Role.OPERATOR, 300)
    assert breach.peak_over_target == 1
    note = Notification.objects.get()
    assert note == breach.notification
    assert (note.plant, note.role, note.kind) == (p1, Role.OPERATOR, "threshold_alert")
    assert "Event delivery SLA breached at P1" in note.message

    # While the breach lasts: the same breach, no second alert.
    _queued(p1, age=dt.timedelta(minutes=20), key="d", now=now)
    for minutes in (1, 2):
        again = sla_evaluate(now=now + dt.timedelta(minutes=minutes))
        assert again.raised == []
        assert again.cleared == []
    assert SlaBreach.objects.count() == 1
    assert Notification.objects.count() == 1
    breach.refresh_from_db()
    assert breach.peak_over_target == 2
    assert breach.last_seen_at == now + dt.timedelta(minutes=2)

    # Delivered: back within target, cleared automatically, kept as history.
    OutboxMessage.objects.filter(plant=p1).update(status="delivered", delivered_at=now)
    done = sla_evaluate(now=now + dt.timedelta(minutes=3))
    assert [b.pk for b in done.cleared] == [breach.pk]
    breach.refresh_from_db()
    assert breach.state == "cleared"
    assert breach.cleared_at == now + dt.timedelta(minutes=3)
    assert breach.duration_seconds == 180
    assert sla_evaluate(now=now + dt.timedelta(minutes=4)).raised == []

    # The minutes are the SLA report: 3 of the 5 sampled minutes of P1 were over target.
    samples = SlaSample.objects.filter(plant_id=p1.pk, flow="delivery").order_by("bucket")
    assert [s.over_target for s in samples] == [1, 2, 2, 0, 0]
    assert late.pk  # the late row is what made the breach


def test_acknowledgment_and_triage_are_measured(db):
    from tests.factories_orchestrator import ProductionOrderFactory

    now = timezone.now()
    p1 = PlantFactory(code="P1")
    order = ProductionOrderFactory(plant=p1)
    ProductionOrder.objects.filter(pk=order.pk).update(
        state="released", state_changed_at=now - dt.timedelta(hours=1)
    )
    result = sla_evaluate(now=now)
    assert [(b.flow) for b in result.raised] == ["acknowledgment"]


def test_the_workbench_lists_breaches_of_the_operators_plants_only(client, db):
    now = timezone.now()
    p1, p2 = PlantFactory(code="P1"), PlantFactory(code="P2")
    _queued(p1, age=dt.timedelta(hours=1), key="a", now=now)
    _queued(p2, age=dt.timedelta(hours=1), key="b", now=now)
    sla_evaluate(now=now)
    assert SlaBreach.objects.filter(state="open").count() == 2
    client.force_login(make_member(Role.OPERATOR, p1))
    page = client.get(reverse("admin:observability_slabreach_changelist"))
    assert page.status_code == 200
    rows = page.context["cl"].result_list
    assert [b.plant.code for b in rows] == ["P1"]


def test_a_deleted_target_parameter_falls_back_to_the_built_in_target(sla_parameters):
    p1 = PlantFactory(code="P1")
    SiteParameter.objects.filter(key="sla.delivery.target").delete()
    assert sla_targets().target("delivery", p1.pk) == 300


def test_minute_rows_past_their_retention_are_pruned(sla_parameters):
    from orchestrator.observability.models import InboundRollup
    from orchestrator.observability.services.rollups import rollups_prune

    now = timezone.now().replace(second=0, microsecond=0)
    old, recent = now - dt.timedelta(days=40), now - dt.timedelta(days=1)
    for seconds, bucket in ((60, old), (60, recent), (3600, old)):
        InboundRollup.objects.create(
            bucket_seconds=seconds, bucket=bucket, event_type="x", outcome="accepted", count=1
        )
    SlaSample.objects.create(bucket=old, plant_id=1, flow="delivery", target_seconds=300)
    assert rollups_prune(now=now) == 1
    assert sorted(InboundRollup.objects.values_list("bucket_seconds", "bucket")) == [
        (60, recent),
        (3600, old),
    ]
    assert SlaSample.objects.count() == 1  # the SLA history is kept longer
