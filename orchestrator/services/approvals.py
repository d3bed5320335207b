"""Human approvals a rule required (``require_approval``): deciding them and escalating
the overdue ones.

The action records an :class:`~orchestrator.models.ApprovalRequest` and holds the
subject's ``approval`` gate closed. :func:`approval_decide` lets a person holding the
request's role at its plant approve (the gate opens through its transition and the events
parked on it are applied) or reject (the gate stays closed). :func:`approvals_escalate`
(the Celery task ``orchestrator.escalate_overdue_approvals``) moves pending requests past
``due_at`` to ``escalated`` and notifies ``escalate_to`` (else the plant admin).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from interlock.errors import Conflict, DomainError, ErrorDetail, NotAllowed
from plants.choices import Role

from ..ingest import sequencing
from ..ingest.context import BatchContext, audit_record
from ..ingest.handlers import apply_one
from ..ingest.world import key_gate_open
from ..models import ApprovalRequest, Event, GateState, Notification
from ..models.notifications import ApprovalState, NotificationKind
from .counts import count_decided
from .lifecycle import actor_identity, transition_apply
from .proposals import proposals_decided
from .roles import RULE_ROLES, holds_role
from .tasks import register_task_completer, tasks_cancel_for_approval

ESCALATION_ACTOR = "system:interlock"

DECIDABLE = (ApprovalState.PENDING, ApprovalState.ESCALATED)

#: What deciding an approval does besides its gate, by the type of the event that asked
#: for it (a cycle count over tolerance: post the ERP adjustment, resume picks; an
#: exposure's proposals: post them to the ERP, or close them).
DECISION_EFFECTS: dict[str, Callable[..., None]] = {
    "cycle_count.recorded": count_decided,
    "asn.delayed": proposals_decided,
    "machine.downtime": proposals_decided,
}


def escalation_role(request: ApprovalRequest) -> str:
    return request.escalate_to or Role.PLANT_ADMIN


def may_decide(user: Any, request: ApprovalRequest) -> bool:
    """The request's role at its plant; once escalated, the escalation role too."""
    if holds_role(user, request.role, request.plant_id):
        return True
    return request.state == ApprovalState.ESCALATED and holds_role(
        user, escalation_role(request), request.plant_id
    )


def _audit(
    request: ApprovalRequest, *, actor: Any, transition: str, source: str, reason: str
) -> None:
    user, label = actor_identity(actor)
    audit_record(
        request,
        actor=user,
        actor_label=label,
        transition=transition,
        source=source,
        target=request.state,
        reason=reason[:2000],
        correlation_id=request.correlation_id,
    ).save()


def _release_parked(request: ApprovalRequest, label: str) -> list[Event]:
    """Apply the events parked on the (now open) gate, as the pipeline would."""
    gate = request.gate
    if gate is None or gate.order_id is None:
        return []
    ctx = BatchContext(actor_label=label, now=timezone.now())
    sequencing.fulfil(ctx, key_gate_open(gate.kind, request.plant.code, gate.order.number))
    sequencing.drain(ctx, apply_one)
    ctx.flush()
    ctx.save_outcomes()
    return list(ctx.touched.values())


def approval_decide(
    *, request: ApprovalRequest, actor: Any, approve: bool, reason: str
) -> ApprovalRequest:
    """Approve or reject ``request`` as ``actor`` (who must hold its role at its plant).

    Approve: the request is ``approved`` and its gate opens (transition ``open``, audited),
    releasing the events parked on it. Reject: ``rejected``, the gate stays closed.
    Who, when and why are kept on the request and in an audit record.
    """
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(
            message="Say why.",
            code="reason_required",
            details=[ErrorDetail(path="reason", code="required", message="A reason is required.")],
        )
    _, label = actor_identity(actor)
    with transaction.atomic():
        locked = (
            ApprovalRequest.objects.select_for_update(of=("self",))
            .select_related("plant", "gate", "gate__order")
            .get(pk=request.pk)
        )
        if not may_decide(actor, locked):
            raise NotAllowed(
                f"Only a person holding the role {locked.role!r} at plant "
                f"{locked.plant.code} may decide this approval."
            )
        if locked.state not in DECIDABLE:
            raise Conflict(
                f"This approval is already {locked.state}.", code="approval_already_decided"
            )
        source = locked.state
        locked.state = ApprovalState.APPROVED if approve else ApprovalState.REJECTED
        locked.decided_by = actor
        locked.decided_at = timezone.now()
        locked.decision_reason = reason[:500]
        locked.save(update_fields=["state", "decided_by", "decided_at", "decision_reason"])
        _audit(
            locked,
            actor=actor,
            transition="approve" if approve else "reject",
            source=source,
            reason=reason,
        )
        tasks_cancel_for_approval(
            approval=locked,
            actor=actor,
            outcome="approved" if approve else "rejected",
            comment=reason,
        )
        gate = locked.gate
        if approve and gate is not None and gate.state == GateState.CLOSED:
            others = gate.approval_requests.exclude(pk=locked.pk).filter(state__in=DECIDABLE)
            if not others.exists():  # every pending approval on the gate is decided
                transition_apply(
                    obj=gate,
                    transition="open",
                    actor=actor,
                    reason=f"approved by {label}: {reason}"[:2000],
                    correlation_id=locked.correlation_id,
                )
                gate.refresh_from_db()
                locked.gate = gate
                _release_parked(locked, label)
        effect = DECISION_EFFECTS.get(locked.event.event_type) if locked.event_id else None
        if effect is not None:
            effect(request=locked, actor=actor, approve=approve, reason=reason)
    request.refresh_from_db()
    return locked


def approvals_escalate(*, now: dt.datetime | None = None) -> int:
    """Escalate every pending request past ``due_at``; returns how many. Only rows still
    ``pending`` are changed (locked, ``SKIP LOCKED``), so running it twice is harmless."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            ApprovalRequest.objects.select_for_update(skip_locked=True)
            .filter(state=ApprovalState.PENDING, due_at__lte=now)
            .order_by("pk")
        )
        for request in due:
            request.state = ApprovalState.ESCALATED
            request.escalated_at = now
            request.save(update_fields=["state", "escalated_at"])
            role = escalation_role(request)
            Notification.objects.create(
                plant_id=request.plant_id,
                kind=NotificationKind.NOTIFY,
                role=role,
                message=f"approval overdue, escalated to {role}: {request.reason}"[:500],
                details={"approval_request": request.pk, "role": request.role},
                event_id=request.event_id,
                rule=request.rule,
                correlation_id=request.correlation_id,
                created_at=now,
            )
            _audit(
                request,
                actor=ESCALATION_ACTOR,
                transition="escalate",
                source=ApprovalState.PENDING,
                reason=f"not decided by {request.due_at:%Y-%m-%d %H:%M}; escalated to {role}",
            )
    return len(due)


def _complete_approval_task(*, task: Any, actor: Any, outcome: str, comment: str) -> bool:
    """An approval task is done by deciding its request (which completes every task of
    the request, this one included)."""
    if task.approval_id is None:
        return False
    if outcome not in ("approved", "rejected"):
        raise DomainError(
            message="An approval task is completed with outcome 'approved' or 'rejected'.",
            code="approval_outcome_required",
            details=[ErrorDetail(path="outcome", code="invalid", message=outcome)],
        )
    approval_decide(
        request=task.approval, actor=actor, approve=outcome == "approved", reason=comment
    )
    return True


register_task_completer(_complete_approval_task)
__all__ = ["RULE_ROLES", "approval_decide", "approvals_escalate", "holds_role", "may_decide"]
