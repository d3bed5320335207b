"""Services of dependency gates: the quality lead's override, and what an opened gate lets
through.

A gate that opens by its rule (``release_gate``) fulfils the sequencing key the gated work
waits on, inside the ingest batch. An override is a person's decision outside any batch,
so :func:`gate_override` does the same thing itself: the events parked on the gate are
applied, and the gated step (the goods receipt of an order) is posted to the ERP through
the outbox, exactly as the rule would have posted it. Without that, an overridden gate
would be "open" on the screen while the order stayed in quality pending.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from interlock.errors import DomainError, NotAllowed

from ..ingest import sequencing
from ..ingest.context import BatchContext
from ..ingest.handlers import apply_one
from ..ingest.world import key_gate_open
from ..models import Gate, GateState, OutboxMessage
from ..models.base import PERM_OVERRIDE_GATE
from .lifecycle import actor_identity, transition_apply
from .outbox import outbox_system_for, outbox_wake_on_commit

#: Gated steps that are a message to a system: overriding the gate posts it.
GATED_POSTINGS = {"goods_receipt": ("erp", "goods_receipt")}


def gate_release_waiting(*, gate: Gate, actor_label: str) -> int:
    """Apply the events parked on ``gate`` (now open or overridden), as the pipeline would;
    returns how many were applied."""
    if gate.order_id is None:
        return 0
    ctx = BatchContext(actor_label=actor_label, now=timezone.now())
    sequencing.fulfil(ctx, key_gate_open(gate.kind, gate.plant.code, gate.order.number))
    sequencing.drain(ctx, apply_one)
    ctx.flush()
    ctx.save_outcomes()
    return len(ctx.touched)


def gate_post_gated_step(*, gate: Gate, reason: str, correlation_id: str) -> OutboxMessage | None:
    """Queue the message the gated step sends (the ERP goods receipt of the gate's order).

    The idempotency key is the gate's, so overriding, closing and overriding again never
    posts the receipt twice."""
    posting = GATED_POSTINGS.get(gate.kind)
    if posting is None or gate.order_id is None:
        return None
    system_kind, message_type = posting
    order = gate.order
    lot = order.produced_lots.order_by("pk").first()
    payload: dict[str, Any] = {"order": order.number, "override_reason": reason[:500]}
    if lot is not None:
        payload["lot"] = lot.number
    if gate.inspection_id:
        payload["inspection"] = gate.inspection.number
    key = f"gate:{gate.pk}:{message_type}"
    message, created = OutboxMessage.objects.get_or_create(
        idempotency_key=key,
        defaults={
            "plant_id": gate.plant_id,
            "target_system": system_kind,
            "system_id": outbox_system_for(plant_id=gate.plant_id, kind=system_kind),
            "message_type": message_type,
            "payload": payload,
            "rule": "override",
            "correlation_id": correlation_id,
            "created_at": timezone.now(),
            "next_attempt_at": timezone.now(),
        },
    )
    if created and message.system_id is not None:
        outbox_wake_on_commit({message.system_id})
    return message


def gate_override(
    *, gate: Gate, actor: Any, reason: str, correlation_id: str | None = None
) -> Gate:
    """A quality lead lets the gated work through despite the gate, with a reason.

    The override is a transition (audited as ``override`` with the reason and the
    person); then the work that waited proceeds: parked events are applied and the gated
    posting is queued. Refused without ``orchestrator.override_gate`` at the gate's plant.
    """
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(message="An override needs a reason.", code="reason_required")
    if getattr(actor, "pk", None) is None or not actor.has_perm(PERM_OVERRIDE_GATE, gate):
        raise NotAllowed(
            f"Overriding gates at plant {gate.plant.code} needs the quality lead's permission."
        )
    _, label = actor_identity(actor)
    with transaction.atomic():
        if gate.state != GateState.OVERRIDDEN:
            transition_apply(
                obj=gate,
                transition="override",
                actor=actor,
                reason=reason,
                correlation_id=correlation_id,
            )
        gate.refresh_from_db()
        correlation_id = correlation_id or _last_correlation(gate)
        gate_post_gated_step(gate=gate, reason=reason, correlation_id=correlation_id)
        gate_release_waiting(gate=gate, actor_label=label)
    return gate


def _last_correlation(obj) -> str:
    from ..models import AuditRecord

    return AuditRecord.objects.for_object(obj).values_list("correlation_id", flat=True).first()
