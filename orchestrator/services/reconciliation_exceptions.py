"""Reconciliation, part two (scenario 9): the exceptions a run opens and their correction
workflow.

Each difference a run finds opens a
:class:`~orchestrator.models.reconciliation.ReconciliationException` (:func:`exception_open`,
once: later runs update the open one) with a ``correct`` task for the plant's
``reconciliation.role``. A person then works it: :func:`exception_assign`,
:func:`exception_correct` (the correcting message to the system through the outbox, see
:func:`correction_for`), :func:`exception_accept` (with a reason), and
:func:`exception_close`. Completing the exception's task as ``corrected`` or
``accepted`` does the same. A later run that no longer finds the difference closes it
(:func:`exception_verify`). Every step leaves an audit record with its actor.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from interlock.errors import DomainError, ErrorDetail, NotAllowed
from plants.models import Plant
from plants.selectors import site_parameter

from ..models import OutboxMessage
from ..models.reconciliation import (
    ExceptionState,
    ReconciliationException,
    ReconciliationRun,
)
from ..models.tasks import ACTIVE_STATES, TaskKind
from .lifecycle import audit_step as _audit_step
from .lifecycle import transition_apply
from .outbox import outbox_system_for, outbox_wake_on_commit
from .reconciliation_compare import POSTED_STATES, Difference, qty_text
from .roles import holds_role
from .tasks import open_task, register_task_completer, task_complete_by_system

SYSTEM_ACTOR = "system:interlock"


def audit_step(
    obj, *, actor: Any, transition: str, source: str, target: str, reason: str, cid: str
) -> None:
    """One audit record of a reconciliation step (a run's start and finish, an
    exception's transitions outside ``transition_apply``)."""
    _audit_step(
        obj,
        actor=actor,
        transition=transition,
        source=source,
        target=target,
        reason=reason,
        correlation_id=cid,
    )


def _run_name(run: ReconciliationRun) -> str:
    """A run as the audit trail names it: plant and time, and its id to find it."""
    return f"the {run.plant.code} reconciliation of {run.started_at:%Y-%m-%d %H:%M} (run {run.pk})"


def exception_open(*, run: ReconciliationRun, plant: Plant, d: Difference, cid: str):
    exception = ReconciliationException(
        plant=plant,
        run=run,
        last_seen_run=run,
        system=d.system,
        subject_kind=d.subject_kind,
        subject=d.subject[:80],
        field=d.field,
        interlock_value=d.interlock_value[:200],
        system_value=d.system_value[:200],
        difference=d.difference,
        tolerance=d.tolerance,
        order=d.order,
        lot=d.lot,
        correlation_id=cid,
    )
    exception.state_changed_at = timezone.now()
    exception.save()
    audit_step(
        exception,
        actor=SYSTEM_ACTOR,
        transition="open",
        source="",
        target=exception.state,
        reason=f"found by {_run_name(run)}",
        cid=cid,
    )
    role = str(site_parameter(key="reconciliation.role", plant=plant))
    due = site_parameter(key="reconciliation.due", plant=plant)
    task = open_task(
        plant=plant,
        role=role,
        kind=TaskKind.CORRECT,
        title=f"Reconcile {exception}",
        details={
            "reconciliation_exception": exception.pk,
            "run": run.pk,
            "system": d.system,
            "field": d.field,
            "interlock": d.interlock_value,
            "system_value": d.system_value,
            "tolerance": d.tolerance,
            "correction": describe_correction(exception) or "none automatic: accept with a reason",
        },
        due_in=due,
        order=d.order,
        lot=d.lot,
        subject=exception,
        rule="reconciliation",
        correlation_id=cid,
        key=f"reconciliation:{exception.pk}",
    )
    ReconciliationException.objects.filter(pk=exception.pk).update(task=task)
    return exception


def exception_verify(exception: ReconciliationException, *, run: ReconciliationRun) -> None:
    """A run no longer finds the difference: the exception closes (audited)."""
    transition_apply(
        obj=exception,
        transition="close",
        actor=SYSTEM_ACTOR,
        reason=f"{_run_name(run)} finds {exception.system.upper()} and Interlock in agreement",
        correlation_id=exception.correlation_id,
        updates={"last_seen_run": run},
    )
    if exception.task_id:
        task = exception.task
        if task.state in ACTIVE_STATES:
            task_complete_by_system(
                task=task, outcome="resolved", comment=f"verified by {_run_name(run)}"
            )


# --- corrections ------------------------------------------------------------------------------
def correction_for(exception: ReconciliationException) -> tuple[str, dict] | None:
    """``(message type, canonical payload)`` that makes the system agree with Interlock,
    or None when no message can (the system is the source: accept with a reason)."""
    if exception.system != "erp":
        return None
    order = exception.order
    if exception.subject_kind == "order" and order is not None:
        diff = exception.difference or Decimal(0)
        if exception.field == "scrapped_qty" and diff > 0:
            return "scrap", {
                "order": order.number,
                "qty": qty_text(diff),
                "uom": order.uom.code,
                "reason": "reconciliation correction",
            }
        if exception.field == "produced_qty" and diff > 0:
            last = order.operations.order_by("-sequence").first()
            return "operation.confirmation", {
                "order": order.number,
                "operation": last.sequence if last else "",
                "qty": qty_text(diff),
                "uom": order.uom.code,
                "reason": "reconciliation correction",
            }
        if exception.field == "status" and order.state in POSTED_STATES:
            return "order.settle", {"order": order.number, "reason": "reconciliation correction"}
    if exception.subject_kind == "lot" and exception.field == "status" and exception.lot:
        return "lot.status_change", {
            "lot": exception.lot.number,
            "status": exception.lot.status,
            "reason": "reconciliation correction",
        }
    return None


def describe_correction(exception: ReconciliationException) -> str:
    correction = correction_for(exception)
    if correction is None:
        return ""
    message_type, payload = correction
    return f"post {message_type} to {exception.system.upper()}: " + ", ".join(
        f"{k}={v}" for k, v in payload.items() if k != "reason"
    )


def _may_work(actor: Any, exception: ReconciliationException) -> None:
    role = str(site_parameter(key="reconciliation.role", plant=exception.plant))
    if getattr(actor, "is_superuser", False) or holds_role(actor, role, exception.plant_id):
        return
    raise NotAllowed(
        f"Only a person holding the role {role!r} at plant {exception.plant.code} may work "
        "reconciliation exceptions."
    )


def _reason(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise DomainError(
            message="Say why.",
            code="reason_required",
            details=[ErrorDetail(path="reason", code="required", message="A reason is required.")],
        )
    return text


def exception_assign(
    *, exception: ReconciliationException, actor: Any, assignee: Any = None
) -> ReconciliationException:
    """``assignee`` (default: the actor) works this exception."""
    _may_work(actor, exception)
    assignee = assignee or actor
    _may_work(assignee, exception)
    return transition_apply(
        obj=exception,
        transition="assign",
        actor=actor,
        reason=f"assigned to {assignee.get_username()}",
        correlation_id=exception.correlation_id,
        updates={"assignee": assignee},
    )


def exception_correct(
    *, exception: ReconciliationException, actor: Any, reason: str
) -> ReconciliationException:
    """Queue the correcting message to the system (outbox, idempotent per exception) and
    mark the exception ``correction_posted``; the next run verifies and closes it."""
    _may_work(actor, exception)
    reason = _reason(reason)
    correction = correction_for(exception)
    if correction is None:
        raise DomainError(
            message=f"No message can correct {exception.field} in {exception.system.upper()}: "
            "accept the difference with a reason, or fix the source.",
            code="no_correction",
            http_status=409,
        )
    message_type, payload = correction
    with transaction.atomic():
        system_id = outbox_system_for(plant_id=exception.plant_id, kind=exception.system)
        now = timezone.now()
        message, created = OutboxMessage.objects.get_or_create(
            idempotency_key=f"reconciliation:{exception.pk}:{message_type}",
            defaults={
                "plant_id": exception.plant_id,
                "target_system": exception.system,
                "system_id": system_id,
                "message_type": message_type,
                "payload": payload,
                "rule": "reconciliation",
                "correlation_id": exception.correlation_id,
                "created_at": now,
                "next_attempt_at": now,
            },
        )
        if created and system_id is not None:
            outbox_wake_on_commit({system_id})
        done = transition_apply(
            obj=exception,
            transition="post_correction",
            actor=actor,
            reason=f"{message_type} queued for {exception.system.upper()}: {reason}",
            correlation_id=exception.correlation_id,
            updates={"correction": message, "resolution": reason},
        )
        _finish_task(exception, actor=actor, outcome="corrected", comment=reason)
    return done


def exception_accept(
    *, exception: ReconciliationException, actor: Any, reason: str
) -> ReconciliationException:
    """The difference is right or explained: accepted with a reason (no message sent)."""
    _may_work(actor, exception)
    reason = _reason(reason)
    with transaction.atomic():
        done = transition_apply(
            obj=exception,
            transition="accept",
            actor=actor,
            reason=reason,
            correlation_id=exception.correlation_id,
            updates={"resolution": reason},
        )
        _finish_task(exception, actor=actor, outcome="accepted", comment=reason)
    return done


def exception_close(
    *, exception: ReconciliationException, actor: Any, reason: str
) -> ReconciliationException:
    """Close an accepted exception (or a posted correction a person checked)."""
    _may_work(actor, exception)
    if exception.state not in (ExceptionState.ACCEPTED, ExceptionState.CORRECTION_POSTED):
        raise DomainError(
            message="Correct or accept the difference first; a run closes it once the "
            "system agrees.",
            code="not_resolved",
            http_status=409,
        )
    return transition_apply(
        obj=exception,
        transition="close",
        actor=actor,
        reason=_reason(reason),
        correlation_id=exception.correlation_id,
    )


def _finish_task(exception: ReconciliationException, *, actor: Any, outcome: str, comment: str):
    task = exception.task
    if task is not None and task.state in ACTIVE_STATES:
        task_complete_by_system(task=task, outcome=outcome, comment=comment, actor=actor)


def _complete_exception_task(*, task: Any, actor: Any, outcome: str, comment: str) -> bool:
    """A ``correct`` task of an exception is done by correcting or accepting it."""
    if (
        task.subject_type_id is None
        or task.subject_type.model_class() is not ReconciliationException
    ):
        return False
    exception = ReconciliationException.objects.get(pk=task.subject_id)
    if outcome == "corrected":
        exception_correct(exception=exception, actor=actor, reason=comment)
    elif outcome == "accepted":
        exception_accept(exception=exception, actor=actor, reason=comment)
    else:
        raise DomainError(
            message="A reconciliation task is completed as 'corrected' or 'accepted'.",
            code="reconciliation_outcome_required",
            details=[ErrorDetail(path="outcome", code="invalid", message=outcome)],
        )
    return True


register_task_completer(_complete_exception_task)
