"""transition_apply: state moves with exactly one audit record; illegal moves change nothing."""

import pytest
from django.contrib.contenttypes.models import ContentType

from orchestrator.choices import NonconformanceState, OrderState
from orchestrator.models import AuditRecord, AuditRecordImmutable, ProductionOrder
from orchestrator.services.lifecycle import IllegalTransition, UnknownTransition, transition_apply
from orchestrator.services.lots import lot_change_status
from orchestrator.services.orders import order_hold, order_release, order_resume, order_revise
from orchestrator.services.quality import (
    disposition_decide,
    inspection_record_outcome,
    nonconformance_decide,
)
from plants.choices import LotStatus, Role
from tests.factories_orchestrator import (
    InspectionFactory,
    InspectionResultFactory,
    LotFactory,
    NonconformanceFactory,
    ProductionOrderFactory,
)

pytestmark = pytest.mark.django_db


def test_release_moves_state_and_writes_one_audit_record(plant_p1, member):
    user = member(Role.OPERATOR, plant_p1)
    order = ProductionOrderFactory(plant=plant_p1)

    order_release(order=order, actor=user, reason="ERP release", correlation_id="corr-1")

    assert order.state == OrderState.RELEASED  # the caller's copy is refreshed
    assert order.state_changed_at is not None
    (record,) = AuditRecord.objects.all()
    assert (record.actor, record.actor_label, record.plant_id) == (user, user.username, plant_p1.pk)
    assert (record.source_state, record.target_state, record.transition) == (
        "created",
        "released",
        "release",
    )
    assert (record.field, record.reason, record.correlation_id) == (
        "state",
        "ERP release",
        "corr-1",
    )
    assert record.content_type == ContentType.objects.get_for_model(ProductionOrder)
    assert record.object_id == str(order.pk)
    assert record.object_repr == "P1/" + order.number


def test_system_actor_is_a_label_and_correlation_id_is_generated(plant_p1, system_with_key):
    from plants.api.authentication import SystemPrincipal

    system, _ = system_with_key(plant_p1, code="MES-P1")
    principal = SystemPrincipal(
        system=system, api_key=system.api_keys.get(), system_plant_ids=frozenset({plant_p1.pk})
    )
    order = ProductionOrderFactory(plant=plant_p1)
    order_release(order=order, actor=principal)
    record = AuditRecord.objects.get()
    assert record.actor is None
    assert record.actor_label == "system:MES-P1"
    assert len(record.correlation_id) == 36  # a uuid4


def test_illegal_transition_raises_and_changes_nothing(plant_p1):
    order = ProductionOrderFactory(plant=plant_p1)
    with pytest.raises(IllegalTransition) as excinfo:
        transition_apply(obj=order, transition="complete", actor=None)
    err = excinfo.value
    assert err.code == "illegal_transition"
    assert err.http_status == 409
    assert "complete" in err.message
    assert "'created'" in err.message
    assert str(order) in err.message
    order.refresh_from_db()
    assert order.state == OrderState.CREATED
    assert not AuditRecord.objects.exists()


def test_unknown_transition_is_a_domain_error(plant_p1):
    order = ProductionOrderFactory(plant=plant_p1)
    with pytest.raises(UnknownTransition, match="known: "):
        transition_apply(obj=order, transition="save", actor=None)


def test_release_guard_needs_revisions(plant_p1):
    order = ProductionOrderFactory(plant=plant_p1, routing_revision="")
    with pytest.raises(IllegalTransition, match="preconditions"):
        order_release(order=order, actor=None)
    assert ProductionOrder.objects.get().state == OrderState.CREATED


def test_resume_returns_to_the_state_held_from(plant_p1):
    order = ProductionOrderFactory(plant=plant_p1)
    order_release(order=order, actor=None)
    transition_apply(obj=order, transition="acknowledge", actor=None)
    order_hold(order=order, actor=None, reason="material shortage")
    assert order.state == OrderState.ON_HOLD
    assert order.held_from == OrderState.ACKNOWLEDGED
    order_resume(order=order, actor=None)
    assert order.state == OrderState.ACKNOWLEDGED
    assert list(AuditRecord.objects.for_object(order).values_list("target_state", flat=True)) == [
        "acknowledged",
        "on_hold",
        "acknowledged",
        "released",
    ]


def test_stale_caller_copy_is_judged_on_the_database_state(plant_p1):
    order = ProductionOrderFactory(plant=plant_p1)
    stale = ProductionOrder.objects.get(pk=order.pk)
    order_release(order=order, actor=None)
    with pytest.raises(IllegalTransition):
        order_release(order=stale, actor=None)
    assert AuditRecord.objects.count() == 1


def test_direct_assignment_to_protected_state_raises(plant_p1):
    order = ProductionOrderFactory(plant=plant_p1)
    with pytest.raises(AttributeError, match="Direct state modification"):
        order.state = OrderState.COMPLETED
    lot = LotFactory(plant=plant_p1)
    with pytest.raises(AttributeError):
        lot.status = LotStatus.SCRAPPED


