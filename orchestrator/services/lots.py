"""Services of lots: creation, status changes, genealogy."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import transaction

from plants.models import Item, Plant, Supplier, UnitOfMeasure

from ..models import Lot, LotGenealogy, ProductionOrder
from .lifecycle import transition_apply, transition_to


@transaction.atomic
def lot_create(
    *,
    plant: Plant,
    number: str,
    item: Item,
    qty: Decimal,
    uom: UnitOfMeasure,
    expires_on: dt.date | None = None,
    supplier: Supplier | None = None,
    supplier_lot: str = "",
    producing_order: ProductionOrder | None = None,
) -> Lot:
    """Register a lot in status ``available`` (send it to inspection with
    ``lot_change_status`` when it must be inspected first)."""
    lot = Lot(
        plant=plant,
        number=number,
        item=item,
        qty=qty,
        uom=uom,
        expires_on=expires_on,
        supplier=supplier,
        supplier_lot=supplier_lot,
        producing_order=producing_order,
    )
    lot.full_clean()
    lot.save()
    return lot


def lot_block(*, lot: Lot, actor: Any, reason: str, correlation_id: str | None = None) -> Lot:
    """Quarantine the lot: nothing may be issued from it."""
    return transition_apply(
        obj=lot, transition="block", actor=actor, reason=reason, correlation_id=correlation_id
    )


def lot_release(
    *, lot: Lot, actor: Any, reason: str = "", correlation_id: str | None = None
) -> Lot:
    """Make the lot unrestricted (refused for an expired lot)."""
    return transition_apply(
        obj=lot, transition="release", actor=actor, reason=reason, correlation_id=correlation_id
    )


def lot_change_status(
    *, lot: Lot, status: str, actor: Any, reason: str = "", correlation_id: str | None = None
) -> Lot:
    """Move the lot to a reported canonical status (``plants.choices.LotStatus``)
    through the transition that leads there; refused when none does."""
    return transition_to(
        obj=lot, target=status, actor=actor, reason=reason, correlation_id=correlation_id
    )


@transaction.atomic
def lot_genealogy_link(
    *, parent: Lot, child: Lot, qty: Decimal, order: ProductionOrder | None = None
) -> LotGenealogy:
    """Record that ``qty`` of ``parent`` went into ``child`` (through ``order``)."""
    link = LotGenealogy(parent=parent, child=child, qty=qty, order=order)
    link.full_clean()
    link.save()
    return link
