"""Services of production orders and their operations."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import transaction

from plants.models import Item, Plant, UnitOfMeasure

from ..choices import OrderRevisionKind
from ..models import Operation, OrderRevision, ProductionOrder
from .lifecycle import actor_identity, transition_apply


@transaction.atomic
def order_create(
    *,
    plant: Plant,
    number: str,
    item: Item,
    target_qty: Decimal,
    uom: UnitOfMeasure,
    due_date: dt.date,
    routing_revision: str = "",
    bom_revision: str = "",
    erp_reference: str = "",
    operations: list[dict[str, Any]] | None = None,
) -> ProductionOrder:
    """Create an order in state ``created`` with its routing operations
    (``[{"sequence": "0010", "work_center": wc, "planned_qty": ...}, ...]``)."""
    order = ProductionOrder(
        plant=plant,
        number=number,
        item=item,
        target_qty=target_qty,
        uom=uom,
        due_date=due_date,
        routing_revision=routing_revision,
        bom_revision=bom_revision,
        erp_reference=erp_reference,
    )
    order.full_clean()
    order.save()
    for spec in operations or []:
        operation = Operation(order=order, **{"planned_qty": target_qty, **spec})
        operation.full_clean()
        operation.save()
    return order


_REVISABLE = {
    "routing_revision": OrderRevisionKind.ROUTING,
    "bom_revision": OrderRevisionKind.BOM,
    "target_qty": OrderRevisionKind.QUANTITY,
    "due_date": OrderRevisionKind.DUE_DATE,
}


@transaction.atomic
def order_revise(
    *,
    order: ProductionOrder,
    actor: Any,
    reason: str = "",
    correlation_id: str = "",
    **changes: Any,
) -> list[OrderRevision]:
    """Apply the ERP's new routing/BOM revision, quantity or due date to ``order`` and keep
    one :class:`OrderRevision` per changed value. Unchanged values write nothing."""
    unknown = set(changes) - set(_REVISABLE)
    if unknown:
        raise TypeError(f"order_revise cannot change {', '.join(sorted(unknown))}")
    locked = ProductionOrder.objects.select_for_update().get(pk=order.pk)
    _, label = actor_identity(actor)
    revisions = []
    for name, value in changes.items():
        previous = getattr(locked, name)
        if value is None or previous == value:
            continue
        setattr(locked, name, value)
        revisions.append(
            OrderRevision(
                order=locked,
                kind=_REVISABLE[name],
                previous_value=str(previous),
                new_value=str(value),
                actor_label=label,
                reason=reason,
                correlation_id=correlation_id,
            )
        )
    if revisions:
        locked.full_clean()
        locked.save()
        for revision in revisions:
            revision.full_clean()
            revision.save()
    order.refresh_from_db()
    return revisions


def order_release(
    *, order: ProductionOrder, actor: Any, reason: str = "", correlation_id: str | None = None
) -> ProductionOrder:
    """ERP released the order (it needs routing and BOM revisions and a quantity)."""
    return transition_apply(
        obj=order, transition="release", actor=actor, reason=reason, correlation_id=correlation_id
    )


def order_acknowledge(
    *, order: ProductionOrder, actor: Any, reason: str = "", correlation_id: str | None = None
) -> ProductionOrder:
    """MES acknowledged the released order."""
    return transition_apply(
        obj=order,
        transition="acknowledge",
        actor=actor,
        reason=reason,
        correlation_id=correlation_id,
    )


def order_hold(
    *, order: ProductionOrder, actor: Any, reason: str, correlation_id: str | None = None
) -> ProductionOrder:
    """Put the order on hold (a reason is required); ``order_resume`` returns to here."""
    return transition_apply(
        obj=order, transition="hold", actor=actor, reason=reason, correlation_id=correlation_id
    )


def order_resume(
    *, order: ProductionOrder, actor: Any, reason: str = "", correlation_id: str | None = None
) -> ProductionOrder:
    """Take the order off hold, back to the state it was held in."""
    return transition_apply(
        obj=order, transition="resume", actor=actor, reason=reason, correlation_id=correlation_id
    )


def order_cancel(
    *, order: ProductionOrder, actor: Any, reason: str, correlation_id: str | None = None
) -> ProductionOrder:
    """Cancel the order before production ran (or while on hold)."""
    return transition_apply(
        obj=order, transition="cancel", actor=actor, reason=reason, correlation_id=correlation_id
    )
