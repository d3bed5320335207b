"""Purchased material: the supplier goods receipt (scenario 2).

``supplier_receipt.posted`` is the ERP's goods receipt of one supplier lot, separate from
the shipment's ``asn.received``: it records a posted :class:`GoodsReceipt` (no order) and
creates the purchased lot with the received quantity, waiting for incoming inspection, or
updates the lot the ASN announced to what was actually received (the first receipt of a
lot replaces the announced quantity, a later one of the same lot adds to it). The ASN it
names is received if it was still announced or delayed.
"""

from __future__ import annotations

from django.utils.dateparse import parse_date

from plants.models.base import CODE_RE

from ...choices import AsnState
from ...models import Event, GoodsReceipt, Lot
from ..context import BatchContext
from ..normalize import Reason
from ..world import Step, dec, get_item, get_lot, get_uom, save_new
from . import handles
from .inventory import _asn, _supplier, receive_purchased_lot


def _refuse(ctx: BatchContext, event: Event, code: str, path: str, message: str, found) -> None:
    ctx.quarantine(event, [Reason(code=code, path=path, message=message, found=found)])


@handles("supplier_receipt.posted")
def supplier_receipt_posted(ctx: BatchContext, event: Event) -> Step | None:
    p, plant = event.payload, event.plant
    if not CODE_RE.match(p["receipt"]):
        _refuse(ctx, event, "invalid", "payload.receipt", "not a document number", p["receipt"])
        return None
    supplier = _supplier(ctx, p["supplier"])
    if supplier is None:
        _refuse(
            ctx, event, "supplier_unknown", "payload.supplier", "unknown supplier", p["supplier"]
        )
        return None
    item, uom = get_item(ctx, p["item"]), get_uom(ctx, p["uom"])
    if item is None or uom is None:
        _refuse(
            ctx,
            event,
            "master_data_missing",
            "payload",
            "unknown item or unit",
            [p["item"], p["uom"]],
        )
        return None
    lot = get_lot(ctx, plant.pk, p["lot"])
    if lot is not None and (lot.item_id != item.pk or lot.producing_order_id is not None):
        _refuse(
            ctx,
            event,
            "lot_mismatch",
            "payload.lot",
            f"lot {lot.number} is "
            + (f"of item {lot.item.code}" if lot.item_id != item.pk else "a produced lot"),
            p["lot"],
        )
        return None
    if GoodsReceipt.objects.filter(plant=plant, number=p["receipt"]).exists():
        return Step(apply=lambda: None, lot=lot)  # a replay: booked already
    qty = dec(p["qty"])
    asn = _asn(plant, p["asn"]) if p.get("asn") else None

    def apply() -> None:
        nonlocal lot
        if lot is None:
            lot = _new_lot(ctx, event, supplier, item, qty, uom)
        else:
            _update_lot(ctx, event, lot, qty)
        receipt = GoodsReceipt(
            plant=plant,
            number=p["receipt"],
            lot=lot,
            item=item,
            qty=qty,
            uom=uom,
            erp_document=p["receipt"],
            received_at=event.occurred_at,
        )
        save_new(receipt)
        ctx.audit(
            receipt,
            transition="create",
            source="",
            target=receipt.state,
            correlation_id=event.correlation_id,
            reason=f"supplier {supplier.code}, lot {lot.number}",
        )
        ctx.transition(receipt, "post", event=event, reason=f"ERP document {p['receipt']}")
        if asn is not None and asn.state in (AsnState.ANNOUNCED, AsnState.DELAYED):
            ctx.transition(asn, "receive", event=event, reason=f"goods receipt {p['receipt']}")

    return Step(apply=apply, lot=lot)


def _new_lot(ctx: BatchContext, event: Event, supplier, item, qty, uom) -> Lot:
    p = event.payload
    lot = Lot(
        plant=event.plant,
        number=p["lot"],
        item=item,
        qty=qty,
        uom=uom,
        supplier=supplier,
        supplier_lot=p["lot"],
        expires_on=parse_date(p["expires_on"]) if p.get("expires_on") else None,
    )
    return receive_purchased_lot(
        ctx,
        event,
        lot,
        reason=f"goods receipt {p['receipt']} from {supplier.code}: {qty.normalize():f} {uom.code}",
    )


def _update_lot(ctx: BatchContext, event: Event, lot: Lot, qty) -> None:
    """The lot the ASN announced: the first receipt sets what arrived, later ones add."""
    booked = GoodsReceipt.objects.filter(lot=lot, order__isnull=True).exists()
    before = lot.qty
    lot.qty = before + qty if booked else qty
    if lot.qty == before:
        return
    ctx.mark(lot, "qty")
    ctx.audit(
        lot,
        transition="receive",
        source=lot.status,
        target=lot.status,
        correlation_id=event.correlation_id,
        reason=f"goods receipt {event.payload['receipt']}: quantity {before.normalize():f} → "
        f"{lot.qty.normalize():f} {lot.uom.code}",
        field_name="status",
    )
