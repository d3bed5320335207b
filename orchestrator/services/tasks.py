"""The task inbox: opening, claiming, completing, reassigning and escalating tasks.

- Inside ingest (handlers, rule actions) a task is opened with :func:`open_task_in_batch`:
  the row is buffered with ``ctx.add`` and written with the batch; the event, rule and
  correlation id on it say why it exists.
- Everywhere else (reconciliation, gate timeouts, services) :func:`open_task` saves it at
  once and writes an ``open`` audit record with the actor.
- People act through :func:`task_claim`, :func:`task_release`, :func:`task_complete`,
  :func:`task_reassign` and :func:`task_cancel`: each checks that the person holds the
  task's role at its plant (or, once escalated, the escalation role), moves the state by
  its django-fsm transition (``transition_apply``: row lock, save, audit record).
- :func:`tasks_escalate_overdue` (beat) escalates tasks past ``due_at``;
  ``orchestrator.services.tasks_mail`` e-mails the people of the role a link to each new
  or escalated task (woken after commit here; its names are importable from here too).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from interlock.errors import DomainError, ErrorDetail, NotAllowed
from plants.models import Membership

from ..ingest.context import audit_record
from ..models.tasks import ACTIVE_STATES, Task, TaskKind, TaskState
from .lifecycle import actor_identity, audit_step, transition_apply
from .roles import RULE_ROLES, holds_role
from .tasks_mail import MAIL_TASK as MAIL_TASK
from .tasks_mail import escalation_role_for, tasks_mail_wake
from .tasks_mail import role_recipients as role_recipients
from .tasks_mail import task_url as task_url
from .tasks_mail import tasks_mail_pending as tasks_mail_pending

logger = logging.getLogger(__name__)

SYSTEM_ACTOR = "system:interlock"


def _rule_roles() -> dict[str, tuple[str, ...]]:
    return RULE_ROLES


#: Hooks for tasks whose work is a decision made by another service (an approval task is
#: done by deciding its request): ``fn(task=, actor=, outcome=, comment=) -> bool``, True
#: when it handled the completion. Registered by the owning service module at import.
_COMPLETERS: list[Callable[..., bool]] = []


def register_task_completer(fn: Callable[..., bool]) -> Callable[..., bool]:
    if fn not in _COMPLETERS:
        _COMPLETERS.append(fn)
    return fn


def _task_key(*parts: Any) -> str:
    key = "|".join(str(p) for p in parts)
    if len(key) > 500:
        key = key[:400] + "#" + hashlib.sha256(key.encode()).hexdigest()
    return key


def _due(now: dt.datetime, due_in: dt.timedelta | int | None) -> dt.datetime | None:
    """``due_in`` is a timedelta or minutes."""
    if due_in is None or due_in == 0:
        return None
    if isinstance(due_in, dt.timedelta):
        return now + due_in
    return now + dt.timedelta(minutes=int(due_in))


def _check_kind(kind: str) -> None:
    if kind not in TaskKind.values:
        raise DomainError(
            message=f"Unknown task kind {kind!r}; known: {', '.join(TaskKind.values)}.",
            code="unknown_task_kind",
            details=[ErrorDetail(path="kind", code="invalid", message="unknown kind")],
        )


def _subject(subject: models.Model | None) -> dict[str, Any]:
    if subject is None or subject.pk is None:  # a row buffered in this batch has no key yet
        return {}
    return {
        "subject_type": ContentType.objects.get_for_model(type(subject)),
        "subject_id": str(subject.pk),
    }


def _build(
    *,
    now: dt.datetime,
    plant: Any,
    role: str,
    kind: str,
    title: str,
    details: dict | None,
    due_in: dt.timedelta | int | None,
    escalate_to: str,
    event: Any,
    order: Any,
    lot: Any,
    approval: Any,
    subject: models.Model | None,
    rule: str,
    correlation_id: str,
    key: str,
) -> Task:
    _check_kind(kind)
    task = Task(
        plant=plant,
        role=role,
        kind=kind,
        title=title[:300],
        details=details or {},
        due_at=_due(now, due_in),
        escalate_to=escalate_to or "",
        event=event,
        order=order,
        lot=lot,
        approval=approval,
        rule=rule[:200],
        correlation_id=(correlation_id or (event.correlation_id if event else ""))[:100],
        key=key,
        **_subject(subject),
    )
    task.created_at = now
    task.updated_at = now
    task.state_changed_at = now
    return task


def open_task_in_batch(
    ctx: Any,
    *,
    plant: Any,
    role: str,
    kind: str,
    title: str,
    details: dict | None = None,
    due_in: dt.timedelta | int | None = None,
    escalate_to: str = "",
    event: Any = None,
    order: Any = None,
    lot: Any = None,
    approval: Any = None,
    subject: models.Model | None = None,
    rule: str = "",
    correlation_id: str = "",
    key: str = "",
    while_open: bool = False,
) -> Task | None:
    """Open a task from inside ingest (a handler or a rule action): buffered with
    ``ctx.add`` and written with the batch. ``key`` (default: the event's idempotency key,
    the rule, role and kind) makes it idempotent: a re-applied event opens no second task.
    With ``while_open`` the key only holds while a task of that key is open (claimed or
    escalated included): once it is done or cancelled, the next one opens.
    Returns the unsaved task, or None when it exists already."""
    if not key:
        base = event.idempotency_key if event is not None else str(uuid.uuid4())
        key = _task_key(base, rule, role, kind, title[:60])
    opened = ctx.cache.setdefault("tasks_opened", set())
    existing = Task.objects.filter(key=key)
    if while_open:
        existing = existing.filter(state__in=ACTIVE_STATES)
    if key in opened or existing.exists():
        return None
    opened.add(key)
    task = _build(
        now=ctx.now,
        plant=plant,
        role=role,
        kind=kind,
        title=title,
        details=details,
        due_in=due_in,
        escalate_to=escalate_to,
        event=event,
        order=order,
        lot=lot,
        approval=approval,
        subject=subject,
        rule=rule,
        correlation_id=correlation_id,
        key=key,
    )
    ctx.add(task)
    if "tasks_mail_wake" not in ctx.cache:
        ctx.cache["tasks_mail_wake"] = True
        transaction.on_commit(tasks_mail_wake)
    return task


def _audit(task: Task, *, actor: Any, transition: str, source: str, target: str, reason: str):
    audit_step(
        task,
        actor=actor,
        transition=transition,
        source=source,
        target=target,
        reason=reason,
        correlation_id=task.correlation_id,
    )


def open_task(
    *,
    actor: Any = None,
    plant: Any,
    role: str,
    kind: str,
    title: str,
    details: dict | None = None,
    due_in: dt.timedelta | int | None = None,
    escalate_to: str = "",
    event: Any = None,
    order: Any = None,
    lot: Any = None,
    approval: Any = None,
    subject: models.Model | None = None,
    rule: str = "",
    correlation_id: str = "",
    key: str = "",
) -> Task:
    """Open a task outside ingest (``actor``: a person, a system label, or None for
    Interlock itself), saved at once with an ``open`` audit record. With ``key``, opening
    again returns the task already opened under it."""
    key = key or _task_key("task", uuid.uuid4())
    with transaction.atomic():
        existing = Task.objects.filter(key=key).first()
        if existing is not None:
            return existing
        task = _build(
            now=timezone.now(),
            plant=plant,
            role=role,
            kind=kind,
            title=title,
            details=details,
            due_in=due_in,
            escalate_to=escalate_to,
            event=event,
            order=order,
            lot=lot,
            approval=approval,
            subject=subject,
            rule=rule,
            correlation_id=correlation_id,
            key=key,
        )
        task.full_clean()
        task.save()
        _audit(
            task,
            actor=actor or SYSTEM_ACTOR,
            transition="open",
            source="",
            target=task.state,
            reason=f"for {role}: {title}",
        )
        transaction.on_commit(tasks_mail_wake)
    return task


# --- who may act ------------------------------------------------------------------------
def user_rule_roles(user: Any) -> dict[int | None, set[str]]:
    """The rule roles ``user`` holds, by plant id (``None``: every plant)."""
    people_roles = {}
    for plant_id, role in Membership.objects.filter(user=user).values_list("plant_id", "role"):
        people_roles.setdefault(plant_id, set()).add(role)
    held: dict[int | None, set[str]] = {}
    for plant_id, roles in people_roles.items():
        held[plant_id] = {
            rule_role for rule_role, grant in _rule_roles().items() if set(grant) & roles
        }
    return held


def inbox_filter(user: Any) -> Q:
    """The tasks addressed to ``user``: a role they hold at the task's plant, or the
    escalation role of an escalated task, or claimed by them."""
    if user is None or getattr(user, "pk", None) is None:
        return Q(pk__in=[])
    q = Q(assignee=user)
    for plant_id, roles in user_rule_roles(user).items():
        if not roles:
            continue
        where = Q() if plant_id is None else Q(plant_id=plant_id)
        q |= where & Q(role__in=roles)
        q |= where & Q(escalated_at__isnull=False, escalate_to__in=roles)
    return q


def inbox(user: Any, *, active_only: bool = True) -> QuerySet[Task]:
    """Tasks for ``user`` (selector behind "My tasks" and the counts)."""
    qs = Task.objects.filter(inbox_filter(user))
    if active_only:
        qs = qs.filter(state__in=ACTIVE_STATES)
    return qs


def may_act(user: Any, task: Task) -> bool:
    if getattr(user, "is_superuser", False) and user.is_active:
        return True
    if holds_role(user, task.role, task.plant_id):
        return True
    return bool(
        task.escalated_at and task.escalate_to and holds_role(user, task.escalate_to, task.plant_id)
    )


def _require(user: Any, task: Task) -> None:
    if not may_act(user, task):
        raise NotAllowed(
            f"Only a person holding the role {task.role!r} at plant {task.plant.code} "
            "may work on this task."
        )


def _reason_required(text: str, path: str) -> str:
    text = (text or "").strip()
    if not text:
        raise DomainError(
            message="Say why.",
            code="reason_required",
            details=[ErrorDetail(path=path, code="required", message=f"A {path} is required.")],
        )
    return text


# --- people's actions -------------------------------------------------------------------
def task_claim(*, task: Task, actor: Any) -> Task:
    """``actor`` takes the task (open or escalated → claimed)."""
    _require(actor, task)
    return transition_apply(
        obj=task,
        transition="claim",
        actor=actor,
        reason=f"claimed by {actor_identity(actor)[1]}",
        correlation_id=task.correlation_id or None,
        updates={"assignee": actor, "claimed_at": timezone.now()},
    )


def task_release(*, task: Task, actor: Any, reason: str = "") -> Task:
    """The assignee (or another holder of the role) gives the task back (claimed → open)."""
    _require(actor, task)
    return transition_apply(
        obj=task,
        transition="release",
        actor=actor,
        reason=reason or "given back to the role",
        correlation_id=task.correlation_id or None,
        updates={"assignee": None, "claimed_at": None},
    )


def task_complete(*, task: Task, actor: Any, outcome: str = "done", comment: str = "") -> Task:
    """Done, with an ``outcome`` (``done``, ``approved``, ``corrected``, ``accepted``...)
    and a comment. A task claimed by someone else cannot be completed by ``actor``."""
    _require(actor, task)
    comment = _reason_required(comment, "comment")
    outcome = (outcome or "done").strip()[:40]
    if task.assignee_id and getattr(actor, "pk", None) != task.assignee_id:
        raise NotAllowed(
            f"This task is claimed by {task.assignee.get_username()}; they complete it "
            "(or give it back)."
        )
    for completer in _COMPLETERS:
        if completer(task=task, actor=actor, outcome=outcome, comment=comment):
            task.refresh_from_db()
            return task
    return transition_apply(
        obj=task,
        transition="complete",
        actor=actor,
        reason=f"{outcome}: {comment}",
        correlation_id=task.correlation_id or None,
        updates={
            "assignee": task.assignee or (actor if getattr(actor, "pk", None) else None),
            "completed_by": actor if getattr(actor, "pk", None) else None,
            "completed_at": timezone.now(),
            "outcome": outcome,
            "comment": comment,
        },
    )


def task_complete_by_system(*, task: Task, outcome: str, comment: str, actor: Any = None) -> Task:
    """Close a task whose work was done elsewhere (its approval decided in the approvals
    admin, its exception corrected): no role check, the actor is recorded."""
    return transition_apply(
        obj=task,
        transition="complete",
        actor=actor or SYSTEM_ACTOR,
        reason=f"{outcome}: {comment}"[:2000],
        correlation_id=task.correlation_id or None,
        updates={
            "completed_by": actor if getattr(actor, "pk", None) else None,
            "completed_at": timezone.now(),
            "outcome": outcome[:40],
            "comment": comment,
        },
    )


def task_cancel(*, task: Task, actor: Any, reason: str) -> Task:
    """No longer needed; a reason is required."""
    if not isinstance(actor, str) and actor is not None:
        _require(actor, task)
    reason = _reason_required(reason, "reason")
    return transition_apply(
        obj=task,
        transition="cancel",
        actor=actor or SYSTEM_ACTOR,
        reason=reason,
        correlation_id=task.correlation_id or None,
    )


def task_reassign(*, task: Task, actor: Any, role: str = "", assignee: Any = None, reason: str):
    """Hand the task to another ``role`` at its plant and/or another person holding its
    role (audited as field ``role`` / ``assignee``; the state does not change)."""
    _require(actor, task)
    reason = _reason_required(reason, "reason")
    if role and role not in _rule_roles():
        raise DomainError(
            message=f"Unknown role {role!r}.",
            code="unknown_role",
            details=[ErrorDetail(path="role", code="invalid", message="unknown role")],
        )
    with transaction.atomic():
        locked = Task.objects.select_for_update().select_related("plant").get(pk=task.pk)
        if locked.state not in ACTIVE_STATES:
            raise DomainError(
                message=f"This task is {locked.state}; only open work can be reassigned.",
                code="task_not_active",
                http_status=409,
            )
        changes: list[tuple[str, str, str]] = []
        if role and role != locked.role:
            changes.append(("role", locked.role, role))
            locked.role = role
        if assignee is not None and assignee.pk != locked.assignee_id:
            if not holds_role(assignee, locked.role, locked.plant_id):
                raise DomainError(
                    message=f"{assignee.get_username()} does not hold the role "
                    f"{locked.role!r} at {locked.plant.code}.",
                    code="assignee_lacks_role",
                    details=[ErrorDetail(path="assignee", code="invalid", message="no role")],
                )
            before = locked.assignee.get_username() if locked.assignee_id else ""
            changes.append(("assignee", before, assignee.get_username()))
            locked.assignee = assignee
        if not changes:
            return locked
        locked.save(update_fields=["role", "assignee", "updated_at"])
        user, label = actor_identity(actor)
        for field, source, target in changes:
            audit_record(
                locked,
                actor=user,
                actor_label=label,
                field_name=field,
                transition="reassign",
                source=source,
                target=target,
                reason=reason[:2000],
                correlation_id=locked.correlation_id or str(uuid.uuid4()),
            ).save()
        if any(f == "role" for f, _, _ in changes):
            Task.objects.filter(pk=locked.pk).update(emailed_at=None)
            transaction.on_commit(tasks_mail_wake)
    task.refresh_from_db()
    return locked


def tasks_cancel_for_approval(*, approval: Any, actor: Any, outcome: str, comment: str) -> int:
    """The approval behind these tasks was decided (in the approvals admin or the API):
    their tasks are done with the decision as outcome."""
    done = 0
    for task in Task.objects.filter(approval=approval, state__in=ACTIVE_STATES):
        task_complete_by_system(task=task, outcome=outcome, comment=comment, actor=actor)
        done += 1
    return done


# --- escalation ---------------------------------------------------------------------------
def tasks_escalate_overdue(*, now: dt.datetime | None = None) -> int:
    """Escalate every open or claimed task past ``due_at`` (never escalated before) to its
    escalation role (``escalate_to``, else the plant admin): state ``escalated``, the claim
    dropped, audited as ``system:interlock``, and the escalation role e-mailed. Rows are
    taken with ``SKIP LOCKED`` and only still-active ones change: running twice is
    harmless."""
    now = now or timezone.now()
    count = 0
    with transaction.atomic():
        due = list(
            Task.objects.select_for_update(skip_locked=True)
            .filter(
                state__in=(TaskState.OPEN, TaskState.CLAIMED),
                due_at__lte=now,
                escalated_at__isnull=True,
            )
            .order_by("pk")
        )
        for task in due:
            role = escalation_role_for(task)
            transition_apply(
                obj=task,
                transition="escalate",
                actor=SYSTEM_ACTOR,
                reason=f"not done by {task.due_at:%Y-%m-%d %H:%M}; escalated to {role}",
                correlation_id=task.correlation_id or None,
                updates={
                    "escalate_to": role,
                    "escalated_at": now,
                    "assignee": None,
                    "claimed_at": None,
                    "emailed_at": None,
                },
            )
            count += 1
        if count:
            transaction.on_commit(tasks_mail_wake)
    return count
