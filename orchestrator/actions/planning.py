"""Planning actions of scenarios 6, 7 and 8: what the planning system (the ERP) is told
through the outbox, and the exposure records people work from.

- ``flag_replenishment``: ``replenishment.flag`` to the ERP for the item and line whose
  scrap crossed the plant's threshold in the window (scenario 6).
- ``record_supply_exposure``: the :class:`~orchestrator.models.Exposure` of a delayed
  ASN (the at-risk orders at every plant, each with a reallocation proposal from other
  plants' stock where there is any) and ``order.date_at_risk`` to the ERP per order
  (scenario 7).
- ``record_line_stoppage``: the exposure of a stoppage of a constrained work center (the
  orders at risk, each with an alternate routing or plant from master data), and
  ``capacity.update`` to the ERP (scenario 8).

- ``approve_proposals``: the exposure's proposals wait for a person with the role (an
  approval request and its task); deciding it does what
  ``services.proposals.proposals_decided`` says (post them to the ERP, or close them).

What the handler found (the at-risk orders) waits in ``ctx.cache["exposures"]`` under
the event's id: the handler computes it once, for the rules' facts and for these actions.
"""

from __future__ import annotations

from typing import Any

from ..ingest.context import TransitionRefused
from ..models import Exposure, Notification, OutboxMessage, ProposalKind
from ..models.notifications import NotificationKind
from ..services.exposures import Found
from ..services.tasks import open_task_in_batch
from . import ActionContext, implements
from .records import _key, _outbox_system, new_approval_request


def _post(a: ActionContext, message: str, payload: dict[str, Any], *parts: str) -> str:
    """One outbox row to the planning system (``system`` param, default the ERP)."""
    kind = a.action.params.get("system", "erp")
    key = _key(a, kind, message, *parts)
    a.ctx.add(
        OutboxMessage(
            plant=a.event.plant,
            target_system=kind,
            system_id=_outbox_system(a, kind),
            next_attempt_at=a.ctx.now,
            message_type=message,
            payload=payload,
            idempotency_key=key,
            event=a.event,
            rule=a.rule,
            correlation_id=a.event.correlation_id,
            created_at=a.ctx.now,
        )
    )
    return key


def _tell(a: ActionContext, exposure: Exposure, found: Found) -> list[str]:
    """Tell the roles in ``notify`` (customer service) at **each plant at risk** which of
    its orders and dates the exposure puts at risk: a notification and a task to review,
    linked to the exposure page."""
    roles = a.action.params.get("notify") or []
    by_plant: dict[int, list] = {}
    for line in found.lines:
        by_plant.setdefault(line.order.plant_id, []).append(line)
    url = f"/admin/orchestrator/exposure/{exposure.pk}/change/"
    for lines in by_plant.values():
        plant = lines[0].order.plant
        orders = [
            {
                "order": line.order.number,
                "plant": plant.code,
                "due_date": line.due_date.isoformat(),
                "proposal": line.proposal_text,
            }
            for line in lines
        ]
        dates = ", ".join(f"{o['order']} (due {o['due_date']})" for o in orders)
        message = f"order dates at risk at {plant.code}: {dates} ({exposure.title})"[:500]
        details = {"exposure": exposure.pk, "exposure_url": url, "orders": orders}
        for role in roles:
            open_task_in_batch(
                a.ctx,
                plant=plant,
                role=role,
                kind="review",
                title=message[:300],
                details=details,
                event=a.event,
                subject=exposure,
                rule=a.rule,
                correlation_id=a.event.correlation_id,
                key=_key(a, "exposure-task", plant.code, role),
            )
            a.ctx.add(
                Notification(
                    plant=plant,
                    kind=NotificationKind.NOTIFY,
                    role=role,
                    message=message,
                    details=details,
                    event=a.event,
                    rule=a.rule,
                    correlation_id=a.event.correlation_id,
                    created_at=a.ctx.now,
                )
            )
    return roles


@implements("flag_replenishment")
def flag_replenishment(a: ActionContext) -> dict:
    derived = a.step.derived
    payload = {
        "item": derived.get("window_item", ""),
        "line": derived.get("line", ""),
        "window_qty": derived.get("window_qty", 0),
        "order": a.event.payload.get("order"),
        "reason": a.action.params["reason"],
    }
    return {"outbox": _post(a, "replenishment.flag", payload)}


