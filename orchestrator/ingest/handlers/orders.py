"""Production order release (ERP) and acknowledgment (MES)."""

from __future__ import annotations

import datetime as dt

from ...choices import OrderRevisionKind, OrderState
from ...models import Event, Operation, OrderComponent, OrderRevision, ProductionOrder
from .. import sequencing
from ..context import BatchContext
from ..masterdata import revision_reasons
from ..normalize import Reason
from ..world import (
    OrderBundle,
    Step,
    dec,
    get_item,
    get_order,
    get_uom,
    get_work_center,
    key_order_acknowledged,
    key_order_released,
    order_facts,
    rank,
    register_order,
    save_new,
)
from . import handles


def _missing(kind: str, path: str, code: str) -> Reason:
    return Reason(
        code=f"{kind}_unknown",
        path=path,
        message=f"{kind.replace('_', ' ')} {code} is not in the master data",
        expected=f"a canonical {kind.replace('_', ' ')}",
        found=code,
    )


@handles("production_order.released")
def released(ctx: BatchContext, event: Event) -> Step | None:
    """Create the order with its routing and reserved components and release it; a
    re-release of a known order revises its revisions and quantity (kept as
    :class:`OrderRevision` rows)."""
    p = event.payload
    plant = event.plant
    bundle = get_order(ctx, plant.pk, p["order"])
    if bundle is not None:
        order = bundle.order

        def revise() -> None:
            changes = {
                "routing_revision": (p["routing_revision"], OrderRevisionKind.ROUTING),
                "bom_revision": (p["bom_revision"], OrderRevisionKind.BOM),
                "target_qty": (dec(p["qty"]), OrderRevisionKind.QUANTITY),
            }
            for name, (value, kind) in changes.items():
                previous = getattr(order, name)
                if previous != value:
                    setattr(order, name, value)
                    ctx.mark(order, name)
                    ctx.add(
                        OrderRevision(
                            order=order,
                            kind=kind,
                            previous_value=str(previous),
                            new_value=str(value),
                            actor_label=ctx.actor_label,
                            correlation_id=event.correlation_id,
                        )
                    )
            if order.state == OrderState.CREATED:
                ctx.transition(order, "release", event=event)
            sequencing.fulfil(ctx, key_order_released(plant.code, order.number))

        return Step(apply=revise, order=order)

    # Master data the mapping could not guarantee (a mapped code whose canonical row is gone).
    reasons = []
    item = get_item(ctx, p["item"])
    if item is None:
        reasons.append(_missing("item", "payload.item", p["item"]))
    uom = get_uom(ctx, p["uom"])
    if uom is None:
        reasons.append(_missing("uom", "payload.uom", p["uom"]))
    operations = []
    for i, op in enumerate(p.get("operations", [])):
        wc = get_work_center(ctx, plant.pk, op["work_center"])
        if wc is None:
            reasons.append(
                _missing("work_center", f"payload.operations[{i}].work_center", op["work_center"])
            )
        operations.append((op, wc))
    components = []
    for i, comp in enumerate(p.get("components", [])):
        citem, cuom = get_item(ctx, comp["item"]), get_uom(ctx, comp["uom"])
        if citem is None:
            reasons.append(_missing("item", f"payload.components[{i}].item", comp["item"]))
        if cuom is None:
            reasons.append(_missing("uom", f"payload.components[{i}].uom", comp["uom"]))
        components.append((comp, citem, cuom))
    if reasons:
        ctx.quarantine(event, reasons)
        return None

    due = p.get("due_date")
    order = ProductionOrder(
        plant=plant,
        number=p["order"],
        item=item,
        target_qty=dec(p["qty"]),
        uom=uom,
        due_date=dt.date.fromisoformat(due) if due else event.occurred_at.date(),
        routing_revision=p["routing_revision"],
        bom_revision=p["bom_revision"],
        erp_reference=p.get("erp_reference", ""),
        erp_system=event.system if event.system.kind == "erp" else None,
    )

    def create() -> None:
        # A release is one event per order: saving at once (not buffered) gives the order
        # a key that later events of the same batch (and the rows below) point at.
        save_new(order)
        ops = [
            Operation(
                order=order,
                sequence=op["operation"],
                description=op.get("description", ""),
                work_center=wc,
                planned_qty=dec(op.get("qty", p["qty"])),
            )
            for op, wc in operations
        ]
        Operation.objects.bulk_create(ops)
        merged: dict[int, OrderComponent] = {}
        for comp, citem, cuom in components:
            if citem.pk in merged:  # the same component twice in the BOM: one reservation
                merged[citem.pk].qty += dec(comp["qty"])
            else:
                merged[citem.pk] = OrderComponent(
                    order=order, item=citem, qty=dec(comp["qty"]), uom=cuom
                )
        OrderComponent.objects.bulk_create(list(merged.values()))
        ctx.audit(
            order,
            transition="create",
            source="",
            target=OrderState.CREATED,
            correlation_id=event.correlation_id,
        )
        register_order(
            ctx,
            OrderBundle(
                order=order,
                operations={o.sequence: o for o in ops},
                components=merged,
                gates={},
                links={},
            ),
        )
        ctx.transition(order, "release", event=event, reason="released by ERP")
        sequencing.fulfil(ctx, key_order_released(plant.code, order.number))

    return Step(apply=create, order=order)


@handles("production_order.acknowledged")
def acknowledged(ctx: BatchContext, event: Event) -> Step | None:
    """MES acknowledged the release, at the routing and BOM revision ERP released (a
    mismatch is quarantined: MES would run an outdated routing)."""
    p = event.payload
    plant = event.plant
    bundle = get_order(ctx, plant.pk, p["order"])
    if bundle is None:
        ctx.park(
            event,
            waiting_for=key_order_released(plant.code, p["order"]),
            reason=f"waiting for the release of order {p['order']}",
        )
        return None
    order = bundle.order
    reasons = revision_reasons(
        order=order, routing_revision=p["routing_revision"], bom_revision=p["bom_revision"]
    )
    if reasons:
        ctx.quarantine(event, reasons)
        return None

    def apply() -> None:
        # Already acknowledged or further along: a late repeat changes nothing.
        if rank(order) < rank_of(OrderState.ACKNOWLEDGED):
            ctx.transition(order, "acknowledge", event=event, reason="acknowledged by MES")
        sequencing.fulfil(ctx, key_order_acknowledged(plant.code, order.number))

    return Step(apply=apply, order=order)


def rank_of(state: str) -> int:
    from ..world import ORDER_RANK

    return ORDER_RANK[state]


__all__ = ["acknowledged", "order_facts", "released"]
