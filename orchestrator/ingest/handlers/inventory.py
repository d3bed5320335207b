"""Inventory postings: goods receipts (behind the quality gate), cycle counts, ASNs."""

from __future__ import annotations

from django.utils.dateparse import parse_datetime

from plants.models import Supplier

from ...choices import AsnState, OrderState
from ...models import (
    AdvanceShippingNotice,
    AsnLine,
    CycleCount,
    Event,
    GateState,
    GoodsReceipt,
    Lot,
)
from ...models.gates import APPROVAL_GATE
from .. import sequencing
from ..context import BatchContext
from ..normalize import Reason
from ..world import (
    Step,
    dec,
    get_item,
    get_lot,
    get_uom,
    inspection_by_pk,
    key_gate_open,
    key_lot,
    register_lot,
    save_new,
    world,
)
from . import handles
from .production import known_order

GOODS_RECEIPT_GATE = "goods_receipt"


@handles("goods_receipt.posted")
def goods_receipt_posted(ctx: BatchContext, event: Event) -> Step | None:
    """ERP posted the goods receipt of an order: allowed only through an open (or
    overridden) goods-receipt gate. A gate closed by a failed inspection quarantines the
    receipt (``gate_closed``); a receipt that arrives before quality decided at all
    (no gate yet, or its inspection still open) is parked until the gate opens. The
    order is then settled (financially posted) and the ERP document kept."""
    bundle = known_order(ctx, event)
    if bundle is None:
        return None
    p, plant, order = event.payload, event.plant, bundle.order
    gate = bundle.gates.get(GOODS_RECEIPT_GATE)
    if order.state == OrderState.FINANCIALLY_POSTED:
        return Step(apply=lambda: None, order=order)
    if gate is None or gate.state == GateState.CLOSED:
        inspection = (
            inspection_by_pk(ctx, gate.inspection_id)
            if gate is not None and gate.inspection_id
            else None
        )
        if inspection is not None and inspection.state == "failed":
            ctx.quarantine(
                event,
                [
                    Reason(
                        code="gate_closed",
                        path="payload.order",
                        message=f"goods receipt for order {order.number} waits for "
                        f"{gate.waits_for}; inspection {inspection.number} failed",
                        expected=f"gate {GOODS_RECEIPT_GATE} open",
                        found=gate.state,
                    )
                ],
            )
            return None
        ctx.park(
            event,
            waiting_for=key_gate_open(GOODS_RECEIPT_GATE, plant.code, order.number),
            reason=f"goods receipt for order {order.number} waits for "
            + (gate.waits_for if gate is not None else "completion and quality release"),
        )
        return None
    # A person's approval a rule required (require_approval) holds the receipt as well.
    approval = bundle.gates.get(APPROVAL_GATE)
    if approval is not None and approval.state == GateState.CLOSED:
        ctx.park(
            event,
            waiting_for=key_gate_open(APPROVAL_GATE, plant.code, order.number),
            reason=f"goods receipt for order {order.number} waits for {approval.waits_for}",
        )
        return None
    uom = get_uom(ctx, p["uom"]) if p.get("uom") else order.uom
    lot = get_lot(ctx, plant.pk, p["lot"]) if p.get("lot") else None
    inspection = inspection_by_pk(ctx, gate.inspection_id) if gate.inspection_id else None

    def apply() -> None:
        receipt = GoodsReceipt(
            plant=plant,
            number=p["document"],
            order=order,
            lot=lot,
            item=order.item,
            qty=dec(p.get("qty", order.target_qty)),
            uom=uom or order.uom,
            erp_document=p["document"],
            received_at=event.occurred_at,
        )
        receipt.save()
        ctx.audit(
            receipt,
            transition="create",
            source="",
            target=receipt.state,
            correlation_id=event.correlation_id,
        )
        ctx.transition(receipt, "post", event=event, reason=f"ERP document {p['document']}")
        if order.state == OrderState.QUALITY_PENDING:
            ctx.transition(
                order,
                "post_financially",
                event=event,
                reason=f"goods receipt {p['document']} posted",
            )

    return Step(apply=apply, order=order, lot=lot, inspection=inspection)


