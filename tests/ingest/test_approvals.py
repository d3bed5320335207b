"""``require_approval``: the flow waits on a closed ``approval`` gate until a person with
the role at the plant approves; rejections keep it closed; overdue requests escalate."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from interlock.errors import Conflict, NotAllowed
from orchestrator.ingest.world import key_gate_open
from orchestrator.models import ApprovalRequest, AuditRecord, Event, Gate, Notification
from orchestrator.services.approvals import approval_decide
from orchestrator.tasks import escalate_overdue_approvals
from plants.choices import Role
from tests.factories import make_member
from tests.factories_rules import board, published
from tests.ingest.flow import run, steel_lot

pytestmark = pytest.mark.django_db

RULES = """\
schema: interlock/ruleset/v1
ruleset: approvals
owner: governance-board
rules:
  - id: completion_needs_sign_off
    description: A completion holds the receipt and needs the quality lead's sign-off
    owner: governance-board
    on: [production.completed]
    when: event.qty > 0.0
    then:
      - action: hold_gate
        params: {gate: goods_receipt, reason: waiting for the inspection result}
      - action: require_approval
        params:
          role: quality_lead
          reason: first article sign-off
          timeout_minutes: 30
          escalate_to: plant_admin
  - id: pass_releases_receipt
    description: A pass opens the goods receipt gate
    owner: governance-board
    on: [inspection.recorded]
    when: event.result == "passed"
    then:
      - action: release_gate
        params: {gate: goods_receipt, reason: quality released}
tests:
  - name: a completion needs a sign-off
    event_type: production.completed
    event: {order: WO-1001, lot: FG-WO-1001, qty: 99.0, uom: EA}
    expect: {actions: [hold_gate, require_approval]}
  - name: a pass opens the receipt
    event_type: inspection.recorded
    event: {inspection: INS-1, order: WO-1001, lot: FG-WO-1001, result: passed}
    expect: {actions: [release_gate]}
