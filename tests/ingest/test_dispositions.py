"""Every disposition of a failed inspection leads somewhere (issue 8, item 4).

A run of scenario 1 whose final inspection fails leaves the order in quality pending, its
goods-receipt gate closed and a nonconformance open. The quality lead's disposition then
takes it on: use as is (conditional release, gate overridden, receipt posted to the ERP,
and the ERP's answer settles the order), rework (back in process with a rework
operation), scrap (scrap posted to the ERP, order closed), return to supplier (a supplier
case). Four eyes where the plant asks for it.
"""

from __future__ import annotations

import pytest

from interlock.errors import DomainError, NotAllowed
from orchestrator.models import (
    AuditRecord,
    Disposition,
    Gate,
    Inspection,
    Nonconformance,
    Notification,
    OutboxMessage,
    ProductionOrder,
)
from orchestrator.services.quality import disposition_approve, disposition_record
from plants.choices import Role
from plants.models import SiteParameter, SiteParameterOverride
from tests.ingest.flow import run, steel_lot

pytestmark = pytest.mark.django_db


@pytest.fixture
def failed(world, post):
    """Scenario 1 up to a failed final inspection (no goods receipt yet)."""
    steel_lot(world)
    answers = [post(world[key], body).json() for key, body in run(result="R")[:9]]
    order = ProductionOrder.objects.get(number="WO-1001")
    assert order.state == "quality_pending", answers
    assert Gate.objects.get(order=order, kind="goods_receipt").state == "closed"
    assert Nonconformance.objects.get(order=order).state == "opened"
    return order


def _inspection():
    return Inspection.objects.get(number="INS-WO-1001")


def test_use_as_is_releases_overrides_the_gate_and_posts_the_receipt(world, post, failed, member):
    lead = member(Role.QUALITY_LEAD, world["p1"])
    d = disposition_record(
        inspection=_inspection(), disposition="use_as_is", actor=lead, reason="cosmetic only"
    )
    assert d.decided_by == lead
    assert d.approved_by == lead
    assert d.carried_out_at
    assert _inspection().state == "conditionally_released"
    gate = Gate.objects.get(order=failed, kind="goods_receipt")
    assert gate.state == "overridden"
    override = AuditRecord.objects.for_object(gate).get(transition="override")
    assert override.actor == lead
    assert "cosmetic only" in override.reason
    receipt = OutboxMessage.objects.get(message_type="goods_receipt", plant=world["p1"])
    assert receipt.payload["order"] == "WO-1001"
    assert receipt.target_system == "erp"
    nc = Nonconformance.objects.get(order=failed)
    assert (nc.state, nc.disposition, d.nonconformance) == ("closed", "use_as_is", nc)
    # The ERP's goods receipt comes back and, the material being released, settles the order.
    post(world["erp_key"], run()[9][1])
    failed.refresh_from_db()
    assert failed.state == "financially_posted"


def test_rework_sends_the_order_back_in_process_with_a_rework_operation(world, failed, member):
    lead = member(Role.QUALITY_LEAD, world["p1"])
    disposition_record(
        inspection=_inspection(), disposition="rework", actor=lead, reason="regrind edge"
    )
    failed.refresh_from_db()
    assert failed.state == "in_process"
    rework = failed.operations.get(sequence="9010")
    assert rework.state == "pending"
    assert "regrind edge" in rework.description
    assert Gate.objects.get(order=failed, kind="goods_receipt").state == "closed"


def test_scrap_posts_scrap_to_the_erp_and_closes_the_order(world, failed, member):
    lead = member(Role.QUALITY_LEAD, world["p1"])
    disposition_record(inspection=_inspection(), disposition="scrap", actor=lead, reason="cracks")
    failed.refresh_from_db()
    assert failed.state == "closed"
    scrap = OutboxMessage.objects.get(message_type="scrap")
    assert scrap.payload["order"] == "WO-1001"
    assert scrap.payload["reason_code"]
    assert _inspection().lot.status == "scrapped"
    assert Nonconformance.objects.get(order=failed).state == "closed"