@handles("cycle_count.recorded")
def cycle_count_recorded(ctx: BatchContext, event: Event) -> Step | None:
    """A physical count: recorded, with its variance (``variance_pct`` of the book
    quantity, ``variance_qty``) for the rules, which decide against the plant's tolerance
    what follows (pack ``cycle-count``, scenario 5: post at once, or pause picks and ask a
    supervisor). The count is in ``ctx.cache["cycle_counts"]`` for the actions."""
    p, plant = event.payload, event.plant
    item, uom = get_item(ctx, p["item"]), get_uom(ctx, p["uom"])
    if item is None or uom is None:
        ctx.quarantine(
            event,
            [
                Reason(
                    code="master_data_missing",
                    path="payload",
                    message="unknown item or unit",
                    found=[p["item"], p["uom"]],
                )
            ],
        )
        return None
    lot = get_lot(ctx, plant.pk, p["lot"]) if p.get("lot") else None
    book, counted = dec(p["system_qty"]), dec(p["counted_qty"])
    variance_pct = abs(counted - book) * 100 / book if book else (100 if counted else 0)
    derived = {"variance_pct": float(variance_pct), "variance_qty": float(counted - book)}
    existing = CycleCount.objects.filter(plant=plant, number=p["count"]).first()
    if existing is not None:  # a replay: the actions' keys make their effects happen once

        def remember() -> None:
            ctx.cache.setdefault("cycle_counts", {})[(plant.pk, existing.number)] = existing

        return Step(apply=remember, lot=lot, derived=derived)

    def apply() -> None:
        count = CycleCount(
            plant=plant,
            number=p["count"],
            item=item,
            lot=lot,
            location=p.get("location", ""),
            book_qty=book,
            counted_qty=counted,
            uom=uom,
            counted_at=event.occurred_at,
        )
        count.save()
        ctx.audit(
            count,
            transition="create",
            source="",
            target=count.state,
            correlation_id=event.correlation_id,
        )
        ctx.cache.setdefault("cycle_counts", {})[(plant.pk, count.number)] = count

    return Step(apply=apply, lot=lot, derived=derived)


def _asn(plant, number: str) -> AdvanceShippingNotice | None:
    return (
        AdvanceShippingNotice.objects.select_for_update().filter(plant=plant, number=number).first()
    )


def _supplier(ctx: BatchContext, code: str | None) -> Supplier | None:
    if not code:
        return None
    cache = world(ctx).__dict__.setdefault("suppliers", {})
    if code not in cache:
        cache[code] = Supplier.objects.filter(code=code).first()
    return cache[code]


@handles("asn.received")
def asn_received(ctx: BatchContext, event: Event) -> Step | None:
    """A supplier shipment arrived: the ASN (created if it was never announced) is
    received, with its lines."""
    p, plant = event.payload, event.plant
    asn = _asn(plant, p["asn"])
    supplier = _supplier(ctx, p.get("supplier"))
    if asn is None and supplier is None:
        ctx.quarantine(
            event,
            [
                Reason(
                    code="supplier_unknown",
                    path="payload.supplier",
                    message="unknown supplier",
                    found=p.get("supplier"),
                )
            ],
        )
        return None
    lines = []
    for i, line in enumerate(p.get("lines", [])):
        item, uom = get_item(ctx, line["item"]), get_uom(ctx, line["uom"])
        if item is None or uom is None:
            ctx.quarantine(
                event,
                [
                    Reason(
                        code="master_data_missing",
                        path=f"payload.lines[{i}]",
                        message="unknown item or unit",
                        found=[line["item"], line["uom"]],
                    )
                ],
            )
            return None
        lines.append(
            AsnLine(
                line_no=i + 1,
                item=item,
                qty=dec(line["qty"]),
                uom=uom,
                supplier_lot=line.get("lot", ""),
            )
        )

    def apply() -> None:
        nonlocal asn
        if asn is None:
            expected = parse_datetime(p["expected_at"]) if p.get("expected_at") else None
            asn = AdvanceShippingNotice(
                plant=plant,
                number=p["asn"],
                supplier=supplier,
                expected_at=expected or event.occurred_at,
            )
            asn.save()
            ctx.audit(
                asn,
                transition="announce",
                source="",
                target=asn.state,
                correlation_id=event.correlation_id,
            )
            for line in lines:
                line.asn = asn
            AsnLine.objects.bulk_create(lines)
        if asn.state in (AsnState.ANNOUNCED, AsnState.DELAYED):
            ctx.transition(asn, "receive", event=event)
        _receive_purchased_lots(ctx, event, asn, lines)

    return Step(apply=apply)


