"""What deciding the approval of an exposure's proposals does (scenarios 7 and 8).

The ``approve_proposals`` action holds an exposure's proposals for a person (the
exposure is ``proposed`` and links the approval request). :func:`proposals_decided` is
called by ``services.approvals`` when that request is decided:

- **approved**: each proposal is posted to the planning system (the ERP) through the
  outbox, then the exposure moves to ``approved`` with the approver as the actor:
  - an inter-plant reallocation → ``stock.transfer`` (item, quantity, from and to plant,
    for the order at risk): the ERP moves the stock between the plants;
  - an alternate routing or plant → ``order.reroute`` (the order, its operations on the
    stopped work center, the alternate work center and its plant): the ERP re-plans the
    order there.
- **rejected**: the exposure moves to ``rejected`` (the proposals are closed) and nothing
  is posted.

Each posting's idempotency key names the exposure and the line, so deciding twice (or a
retry after a failure) posts each proposal once.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from ..choices import OperationState
from ..models import Exposure, ExposureLine, OutboxMessage, ProposalKind, ProposalState
from .lifecycle import actor_identity, transition_apply
from .outbox import outbox_system_for, outbox_wake_on_commit

#: The message each kind of proposal is posted as.
MESSAGES = {
    ProposalKind.REALLOCATION: "stock.transfer",
    ProposalKind.ALTERNATE_ROUTING: "order.reroute",
    ProposalKind.ALTERNATE_PLANT: "order.reroute",
}

_OPEN_OPERATIONS = (OperationState.PENDING, OperationState.STARTED, OperationState.PAUSED)


def _qty(value) -> float | int:
    value = value.normalize()
    return int(value) if value == value.to_integral_value() else float(value)


def proposal_payload(exposure: Exposure, line: ExposureLine, *, approved_by: str) -> dict:
    """The ERP message of one approved proposal (canonical codes; delivery maps them)."""
    common = {
        "order": line.order.number,
        "order_plant": line.plant.code,
        "exposure": exposure.pk,
        "approved_by": approved_by,
        "reason": line.proposal_text,
    }
    if line.proposal == ProposalKind.REALLOCATION:
        return {
            **common,
            "transfer": f"EXP-{exposure.pk}-{line.pk}",
            "item": line.item.code,
            "qty": _qty(line.proposal_qty),
            "uom": line.item.base_uom.code,
            "from_plant": line.from_plant.code,
            "to_plant": line.plant.code,
        }
    stopped = exposure.work_center
    operations = list(
        line.order.operations.filter(work_center=stopped, state__in=_OPEN_OPERATIONS)
        .order_by("sequence")
        .values_list("sequence", flat=True)
    )
    return {
        **common,
        "work_center": stopped.code,
        "operations": [str(op) for op in operations],
        "to_work_center": line.alternate.code,
        "to_plant": line.alternate.plant.code,
        "move": line.proposal,
    }


def proposals_decided(*, request, actor: Any, approve: bool, reason: str) -> None:
    """The person with the role decided the approval of an exposure's proposals."""
    exposure = (
        Exposure.objects.filter(approval=request, proposal_state=ProposalState.PROPOSED)
        .select_related("work_center")
        .first()
    )
    if exposure is None:  # another approval of the same event (e.g. a substitution)
        return
    cid = request.correlation_id
    if not approve:
        transition_apply(
            obj=exposure,
            transition="reject",
            actor=actor,
            reason=f"proposals rejected, nothing posted: {reason}"[:2000],
            correlation_id=cid,
        )
        return
    _, label = actor_identity(actor)
    lines = (
        exposure.lines.exclude(proposal=ProposalKind.NONE)
        .select_related("order", "plant", "item__base_uom", "from_plant", "alternate__plant")
        .order_by("pk")
    )
    now, systems, posted = timezone.now(), set(), []
    for line in lines:
        message = MESSAGES[line.proposal]
        system_id = outbox_system_for(plant_id=line.plant_id, kind="erp")
        OutboxMessage.objects.get_or_create(
            idempotency_key=f"exposure:{exposure.pk}:line:{line.pk}:{message}",
            defaults={
                "plant_id": line.plant_id,
                "target_system": "erp",
                "system_id": system_id,
                "message_type": message,
                "payload": proposal_payload(exposure, line, approved_by=label),
                "event_id": exposure.event_id,
                "rule": request.rule or "proposal approval",
                "correlation_id": cid,
                "created_at": now,
                "next_attempt_at": now,
            },
        )
        if system_id is not None:
            systems.add(system_id)
        posted.append(f"{message} {line.order.number}")
    transition_apply(
        obj=exposure,
        transition="approve",
        actor=actor,
        reason=f"approved by {label}: {reason}; posted to the ERP: {', '.join(posted)}"[:2000],
        correlation_id=cid,
    )
    if systems:
        outbox_wake_on_commit(systems)
