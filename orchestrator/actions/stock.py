"""Scenario 4 and 5 actions on stock: a cycle count's ERP adjustment and its approval.

- ``post_stock_adjustment``: the count is accepted (within tolerance, by the rule) and
  posted; a non-zero variance goes to the ERP as ``inventory.adjustment``.
- ``hold_count_for_approval``: the count waits in ``approval_pending`` for a person with
  the role (an approval request, with its task); deciding it does what
  ``services.counts.count_decided`` says (adjustment and pick resume).
"""

from __future__ import annotations

from ..ingest.context import TransitionRefused
from ..models import CycleCount, OutboxMessage
from ..services.counts import adjustment_payload
from ..services.tasks import open_task_in_batch
from . import ActionContext, implements
from .records import _key, _outbox_system, new_approval_request


def _count(a: ActionContext) -> CycleCount | None:
    number = a.event.payload.get("count")
    return a.ctx.cache.get("cycle_counts", {}).get((a.event.plant_id, number))


@implements("post_stock_adjustment")
def post_stock_adjustment(a: ActionContext) -> dict:
    count = _count(a)
    if count is None:
        return {"result": "no count"}
    if count.state in ("posted", "rejected", "approval_pending"):
        return {"count": count.number, "result": count.state}
    try:
        if count.variance_qty != 0 and count.state == "recorded":
            a.ctx.transition(
                count, "accept_within_tolerance", event=a.event, reason=f"rule {a.rule}"
            )
        if count.variance_qty != 0:
            key = _key(a, "erp", "inventory.adjustment")
            a.ctx.add(
                OutboxMessage(
                    plant=a.event.plant,
                    target_system="erp",
                    system_id=_outbox_system(a, "erp"),
                    next_attempt_at=a.ctx.now,
                    message_type="inventory.adjustment",
                    payload=adjustment_payload(count),
                    idempotency_key=key,
                    event=a.event,
                    rule=a.rule,
                    correlation_id=a.event.correlation_id,
                    created_at=a.ctx.now,
                )
            )
        a.ctx.transition(count, "post", event=a.event, reason=f"rule {a.rule}")
    except TransitionRefused as exc:
        return {"count": count.number, "result": exc.why}
    return {"count": count.number, "state": count.state}


@implements("hold_count_for_approval")
def hold_count_for_approval(a: ActionContext) -> dict:
    count, params = _count(a), a.action.params
    if count is None:
        return {"result": "no count"}
    if count.state != "recorded":
        return {"count": count.number, "result": count.state}
    reason = params["reason"]
    a.ctx.transition(count, "request_approval", event=a.event, reason=reason)
    minutes = params.get("timeout_minutes")
    request = new_approval_request(a, f"count {count.number}: {reason}")
    open_task_in_batch(
        a.ctx,
        plant=a.event.plant,
        role=params["role"],
        kind="approve",
        title=f"Approve count {count.number}: {reason}"[:300],
        details={"approval_request": request.pk, **adjustment_payload(count)},
        due_in=minutes,
        escalate_to=params.get("escalate_to", ""),
        event=a.event,
        lot=count.lot,
        approval=request,
        rule=a.rule,
        key=_key(a, "approve", count.number),
    )
    return {"count": count.number, "approval": request.pk}