def _receive_purchased_lots(ctx: BatchContext, event: Event, asn, lines: list[AsnLine]) -> None:
    """Each ASN line that names its lot becomes a purchased lot of the supplier at the
    plant, waiting for incoming inspection (scenario 2); events parked for the lot (the
    QMS's inspection request) go on."""
    for line in lines:
        if not line.supplier_lot or get_lot(ctx, asn.plant_id, line.supplier_lot) is not None:
            continue
        receive_purchased_lot(
            ctx,
            event,
            Lot(
                plant=asn.plant,
                number=line.supplier_lot,
                item=line.item,
                qty=line.qty,
                uom=line.uom,
                supplier=asn.supplier,
                supplier_lot=line.supplier_lot,
            ),
            reason=f"received with ASN {asn.number} from {asn.supplier.code}",
        )


def receive_purchased_lot(ctx: BatchContext, event: Event, lot: Lot, *, reason: str) -> Lot:
    """Store a new purchased ``lot`` (audited with ``reason``), send it to incoming
    inspection and release the events parked for it: how an ASN receipt and a supplier
    goods receipt both bring a lot in."""
    save_new(lot)
    ctx.audit(
        lot,
        transition="create",
        source="",
        target=lot.status,
        correlation_id=event.correlation_id,
        reason=reason,
        field_name="status",
    )
    register_lot(ctx, lot)
    ctx.transition(
        lot, "send_to_inspection", event=event, reason="purchased lot waits for incoming inspection"
    )
    sequencing.fulfil(ctx, key_lot(lot.plant.code, lot.number))
    return lot


@handles("asn.delayed")
def asn_delayed(ctx: BatchContext, event: Event) -> Step | None:
    """The supplier announced a later arrival: the ASN is delayed with its new date (an
    ASN not known yet is created from the supplier named, with the lines the payload
    gives). Rules see whether a delayed item is a critical component (master data), the
    delay in hours, and the open orders at every plant that need it before it arrives
    (``services.exposures.supply_at_risk``), which ``record_supply_exposure`` records."""
    from ...services.exposures import supply_at_risk

    p, plant = event.payload, event.plant
    asn = _asn(plant, p["asn"])
    supplier = _supplier(ctx, p.get("supplier"))
    if asn is None and supplier is None:
        ctx.quarantine(
            event,
            [
                Reason(
                    code="asn_unknown",
                    path="payload.asn",
                    message=f"ASN {p['asn']} is not known and names no known supplier",
                    found=p["asn"],
                )
            ],
        )
        return None
    new_eta = parse_datetime(p["expected_at"])
    lines = []
    for i, line in enumerate(p.get("lines", [])):
        item, uom = get_item(ctx, line["item"]), get_uom(ctx, line["uom"])
        if item is None or uom is None:
            ctx.quarantine(
                event,
                [
                    Reason(
                        code="master_data_missing",
                        path=f"payload.lines[{i}]",
                        message="unknown item or unit",
                        found=[line["item"], line["uom"]],
                    )
                ],
            )
            return None
        lines.append(AsnLine(line_no=i + 1, item=item, qty=dec(line["qty"]), uom=uom))
    items = {line.item.pk: line.item for line in lines}
    if asn is not None:
        items.update({a.item.pk: a.item for a in asn.lines.select_related("item")})
    if asn is not None:
        before = asn.revised_expected_at or asn.expected_at
    else:  # never announced: the date the supplier had promised, if the notice says it
        before = parse_datetime(p.get("previous_expected_at") or "") or event.occurred_at
    found = supply_at_risk(asn=asn, items=list(items.values()), since=before, until=new_eta)
    ctx.cache.setdefault("exposures", {})[event.pk] = found
    derived = {
        "critical": any(i.critical for i in items.values()),
        "delay_hours": max((new_eta - before).total_seconds() / 3600, 0.0),
        "orders_at_risk": len(found.lines),
        "plants_at_risk": len(found.plants),
        "reallocations": found.proposals,
    }

    def apply() -> None:
        nonlocal asn
        if asn is None:
            asn = AdvanceShippingNotice(
                plant=plant, number=p["asn"], supplier=supplier, expected_at=before
            )
            asn.save()
            ctx.audit(
                asn,
                transition="announce",
                source="",
                target=asn.state,
                correlation_id=event.correlation_id,
            )
            for line in lines:
                line.asn = asn
            AsnLine.objects.bulk_create(lines)
        found.asn = asn
        found.title = found.title.replace("ASN ?", f"ASN {asn.number}")
        if asn.state in (AsnState.ANNOUNCED, AsnState.DELAYED):
            asn.revised_expected_at = new_eta
            ctx.mark(asn, "revised_expected_at")
            ctx.transition(asn, "delay", event=event, reason=p.get("reason", ""))

    return Step(apply=apply, derived=derived)
