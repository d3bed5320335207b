"""What a lot's problem reaches (scenario 2): the orders that consumed it and what they made
(containment, through genealogy), and the open orders that reserve its item (allocations
to re-evaluate). Read-only; the rule actions and the handlers' facts read through here."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import F, Sum
from django.utils import timezone

from plants.choices import LotStatus

from .choices import LotOrderRelation, OrderState
from .models import Lot, LotGenealogy, LotOrderLink, OrderComponent

#: Orders whose components may still be issued: their reservations are open allocations.
OPEN_ORDER_STATES = (
    OrderState.CREATED,
    OrderState.RELEASED,
    OrderState.ACKNOWLEDGED,
    OrderState.IN_PROCESS,
    OrderState.PARTIALLY_CONFIRMED,
    OrderState.ON_HOLD,
)
#: Deep enough for any real bill of materials; stops a cycle a bad import could make.
MAX_GENEALOGY_DEPTH = 20


def _q(value: Decimal) -> str:
    """A quantity as plain digits (``5000``, not ``5E+3``)."""
    return format(value.normalize(), "f") if value else "0"


def lot_consumed_qty(*, lot: Lot) -> Decimal:
    """How much of ``lot`` orders have consumed (material issues), in the lot's unit."""
    total = LotOrderLink.objects.filter(lot=lot, relation=LotOrderRelation.CONSUMED).aggregate(
        total=Sum("qty")
    )["total"]
    return total or Decimal(0)


def lot_containment(*, lot: Lot) -> dict:
    """The work orders that consumed ``lot``, and every lot made from it (down the
    genealogy, with the order that made each): what containment must reach."""
    consumers = [
        {
            "order": link.order.number,
            "state": link.order.state,
            "qty": _q(link.qty),
        }
        for link in LotOrderLink.objects.filter(lot=lot, relation=LotOrderRelation.CONSUMED)
        .select_related("order")
        .order_by("order__number")
    ]
    made, frontier, seen = [], [lot.pk], {lot.pk}
    for _ in range(MAX_GENEALOGY_DEPTH):
        links = list(
            LotGenealogy.objects.filter(parent_id__in=frontier)
            .select_related("child", "order", "parent")
            .order_by("child__number")
        )
        frontier = []
        for link in links:
            if link.child_id in seen:
                continue
            seen.add(link.child_id)
            frontier.append(link.child_id)
            made.append(
                {
                    "lot": link.child.number,
                    "status": link.child.status,
                    "from": link.parent.number,
                    "order": link.order.number if link.order_id else "",
                }
            )
        if not frontier:
            break
    orders = sorted({c["order"] for c in consumers} | {m["order"] for m in made if m["order"]})
    return {
        "lot": lot.number,
        "consumed_qty": _q(lot_consumed_qty(lot=lot)),
        "uom": lot.uom.code,
        "orders": orders,
        "consumed_by": consumers,
        "lots_made": made,
    }


def lot_open_allocations(*, lot: Lot) -> list[dict]:
    """Open orders at the lot's plant that reserve its item and still need some of it, each
    re-evaluated without this lot: is what else is usable of the item enough?"""
    components = list(
        OrderComponent.objects.filter(
            order__plant_id=lot.plant_id,
            order__state__in=OPEN_ORDER_STATES,
            item_id=lot.item_id,
            issued_qty__lt=F("qty"),
        )
        .select_related("order", "uom")
        .order_by("order__due_date", "order__number")
    )
    if not components:
        return []
    others = (
        Lot.objects.filter(plant_id=lot.plant_id, item_id=lot.item_id, status=LotStatus.AVAILABLE)
        .exclude(pk=lot.pk)
        .exclude(expires_on__lte=timezone.localdate())
    )
    usable = sum((o.qty - lot_consumed_qty(lot=o) for o in others), Decimal(0))
    out = []
    for component in components:
        need = component.qty - component.issued_qty
        covered = usable >= need
        out.append(
            {
                "order": component.order.number,
                "state": component.order.state,
                "due_date": component.order.due_date.isoformat()
                if component.order.due_date
                else "",
                "open_qty": _q(need),
                "uom": component.uom.code,
                "covered_by_other_lots": covered,
                "other_lots_qty": _q(max(usable, Decimal(0))),
            }
        )
        usable -= need  # allocated in due-date order
    return out


def supplier_case_evidence(*, lot: Lot | None, inspection, payload: dict) -> dict:
    """What a supplier case carries besides the event: the lot's item, quantity and unit,
    the supplier's own lot number, the inspection and its measurements."""
    if lot is None:
        return {}
    return {
        "item": lot.item.code,
        "qty": _q(lot.qty),
        "uom": lot.uom.code,
        "supplier_lot": lot.supplier_lot,
        "inspection": inspection.number if inspection is not None else payload.get("inspection"),
        "measurements": [
            {k: line.get(k) for k in ("characteristic", "value", "ok") if k in line}
            for line in payload.get("results", [])
            if isinstance(line, dict)
        ],
    }