def test_updates_cannot_smuggle_a_state(plant_p1):
    nc = NonconformanceFactory(plant=plant_p1)
    with pytest.raises(Exception, match="only through transitions"):
        transition_apply(obj=nc, transition="start_review", actor=None, updates={"state": "closed"})


def test_expired_lot_cannot_be_released_and_expires(plant_p1):
    import datetime as dt

    lot = LotFactory(plant=plant_p1, expires_on=dt.date(2020, 1, 1))
    lot_change_status(lot=lot, status=LotStatus.BLOCKED, actor=None)
    with pytest.raises(IllegalTransition):
        lot_change_status(lot=lot, status=LotStatus.AVAILABLE, actor=None)
    lot_change_status(lot=lot, status=LotStatus.EXPIRED, actor=None)
    assert lot.status == LotStatus.EXPIRED


def test_inspection_outcome_needs_complete_results(plant_p1):
    inspection = InspectionFactory(plant=plant_p1)
    InspectionResultFactory(inspection=inspection, conforming=None, measured_value=None)
    with pytest.raises(IllegalTransition, match="preconditions"):
        inspection_record_outcome(inspection=inspection, outcome="passed", actor=None)
    inspection.refresh_from_db()
    assert inspection.state == "requested"  # the start rolled back with the refused outcome
    assert not AuditRecord.objects.exists()


def test_inspection_cannot_pass_with_a_nonconforming_line(plant_p1):
    inspection = InspectionFactory(plant=plant_p1)
    InspectionResultFactory(inspection=inspection, conforming=False)
    with pytest.raises(IllegalTransition):
        inspection_record_outcome(inspection=inspection, outcome="passed", actor=None)
    inspection_record_outcome(
        inspection=inspection, outcome="failed", actor=None, correlation_id="c-9"
    )
    assert inspection.state == "failed"
    assert set(AuditRecord.objects.values_list("correlation_id", flat=True)) == {"c-9"}


def test_disposition_needs_a_quality_lead_of_the_plant(plant_p1, plant_p2, member):
    inspection = InspectionFactory(plant=plant_p1)
    InspectionResultFactory(inspection=inspection)
    inspection_record_outcome(inspection=inspection, outcome="passed", actor=None)
    with pytest.raises(Exception, match="quality lead"):
        disposition_decide(
            inspection=inspection,
            decision="release",
            reason="ok",
            actor=member(Role.QUALITY_LEAD, plant_p2),
        )
    lead = member(Role.QUALITY_LEAD, plant_p1)
    disposition = disposition_decide(
        inspection=inspection, decision="release", reason="ok", actor=lead
    )
    assert disposition.decided_by == lead


def test_nonconformance_decide_sets_disposition_with_the_transition(plant_p1):
    nc = NonconformanceFactory(plant=plant_p1)
    with pytest.raises(IllegalTransition):
        transition_apply(obj=nc, transition="decide", actor=None)  # no disposition yet
    transition_apply(obj=nc, transition="start_review", actor=None)
    with pytest.raises(IllegalTransition):
        transition_apply(obj=nc, transition="decide", actor=None)
    nonconformance_decide(
        nonconformance=nc, disposition="rework", actor=None, reason="r", capa_reference="CAPA-7"
    )
    assert (nc.state, nc.disposition, nc.capa_reference) == (
        NonconformanceState.DISPOSITION_DECIDED,
        "rework",
        "CAPA-7",
    )


def test_order_revise_keeps_one_revision_per_changed_value(plant_p1):
    order = ProductionOrderFactory(plant=plant_p1, routing_revision="A")
    revisions = order_revise(
        order=order, actor="system:ERP-P1", routing_revision="B", bom_revision="A"
    )
    assert [(r.kind, r.previous_value, r.new_value) for r in revisions] == [("routing", "A", "B")]
    assert order.routing_revision == "B"


def test_audit_record_refuses_update_and_delete(plant_p1):
    order = ProductionOrderFactory(plant=plant_p1)
    order_release(order=order, actor=None)
    record = AuditRecord.objects.get()
    record.reason = "rewritten"
    with pytest.raises(AuditRecordImmutable):
        record.save()
    with pytest.raises(AuditRecordImmutable):
        record.delete()
    with pytest.raises(AuditRecordImmutable):
        AuditRecord.objects.filter(pk=record.pk).update(reason="x")
    with pytest.raises(AuditRecordImmutable):
        AuditRecord.objects.all().delete()
    assert AuditRecord.objects.get().reason == ""


def test_selectors_trace_and_stalled_orders(plant_p1):
    import datetime as dt

    from orchestrator.selectors import audit_trace, audit_trail, orders_waiting

    order = ProductionOrderFactory(plant=plant_p1)
    order_release(order=order, actor=None, correlation_id="evt-7")
    transition_apply(obj=order, transition="acknowledge", actor=None, correlation_id="evt-7")
    assert [r.transition for r in audit_trace(correlation_id="evt-7")] == ["release", "acknowledge"]
    assert [r.transition for r in audit_trail(obj=order)] == ["acknowledge", "release"]
    assert list(orders_waiting(state="acknowledged", longer_than=dt.timedelta(0))) == [order]
    assert not orders_waiting(state="acknowledged", longer_than=dt.timedelta(hours=1)).exists()
