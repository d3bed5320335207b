"""Cycle counts (scenario 5): posting the ERP adjustment, and what a supervisor's decision
on a count over tolerance does.

A count within the plant's tolerance is accepted by the ``cycle-count`` rules and posted
at once (``post_stock_adjustment``). One over it pauses picks in the WMS and waits for a
supervisor (``hold_count_for_approval``); :func:`count_decided` is what deciding that
approval does (``services.approvals`` calls it): approved, the count is approved and
posted, the ERP gets the adjustment; rejected (a recount is due), the book stays. Either
way the WMS resumes picks: the pause was for the decision.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from ..models import CycleCount, OutboxMessage
from .lifecycle import transition_apply
from .outbox import outbox_system_for, outbox_wake_on_commit


def adjustment_payload(count: CycleCount) -> dict[str, Any]:
    """The ERP inventory adjustment of ``count`` (canonical codes; delivery maps them)."""
    return {
        "count": count.number,
        "item": count.item.code,
        "lot": count.lot.number if count.lot_id else "",
        "location": count.location,
        "book_qty": float(count.book_qty),
        "counted_qty": float(count.counted_qty),
        "variance_qty": float(count.variance_qty),
        "uom": count.uom.code,
    }


def picks_payload(count: CycleCount) -> dict[str, Any]:
    return {
        "count": count.number,
        "item": count.item.code,
        "lot": count.lot.number if count.lot_id else "",
        "location": count.location,
    }


def _outbox(count: CycleCount, *, kind: str, message: str, payload: dict, key: str, cid: str):
    system_id = outbox_system_for(plant_id=count.plant_id, kind=kind)
    now = timezone.now()
    OutboxMessage.objects.get_or_create(
        idempotency_key=key,
        defaults={
            "plant_id": count.plant_id,
            "target_system": kind,
            "system_id": system_id,
            "message_type": message,
            "payload": payload,
            "rule": "cycle count approval",
            "correlation_id": cid,
            "created_at": now,
            "next_attempt_at": now,
        },
    )
    if system_id is not None:
        outbox_wake_on_commit({system_id})


def count_decided(*, request, actor: Any, approve: bool, reason: str) -> None:
    """The supervisor decided the approval a count over tolerance asked for."""
    number = (request.event.payload or {}).get("count") if request.event_id else None
    count = CycleCount.objects.filter(plant_id=request.plant_id, number=number).first()
    if count is None or count.state != "approval_pending":
        return
    cid = request.correlation_id
    if approve:
        transition_apply(
            obj=count, transition="approve", actor=actor, reason=reason, correlation_id=cid
        )
        _outbox(
            count,
            kind="erp",
            message="inventory.adjustment",
            payload=adjustment_payload(count),
            key=f"cycle-count:{count.plant_id}:{count.number}:adjustment",
            cid=cid,
        )
        transition_apply(
            obj=count,
            transition="post",
            actor=actor,
            reason=f"ERP adjustment {count.variance_qty.normalize()} {count.uom.code}",
            correlation_id=cid,
        )
    else:
        transition_apply(
            obj=count, transition="reject", actor=actor, reason=reason, correlation_id=cid
        )
    _outbox(
        count,
        kind="wms",
        message="pick.resume",
        payload={**picks_payload(count), "reason": f"count {count.state}: {reason}"[:300]},
        key=f"cycle-count:{count.plant_id}:{count.number}:resume",
        cid=cid,
    )