@implements("record_supply_exposure")
def record_supply_exposure(a: ActionContext) -> dict:
    from ..services.exposures import exposure_record

    found = a.ctx.cache.get("exposures", {}).get(a.event.pk)
    if found is None:
        return {"result": "nothing at risk"}
    exposure = exposure_record(ctx=a.ctx, event=a.event, found=found, rule=a.rule)
    keys = []
    for line in found.lines:
        keys.append(
            _post(
                a,
                "order.date_at_risk",
                {
                    "order": line.order.number,
                    "order_plant": line.order.plant.code,
                    "item": line.item.code if line.item else "",
                    "need_date": line.need_date.isoformat() if line.need_date else None,
                    "due_date": line.order.due_date.isoformat(),
                    "available_at": found.until.isoformat() if found.until else None,
                    "reason": a.action.params["reason"],
                    "exposure": exposure.pk,
                },
                line.order.plant.code,
                line.order.number,
            )
        )
    told = _tell(a, exposure, found)
    return {"exposure": exposure.pk, "orders": len(found.lines), "outbox": len(keys), "told": told}


@implements("record_line_stoppage")
def record_line_stoppage(a: ActionContext) -> dict:
    from ..services.exposures import exposure_record

    found = a.ctx.cache.get("exposures", {}).get(a.event.pk)
    if found is None:
        return {"result": "nothing at risk"}
    exposure = exposure_record(ctx=a.ctx, event=a.event, found=found, rule=a.rule)
    key = _post(
        a,
        "capacity.update",
        {
            "work_center": found.work_center.code,
            "from": found.since.isoformat(),
            "until": found.until.isoformat() if found.until else None,
            "lost_hours": round(found.lost_hours, 3),
            "capacity_per_hour": float(found.work_center.capacity_per_hour or 0),
            "orders_at_risk": [line.order.number for line in found.lines],
            "reason": a.action.params["reason"],
            "exposure": exposure.pk,
        },
        found.work_center.code,
    )
    told = _tell(a, exposure, found)
    return {"exposure": exposure.pk, "orders": len(found.lines), "outbox": key, "told": told}


@implements("approve_proposals")
def approve_proposals(a: ActionContext) -> dict:
    """Hold the event's exposure's proposals for a person with the role: the exposure goes
    to ``proposed`` and links the approval request (once: a re-applied event finds it)."""
    params = a.action.params
    exposure = a.ctx.cache.get("exposure_records", {}).get(a.event.pk)
    if exposure is None:
        return {"result": "no exposure"}
    if exposure.proposal_state != "none":
        return {"exposure": exposure.pk, "result": exposure.proposal_state}
    proposals = [line for line in exposure.lines.all() if line.proposal != ProposalKind.NONE]
    if not proposals:
        return {"exposure": exposure.pk, "result": "nothing proposed"}
    minutes = params.get("timeout_minutes")
    request = new_approval_request(a, params["reason"])
    try:
        a.ctx.transition(exposure, "propose", event=a.event, reason=params["reason"][:300])
    except TransitionRefused as exc:  # pragma: no cover - checked above
        return {"exposure": exposure.pk, "result": exc.why}
    exposure.approval = request
    a.ctx.mark(exposure, "approval")
    summary = "; ".join(line.proposal_text for line in proposals)
    open_task_in_batch(
        a.ctx,
        plant=a.event.plant,
        role=params["role"],
        kind="approve",
        title=f"Approve: {params['reason']}"[:300],
        details={
            "approval_request": request.pk,
            "exposure": exposure.pk,
            "exposure_url": f"/admin/orchestrator/exposure/{exposure.pk}/change/",
            "proposals": [line.proposal_text for line in proposals],
        },
        due_in=minutes,
        escalate_to=params.get("escalate_to", ""),
        event=a.event,
        subject=exposure,
        approval=request,
        rule=a.rule,
        key=_key(a, "approve-proposals", str(exposure.pk)),
    )
    return {"exposure": exposure.pk, "approval": request.pk, "proposals": summary[:500]}
