"""The task inbox: rule actions open tasks a person holding the role at the plant claims
and completes; approvals are decided from their task; overdue tasks escalate; the role's
people are e-mailed a link."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.utils import timezone

from interlock.errors import DomainError, NotAllowed
from orchestrator.models import ApprovalRequest, AuditRecord, Event, Gate, Task
from orchestrator.services.tasks import (
    inbox,
    open_task,
    task_claim,
    task_complete,
    task_reassign,
    tasks_escalate_overdue,
    tasks_mail_pending,
)
from plants.choices import Role
from tests.factories import make_member
from tests.factories_rules import board, published
from tests.ingest.flow import run, steel_lot
from tests.ingest.test_approvals import RULES

pytestmark = pytest.mark.django_db

TASK_RULES = (
    RULES.replace("ruleset: approvals", "ruleset: approvals_tasks")
    .replace(
        "expect: {actions: [hold_gate, require_approval]}",
        "expect: {actions: [hold_gate, require_approval, notify_role, open_task]}",
    )
    .replace(
        """  - id: pass_releases_receipt""",
        """  - id: completion_tells_planning
    description: planning checks the plan and customer service is asked to reply
    owner: governance-board
    on: [production.completed]
    when: event.qty > 0.0
    then:
      - action: notify_role
        params: {role: planning, message: "order completed: check the plan"}
      - action: open_task
        params:
          role: customer_service
          kind: reply
          title: tell the customer the order is complete
          due_in: 60
          escalate_to: supervisor
          details: {channel: email}
  - id: pass_releases_receipt""",
    )
)


@pytest.fixture
def flow(world, post):
    published(TASK_RULES, author=board("author"), approver=board("approver"))
    steel_lot(world)
    steps = run()
    for key, body in steps[:7]:  # up to production.completed
        assert post(world[key], body).status_code in (200, 201, 202), body
    return world


def _audits(task):
    return list(
        AuditRecord.objects.filter(
            content_type=ContentType.objects.get_for_model(Task), object_id=str(task.pk)
        ).order_by("pk")
    )


def test_rule_actions_open_tasks_for_the_role_at_the_plant(flow):
    completed = Event.objects.get(event_type="production.completed")
    tasks = {t.role: t for t in Task.objects.all()}
    assert set(tasks) == {"quality_lead", "planning", "customer_service"}
    approve = tasks["quality_lead"]
    assert approve.kind == "approve"
    assert approve.approval == ApprovalRequest.objects.get()
    assert (
        approve.due_at
        == approve.approval.due_at
        == approve.approval.created_at + dt.timedelta(minutes=30)
    )
    assert approve.escalate_to == "plant_admin"
    reply = tasks["customer_service"]
    assert (reply.kind, reply.title, reply.escalate_to) == (
        "reply",
        "tell the customer the order is complete",
        "supervisor",
    )
    assert reply.details["channel"] == "email"
    assert reply.details["evidence"] == completed.payload
    for task in tasks.values():
        assert task.plant == flow["p1"]
        assert task.event == completed
        assert task.order.number == "WO-1001"
        assert task.correlation_id == completed.correlation_id
        assert task.state == "open"


def test_reapplying_the_event_opens_no_second_task(flow):
    before = Task.objects.count()
    completed = Event.objects.get(event_type="production.completed")
    # the idempotency key of a task is derived from the event: opening again is a no-op
    from orchestrator.ingest.context import BatchContext
    from orchestrator.services.tasks import open_task_in_batch

    reply = Task.objects.get(role="customer_service")
    ctx = BatchContext(actor_label="system:test", now=timezone.now())
    assert (
        open_task_in_batch(
            ctx,
            plant=reply.plant,
            role="x",
            kind="reply",
            title="t",
            event=completed,
            key=reply.key,
        )
        is None
    )
    ctx.flush()
    assert Task.objects.count() == before


def test_a_holder_of_the_role_claims_and_completes_with_an_audit_trail(flow):
    planner = make_member(Role.PLANNING, flow["p1"], username="planner")
    other_plant = make_member(Role.PLANNING, flow["p2"], username="p2-planner")
    task = Task.objects.get(role="planning")
    assert list(inbox(planner)) == [task]
    assert list(inbox(other_plant)) == []
    with pytest.raises(NotAllowed):
        task_claim(task=task, actor=other_plant)
    task = task_claim(task=task, actor=planner)
    assert (task.state, task.assignee) == ("claimed", planner)
    with pytest.raises(DomainError):
        task_complete(task=task, actor=planner, outcome="done", comment="")
    task = task_complete(task=task, actor=planner, outcome="done", comment="plan checked")
    assert (task.state, task.outcome, task.comment, task.completed_by) == (
        "done",
        "done",
        "plan checked",
        planner,
    )
    assert [(a.transition, a.actor, a.target_state) for a in _audits(task)] == [
        ("claim", planner, "claimed"),
        ("complete", planner, "done"),
    ]
    assert list(inbox(planner)) == []


def test_a_task_claimed_by_one_person_is_not_completed_by_another(flow):
    a = make_member(Role.PLANNING, flow["p1"], username="planner-a")
    b = make_member(Role.PLANNING, flow["p1"], username="planner-b")
    task = task_claim(task=Task.objects.get(role="planning"), actor=a)
    with pytest.raises(NotAllowed):
        task_complete(task=task, actor=b, comment="mine now")


def test_completing_an_approval_task_decides_the_request_and_opens_the_gate(flow):
    lead = make_member(Role.QUALITY_LEAD, flow["p1"], username="lead")
    task = Task.objects.get(kind="approve")
    task_claim(task=task, actor=lead)
    with pytest.raises(DomainError):
        task_complete(task=task, actor=lead, outcome="done", comment="ok")
    task = task_complete(task=task, actor=lead, outcome="approved", comment="first article ok")
    assert (task.state, task.outcome, task.completed_by) == ("done", "approved", lead)
    request = ApprovalRequest.objects.get()
    assert (request.state, request.decided_by) == ("approved", lead)
    assert Gate.objects.get(kind="approval").state == "open"


def test_deciding_the_approval_elsewhere_completes_its_task(flow):
    from orchestrator.services.approvals import approval_decide

    lead = make_member(Role.QUALITY_LEAD, flow["p1"], username="lead")
    approval_decide(request=ApprovalRequest.objects.get(), actor=lead, approve=False, reason="no")
    task = Task.objects.get(kind="approve")
    assert (task.state, task.outcome, task.completed_by) == ("done", "rejected", lead)


def test_overdue_tasks_escalate_once_to_the_escalation_role(flow):
    supervisor = make_member(Role.SUPERVISOR, flow["p1"], username="super")
    cs = make_member(Role.CUSTOMER_SERVICE, flow["p1"], username="cs")
    task = Task.objects.get(role="customer_service")
    task_claim(task=task, actor=cs)
    assert task not in inbox(supervisor)
    assert tasks_escalate_overdue(now=timezone.now()) == 0
    later = task.due_at + dt.timedelta(seconds=1)
    assert tasks_escalate_overdue(now=later) == 2  # the reply and the approval
    assert tasks_escalate_overdue(now=later) == 0
    task.refresh_from_db()
    assert (task.state, task.assignee, task.escalated_at) == ("escalated", None, later)
    assert task in inbox(supervisor)
    assert task in inbox(cs)
    (escalation,) = [a for a in _audits(task) if a.transition == "escalate"]
    assert escalation.actor_label == "system:interlock"
    assert "escalated to supervisor" in escalation.reason
    task = task_claim(task=task, actor=supervisor)
    task = task_complete(task=task, actor=supervisor, comment="called the customer")
    assert task.state == "done"


def test_new_and_escalated_tasks_are_mailed_to_the_role_with_a_link(flow, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.INTERLOCK_BASE_URL = "https://interlock.example"
    cs = make_member(Role.CUSTOMER_SERVICE, flow["p1"], username="cs")
    cs.email = "cs@example.com"
    cs.save()
    other = make_member(Role.CUSTOMER_SERVICE, flow["p2"], username="p2cs")
    other.email = "p2cs@example.com"
    other.save()
    mail.outbox.clear()
    tasks_mail_pending()
    task = Task.objects.get(role="customer_service")
    (message,) = [m for m in mail.outbox if "cs@example.com" in m.to]
    assert message.to == ["cs@example.com"]
    assert "tell the customer" in message.subject
    assert f"https://interlock.example/admin/orchestrator/task/{task.pk}/change/" in message.body
    mail.outbox.clear()
    assert tasks_mail_pending() == 0  # mailed once
    assert mail.outbox == []


def test_open_task_outside_ingest_is_audited_and_idempotent_by_key(flow):
    first = open_task(
        plant=flow["p1"], role="planning", kind="investigate", title="look", key="k-1"
    )
    again = open_task(
        plant=flow["p1"], role="planning", kind="investigate", title="look", key="k-1"
    )
    assert first.pk == again.pk
    assert [(a.transition, a.actor_label) for a in _audits(first)] == [("open", "system:interlock")]
    with pytest.raises(DomainError):
        open_task(plant=flow["p1"], role="planning", kind="nonsense", title="x")


def test_reassigning_to_another_role_is_audited(flow):
    planner = make_member(Role.PLANNING, flow["p1"], username="planner")
    maint = make_member(Role.MAINTENANCE, flow["p1"], username="maint")
    task = Task.objects.get(role="planning")
    task = task_reassign(task=task, actor=planner, role="maintenance", reason="a machine issue")
    assert task.role == "maintenance"
    assert task in inbox(maint)
    assert task not in inbox(planner)
    (record,) = _audits(task)
    assert (record.field, record.source_state, record.target_state) == (
        "role",
        "planning",
        "maintenance",
    )


def test_the_inbox_over_the_api_for_people_only(flow, api_client):
    planner = make_member(Role.PLANNING, flow["p1"], username="planner")
    outsider = make_member(Role.PLANNING, flow["p2"], username="p2-planner")
    task = Task.objects.get(role="planning")
    api_client.force_authenticate(planner)
    mine = api_client.get("/api/v1/tasks/mine").json()
    assert [t["id"] for t in mine] == [task.pk]
    assert mine[0]["order"] == "WO-1001"
    api_client.force_authenticate(outsider)
    assert api_client.get("/api/v1/tasks/mine").json() == []
    assert api_client.post(f"/api/v1/tasks/{task.pk}/claim").status_code == 404
    api_client.force_authenticate(planner)
    claimed = api_client.post(f"/api/v1/tasks/{task.pk}/claim")
    assert claimed.status_code == 200, claimed.content
    assert (claimed.json()["state"], claimed.json()["assignee"]) == ("claimed", "planner")
    missing = api_client.post(f"/api/v1/tasks/{task.pk}/complete", {}, format="json")
    assert missing.status_code == 400
    done = api_client.post(
        f"/api/v1/tasks/{task.pk}/complete", {"comment": "plan checked"}, format="json"
    )
    assert done.status_code == 200, done.content
    assert (done.json()["state"], done.json()["outcome"]) == ("done", "done")
    again = api_client.post(f"/api/v1/tasks/{task.pk}/claim")
    assert again.status_code == 409


def test_my_tasks_page_lists_and_completes_for_the_role(flow, client):
    planner = make_member(Role.PLANNING, flow["p1"], username="planner")
    planner.is_staff = True
    planner.save()
    client.force_login(planner)
    task = Task.objects.get(role="planning")
    page = client.get("/admin/orchestrator/task/mine/")
    assert page.status_code == 200
    assert "order completed: check the plan" in page.content.decode()
    home = client.get("/admin/")
    assert "My tasks" in home.content.decode()
    act = f"/admin/orchestrator/task/{task.pk}/act/"
    client.post(act, {"action": "claim"})
    detail = client.get(f"/admin/orchestrator/task/{task.pk}/change/")
    assert detail.status_code == 200
    assert 'data-task-action="complete"' in detail.content.decode()
    client.post(act, {"action": "complete", "outcome": "done", "comment": "checked"})
    task.refresh_from_db()
    assert (task.state, task.completed_by) == ("done", planner)
