"""Scenario 2's actions: what a failed purchased lot reaches.

- ``reevaluate_allocations``: every open order at the plant that reserves the lot's item is
  re-evaluated without the lot (is the rest of the usable stock enough, in due-date
  order?), flagged in its audit trail, and given to the role (planning) as a task with the
  outcome.
- ``contain_consumption``: the work orders that already consumed the lot, and the lots made
  from it down the genealogy, listed in one containment task for the role (quality).
"""

from __future__ import annotations

from ..ingest.world import get_order
from ..selectors_exposure import lot_containment, lot_open_allocations
from ..services.tasks import open_task_in_batch
from . import ActionContext, implements
from .records import _key


@implements("reevaluate_allocations")
def reevaluate_allocations(a: ActionContext) -> dict:
    lot, params = a.step.lot, a.action.params
    if lot is None:
        return {"result": "no lot"}
    role = params.get("role", "planning")
    flagged = []
    for allocation in lot_open_allocations(lot=lot):
        bundle = get_order(a.ctx, a.event.plant_id, allocation["order"])
        if bundle is None:
            continue
        order = bundle.order
        verdict = (
            "covered by other lots"
            if allocation["covered_by_other_lots"]
            else f"short: {allocation['open_qty']} {allocation['uom']} open, "
            f"{allocation['other_lots_qty']} usable in other lots"
        )
        # The flag: the order's own trail says its allocation was re-evaluated and why.
        a.ctx.audit(
            order,
            transition="reevaluate_allocation",
            source=order.state,
            target=order.state,
            correlation_id=a.event.correlation_id,
            reason=f"lot {lot.number} of {lot.item.code} blocked; {verdict}",
        )
        open_task_in_batch(
            a.ctx,
            plant=a.event.plant,
            role=role,
            kind="review",
            title=f"Re-check allocation of order {order.number}: lot {lot.number} blocked "
            f"({verdict})",
            details={"lot": lot.number, "item": lot.item.code, **allocation},
            due_in=params.get("due_in"),
            event=a.event,
            order=order,
            lot=lot,
            rule=a.rule,
            key=_key(a, "allocation", order.number),
        )
        flagged.append({"order": order.number, "covered": allocation["covered_by_other_lots"]})
    return {"lot": lot.number, "flagged": flagged}


@implements("contain_consumption")
def contain_consumption(a: ActionContext) -> dict:
    lot, params = a.step.lot, a.action.params
    if lot is None:
        return {"result": "no lot"}
    reach = lot_containment(lot=lot)
    if not reach["orders"] and not reach["lots_made"]:
        return {"lot": lot.number, "orders": []}
    open_task_in_batch(
        a.ctx,
        plant=a.event.plant,
        role=params.get("role", "quality_lead"),
        kind="contain",
        title=f"Contain lot {lot.number}: {reach['consumed_qty']} {reach['uom']} consumed by "
        f"{', '.join(reach['orders'])}",
        details=reach,
        due_in=params.get("due_in"),
        event=a.event,
        lot=lot,
        rule=a.rule,
        key=_key(a, "contain", lot.number),
    )
    return {"lot": lot.number, "orders": reach["orders"]}