def test_return_to_supplier_opens_a_supplier_case_with_evidence(world, failed, member):
    lead = member(Role.QUALITY_LEAD, world["p1"])
    disposition_record(
        inspection=_inspection(),
        disposition="return_to_supplier",
        actor=lead,
        reason="supplier material defect",
    )
    case = Notification.objects.get(kind="supplier_case", plant=world["p1"], role="procurement")
    assert case.details["inspection"] == "INS-WO-1001"
    assert case.details["nonconformance"]
    assert _inspection().lot.status == "blocked"
    failed.refresh_from_db()
    assert failed.state == "closed"


def test_four_eyes_waits_for_a_second_quality_lead(world, failed, member):
    SiteParameterOverride.objects.create(
        parameter=SiteParameter.objects.get(key="quality.disposition_four_eyes"),
        plant=world["p1"],
        value="true",
        reason="regulated customer",
    )
    lead = member(Role.QUALITY_LEAD, world["p1"])
    second = member(Role.QUALITY_LEAD, world["p1"], username="second-lead")
    d = disposition_record(inspection=_inspection(), disposition="scrap", actor=lead, reason="x")
    assert d.approved_at is None
    assert d.carried_out_at is None
    failed.refresh_from_db()
    assert failed.state == "quality_pending"  # nothing happens before the second person
    with pytest.raises(NotAllowed, match="four eyes"):
        disposition_approve(disposition=d, actor=lead)
    with pytest.raises(DomainError, match="waiting for approval"):
        disposition_record(inspection=_inspection(), disposition="rework", actor=second, reason="y")
    done = disposition_approve(disposition=d, actor=second)
    assert done.approved_by == second
    assert done.carried_out_at
    failed.refresh_from_db()
    assert failed.state == "closed"


def test_only_a_quality_lead_of_the_plant_decides(world, failed, member):
    with pytest.raises(NotAllowed):
        disposition_record(
            inspection=_inspection(),
            disposition="scrap",
            actor=member(Role.OPERATOR, world["p1"]),
            reason="x",
        )
    with pytest.raises(NotAllowed):
        disposition_record(
            inspection=_inspection(),
            disposition="scrap",
            actor=member(Role.QUALITY_LEAD, world["p2"]),
            reason="x",
        )
    with pytest.raises(DomainError, match="Unknown disposition"):
        disposition_record(
            inspection=_inspection(),
            disposition="burn",
            actor=member(Role.QUALITY_LEAD, world["p1"]),
            reason="x",
        )
    assert not Disposition.objects.exists()


def test_the_order_cannot_leave_quality_pending_without_a_disposition(world, failed, member):
    from orchestrator.admin.lifecycle import blocked_transitions

    blocked = {
        b["name"]: b["why"]
        for b in blocked_transitions(failed, user=member(Role.QUALITY_LEAD, world["p1"]))
    }
    assert blocked["rework"].startswith("guard: needs quality approved a rework disposition")
    assert blocked["close"].startswith("guard:")


def test_the_quality_lead_decides_in_the_admin(world, failed, member, client):
    lead = member(Role.QUALITY_LEAD, world["p1"])
    lead.is_staff = True
    lead.save()
    client.force_login(lead)
    inspection = _inspection()
    page = client.get(f"/admin/orchestrator/inspection/{inspection.pk}/change/")
    assert page.status_code == 200
    assert b"Decide disposition" in page.content
    url = f"/admin/orchestrator/inspection/{inspection.pk}/dispose/"
    assert client.post(url, {"disposition": "scrap", "reason": ""}).status_code == 200  # re-shown
    response = client.post(url, {"disposition": "scrap", "reason": "cracks"})
    assert response.status_code == 302
    d = Disposition.objects.get()
    assert d.decided_by == lead  # the actor is the logged-in person, never a form field
    # Nobody may add, change or delete dispositions or nonconformances through a form.
    assert client.get("/admin/orchestrator/disposition/add/").status_code == 403
    nc = Nonconformance.objects.get()
    assert client.post(f"/admin/orchestrator/nonconformance/{nc.pk}/delete/").status_code == 403