"""


@pytest.fixture
def flow(world, post):
    """P1 with the rule set published, WO-1001 completed: an approval is pending."""
    published(RULES, author=board("author"), approver=board("approver"))
    steel_lot(world)
    steps = run()
    for key, body in steps[:7]:  # up to production.completed
        assert post(world[key], body).status_code in (200, 201, 202), body

    def send(*indexes):
        return [
            Event.objects.get(pk=post(world[steps[i][0]], steps[i][1]).json()["event_id"])
            for i in indexes
        ]

    return {**world, "send": send}


def _request() -> ApprovalRequest:
    return ApprovalRequest.objects.select_related("gate").get()


def _park_receipt_on_approval(flow) -> Event:
    """A goods receipt sent before quality decided parks on the goods-receipt gate; when
    the pass opens that gate the receipt still waits, now for the approval gate."""
    (receipt,) = flow["send"](9)
    assert receipt.status == "parked"
    flow["send"](7, 8)  # inspection requested, passed: the goods-receipt gate opens
    assert Gate.objects.get(kind="goods_receipt").state == "open"
    receipt.refresh_from_db()
    assert receipt.status == "parked"
    assert receipt.waiting_for == key_gate_open("approval", "P1", "WO-1001")
    return receipt


def test_require_approval_holds_a_closed_approval_gate_linked_to_the_request(flow):
    request = _request()
    gate = Gate.objects.get(kind="approval")
    assert request.gate == gate
    assert gate.state == "closed"
    assert gate.order.number == "WO-1001"
    assert gate.waits_for == "approval by quality_lead: first article sign-off"
    assert request.state == "pending"
    assert request.role == "quality_lead"
    assert request.due_at == request.created_at + dt.timedelta(minutes=30)


def test_approval_by_the_plant_quality_lead_opens_the_gate_and_applies_the_waiting_event(flow):
    receipt = _park_receipt_on_approval(flow)
    lead = make_member(Role.QUALITY_LEAD, flow["p1"], username="lead")
    request = approval_decide(request=_request(), actor=lead, approve=True, reason="looks good")
    assert request.state == "approved"
    assert request.decided_by == lead
    assert request.decided_at is not None
    assert request.decision_reason == "looks good"
    gate = Gate.objects.get(kind="approval")
    assert gate.state == "open"
    receipt.refresh_from_db()
    assert receipt.status == "applied"
    audits = AuditRecord.objects.filter(
        content_type=ContentType.objects.get_for_model(ApprovalRequest),
        object_id=str(request.pk),
    )
    assert [(a.transition, a.actor, a.target_state) for a in audits] == [
        ("approve", lead, "approved")
    ]
    assert AuditRecord.objects.filter(
        content_type=ContentType.objects.get_for_model(Gate),
        object_id=str(gate.pk),
        transition="open",
        actor=lead,
    ).exists()
    with pytest.raises(Conflict):  # decided once
        approval_decide(request=request, actor=lead, approve=False, reason="changed my mind")


@pytest.mark.parametrize(
    ("role", "plant"),
    [(Role.OPERATOR, "p1"), (Role.QUALITY_LEAD, "p2"), (Role.PLANT_ADMIN, "p1")],
)
def test_the_wrong_role_or_another_plant_is_refused(flow, role, plant):
    receipt = _park_receipt_on_approval(flow)
    other = make_member(role, flow[plant], username="other")
    with pytest.raises(NotAllowed):
        approval_decide(request=_request(), actor=other, approve=True, reason="let it through")
    assert _request().state == "pending"
    assert Gate.objects.get(kind="approval").state == "closed"
    receipt.refresh_from_db()
    assert receipt.status == "parked"


def test_rejection_keeps_the_gate_closed_and_is_recorded(flow):
    receipt = _park_receipt_on_approval(flow)
    lead = make_member(Role.QUALITY_LEAD, flow["p1"], username="lead")
    request = approval_decide(request=_request(), actor=lead, approve=False, reason="burrs")
    assert request.state == "rejected"
    assert request.decided_by == lead
    assert request.decision_reason == "burrs"
    assert Gate.objects.get(kind="approval").state == "closed"
    receipt.refresh_from_db()
    assert receipt.status == "parked"
    assert AuditRecord.objects.filter(
        content_type=ContentType.objects.get_for_model(ApprovalRequest),
        object_id=str(request.pk),
        transition="reject",
        target_state="rejected",
    ).exists()


def test_overdue_approval_escalates_once_with_a_notification(flow):
    request = _request()
    assert escalate_overdue_approvals() == 0  # not due yet
    ApprovalRequest.objects.filter(pk=request.pk).update(
        due_at=timezone.now() - dt.timedelta(minutes=1)
    )
    assert escalate_overdue_approvals() == 1
    request.refresh_from_db()
    assert request.state == "escalated"
    assert request.escalated_at is not None
    notification = Notification.objects.get(details__approval_request=request.pk)
    assert notification.role == "plant_admin"
    assert notification.plant == flow["p1"]
    audits = AuditRecord.objects.filter(
        content_type=ContentType.objects.get_for_model(ApprovalRequest),
        object_id=str(request.pk),
        transition="escalate",
    )
    assert audits.count() == 1
    # twice: nothing changes
    assert escalate_overdue_approvals() == 0
    assert Notification.objects.filter(details__approval_request=request.pk).count() == 1
    assert audits.count() == 1
    # once escalated, the escalation role may decide
    admin = make_member(Role.PLANT_ADMIN, flow["p1"], username="admin-p1")
    approval_decide(request=request, actor=admin, approve=True, reason="decided on escalation")
    assert Gate.objects.get(kind="approval").state == "open"


def test_decide_endpoint(flow, api_client):
    request = _request()
    operator = make_member(Role.OPERATOR, flow["p1"], username="op")
    api_client.force_authenticate(operator)
    url = f"/api/v1/approvals/{request.pk}/decide"
    assert api_client.post(url, {"approve": True, "reason": "x"}, format="json").status_code == 403
    outsider = make_member(Role.QUALITY_LEAD, flow["p2"], username="lead-p2")
    api_client.force_authenticate(outsider)
    assert api_client.post(url, {"approve": True, "reason": "x"}, format="json").status_code == 404
    lead = make_member(Role.QUALITY_LEAD, flow["p1"], username="lead")
    api_client.force_authenticate(lead)
    assert api_client.post(url, {"approve": True}, format="json").status_code == 400
    response = api_client.post(url, {"approve": True, "reason": "ok"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["state"] == "approved"
    assert body["gate_state"] == "open"
    assert body["decided_by"] == "lead"


def test_admin_action_approves(flow, client):
    lead = make_member(Role.QUALITY_LEAD, flow["p1"], username="lead")
    client.force_login(lead)
    request = _request()
    response = client.post(
        "/admin/orchestrator/approvalrequest/",
        {"action": "approve_selected", "_selected_action": [request.pk]},
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.state == "approved"
    assert Gate.objects.get(kind="approval").state == "open"
