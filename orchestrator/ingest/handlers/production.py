"""What MES reports while an order runs: operations, confirmations, material, scrap,
completion, and machine downtime.

``operation.confirmed``, ``material.issued`` and ``scrap.declared`` are the hot types
(thousands per shift): they work only on the batch's preloaded objects and buffered rows,
no query of their own.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Sum
from django.utils.dateparse import parse_datetime

from plants.models import WorkCenter

from ...choices import LotOrderRelation, OperationState, OrderState
from ...models import (
    Event,
    Lot,
    LotGenealogy,
    LotOrderLink,
    MachineDowntime,
    MaterialIssue,
    OperationConfirmation,
    ScrapDeclaration,
)
from .. import sequencing
from ..context import BatchContext
from ..masterdata import RUNNABLE_ORDER_STATES, structural_issue_reasons
from ..normalize import Reason
from ..world import (
    ORDER_RANK,
    OrderBundle,
    Step,
    dec,
    get_item,
    get_lot,
    get_order,
    get_uom,
    get_work_center,
    key_lot,
    key_operations_confirmed,
    key_order_acknowledged,
    key_order_released,
    rank,
    register_lot,
    save_new,
    world,
)
from . import handles

ACKNOWLEDGED = ORDER_RANK[OrderState.ACKNOWLEDGED]
COMPLETED = ORDER_RANK[OrderState.COMPLETED]


def known_order(ctx: BatchContext, event: Event) -> OrderBundle | None:
    """The event's order, or ``None`` with the event parked until ERP releases it."""
    number = event.payload["order"]
    bundle = get_order(ctx, event.plant_id, number)
    if bundle is None:
        ctx.park(
            event,
            waiting_for=key_order_released(event.plant.code, number),
            reason=f"waiting for the release of order {number}",
        )
    return bundle


#: An order in these states is settled in the ERP: nothing more may be booked on it.
CLOSED_ORDER_STATES = frozenset({OrderState.FINANCIALLY_POSTED})


def arrived_after_close(event: Event, order) -> bool:
    """Whether ``event`` reached Interlock after ``order`` was closed. An event that came
    earlier and waited (parked for its prerequisite) belongs to the order's run even when
    the drain that applies it also settles the order: sequencing decides its place."""
    closed_at = order.state_changed_at
    return closed_at is None or event.received_at is None or event.received_at > closed_at


def open_order(ctx: BatchContext, event: Event) -> OrderBundle | None:
    """:func:`known_order`, but an event that arrives for an order already closed is
    quarantined as ``order_closed`` (a late confirmation must not reach the ERP after its
    settlement)."""
    bundle = known_order(ctx, event)
    if (
        bundle is not None
        and bundle.order.state in CLOSED_ORDER_STATES
        and arrived_after_close(event, bundle.order)
    ):
        order = bundle.order
        ctx.quarantine(
            event,
            [
                Reason(
                    code="order_closed",
                    path="payload.order",
                    message=f"order {order.number} is closed ({order.state})",
                    found=order.state,
                )
            ],
        )
        return None
    return bundle


def running_order(ctx: BatchContext, event: Event) -> OrderBundle | None:
    """The event's order once MES acknowledged it; parks before that, quarantines an order
    on hold, cancelled or closed."""
    bundle = open_order(ctx, event)
    if bundle is None:
        return None
    order = bundle.order
    if rank(order) < 0:
        ctx.quarantine(
            event,
            [
                Reason(
                    code="order_not_runnable",
                    path="payload.order",
                    message=f"order {order.number} is {order.state}",
                    expected=sorted(RUNNABLE_ORDER_STATES),
                    found=order.state,
                )
            ],
        )
        return None
    if rank(order) < ACKNOWLEDGED:
        ctx.park(
            event,
            waiting_for=key_order_acknowledged(event.plant.code, order.number),
            reason=f"waiting for MES to acknowledge the release of order {order.number}",
        )
        return None
    return bundle


def _operation(ctx: BatchContext, event: Event, bundle: OrderBundle):
    number = event.payload.get("operation")
    if number is None:
        return None, True
    op = bundle.operations.get(number)
    if op is None:
        ctx.quarantine(
            event,
            [
                Reason(
                    code="operation_unknown",
                    path="payload.operation",
                    message=f"order {bundle.order.number} has no operation {number}",
                    expected=sorted(bundle.operations),
                    found=number,
                )
            ],
        )
        return None, False
    return op, True


def _start_order(ctx: BatchContext, event: Event, bundle: OrderBundle) -> None:
    if bundle.order.state == OrderState.ACKNOWLEDGED:
        ctx.transition(bundle.order, "start", event=event, reason="first operation reported")


def _all_confirmed(bundle: OrderBundle) -> bool:
    return all(op.state == OperationState.CONFIRMED for op in bundle.operations.values())


@handles("operation.started", "operation.paused")
def operation_progress(ctx: BatchContext, event: Event) -> Step | None:
    """Start (or resume) and pause an operation; the first start puts the order in
    process. A report the operation is already past changes nothing."""
    bundle = running_order(ctx, event)
    if bundle is None:
        return None
    op, ok = _operation(ctx, event, bundle)
    if not ok or op is None:
        if ok:  # schema requires the operation; kept for safety
            ctx.quarantine(
                event,
                [
                    Reason(
                        code="operation_missing",
                        path="payload.operation",
                        message="no operation named",
                    )
                ],
            )
        return None
    started = event.event_type == "operation.started"

    def apply() -> None:
        if rank(bundle.order) < COMPLETED:
            _start_order(ctx, event, bundle)
        if started and op.state == OperationState.PENDING:
            ctx.transition(op, "start", event=event)
        elif started and op.state == OperationState.PAUSED:
            ctx.transition(op, "resume", event=event)
        elif not started and op.state == OperationState.STARTED:
            ctx.transition(op, "pause", event=event, reason=event.payload.get("reason", ""))

    return Step(apply=apply, order=bundle.order)


@handles("operation.confirmed")
def operation_confirmed(ctx: BatchContext, event: Event) -> Step | None:
    """A yield confirmation: quantities on the operation (and, for the last operation of
    the routing, on the order), the operation confirmed when final (flag or planned
    quantity reached), the order partially confirmed. When every operation is confirmed,
    a waiting completion goes on."""
    bundle = running_order(ctx, event)
    if bundle is None:
        return None
    op, ok = _operation(ctx, event, bundle)
    if not ok or op is None:
        return None
    p = event.payload
    order = bundle.order
    good, scrap = dec(p["qty"]), dec(p.get("scrap_qty", 0))
    is_last = op.sequence == max(bundle.operations)

    def apply() -> None:
        # OperationConfirmation(operation=op, …) without Model.__init__ (``ingest.instances``).
        make = ctx.maker(OperationConfirmation, _CONFIRMATION_GIVEN, ("operation",))
        ctx.add(
            make(
                (
                    str(p["sequence"]),
                    good,
                    scrap,
                    bool(p.get("final", False)),
                    event.occurred_at,
                    event.correlation_id,
                    op,
                )
            )
        )
        op.confirmed_qty += good
        op.scrapped_qty += scrap
        ctx.mark(op, "confirmed_qty", "scrapped_qty")
        if is_last or scrap:
            order.confirmed_qty += good if is_last else Decimal(0)
            order.scrapped_qty += scrap
            ctx.mark(order, "confirmed_qty", "scrapped_qty")
        if rank(order) < COMPLETED:
            _start_order(ctx, event, bundle)
        final = p.get("final") or op.confirmed_qty + op.scrapped_qty >= op.planned_qty
        if final and op.state != OperationState.CONFIRMED:
            if op.state == OperationState.PENDING:
                ctx.transition(op, "start", event=event, reason="confirmed without a start")
            ctx.transition(op, "confirm", event=event, reason="final confirmation")
            if _all_confirmed(bundle):
                sequencing.fulfil(ctx, key_operations_confirmed(event.plant.code, order.number))
        if order.state == OrderState.IN_PROCESS:
            ctx.transition(order, "confirm_partially", event=event)

    return Step(apply=apply, order=order)


#: What a confirmation's row is given (then its operation), in this order.
_CONFIRMATION_GIVEN = (
    "confirmation_number",
    "good_qty",
    "scrap_qty",
    "final",
    "confirmed_at",
    "correlation_id",
)
#: What an issue's row is given, then the objects it points at.
_ISSUE_GIVEN = ("qty", "issued_at", "correlation_id")
_ISSUE_RELATED = ("order", "operation", "lot", "item", "uom")


@handles("material.issued")
def material_issued(ctx: BatchContext, event: Event) -> Step | None:
    """Consumption of a lot by an order. The handler refuses only what cannot be recorded
    (an unknown lot or unit); whether the lot *may* be issued (expired, restricted status,
    another item, a component not reserved for the order) is the published
    ``material-gates`` rule set's decision, with ``reserved`` derived here. An issue the
    rules let through is recorded with the lot ↔ order link."""
    bundle = open_order(ctx, event)
    if bundle is None:
        return None
    p = event.payload
    order = bundle.order
    lot = get_lot(ctx, event.plant_id, p["lot"])
    reasons = structural_issue_reasons(lot=lot, lot_number=p["lot"])
    uom = get_uom(ctx, p["uom"])
    if uom is None:
        reasons.append(
            Reason(code="uom_unknown", path="payload.uom", message="unknown unit", found=p["uom"])
        )
    if reasons:
        ctx.quarantine(event, reasons)
        return None
    op = bundle.operations.get(p.get("operation", ""))
    qty = dec(p["qty"])
    reserved = {c.item.code: c for c in bundle.components.values()}
    component = reserved.get(p["item"])
    item = component.item if component is not None else get_item(ctx, p["item"]) or lot.item

    def apply() -> None:
        # MaterialIssue(order=order, …) without Model.__init__ (``ingest.instances``).
        make = ctx.maker(MaterialIssue, _ISSUE_GIVEN, _ISSUE_RELATED)
        ctx.add(make((qty, event.occurred_at, event.correlation_id, order, op, lot, item, uom)))
        if component is not None:  # an unreserved issue the rules allowed books no BOM line
            component.issued_qty += qty
            ctx.mark(component, "issued_qty")
        link = bundle.links.get((lot.pk, LotOrderRelation.CONSUMED))
        if link is None:
            make_link = ctx.maker(LotOrderLink, ("relation", "qty"), ("lot", "order"))
            link = bundle.links[(lot.pk, LotOrderRelation.CONSUMED)] = ctx.add(
                make_link((LotOrderRelation.CONSUMED, 0, lot, order))
            )
        link.qty += qty
        if link.pk is not None:
            ctx.mark(link, "qty")

    return Step(apply=apply, order=order, lot=lot, derived={"reserved": component is not None})


def _scrap_window(ctx: BatchContext, event: Event, key: tuple[int, int | None, int]) -> Decimal:
    """Scrap of one item on one line of the plant (``key``: plant, work center, item)
    within the plant's ``scrap.spike_window`` before this batch, read once per key and
    batch; this batch's declarations are added as they apply."""
    from ..rules_bridge import plant_parameters

    w = world(ctx)
    if key not in w.scrap_window:
        plant_id, work_center_id, item_id = key
        window = plant_parameters(ctx, event.plant).get("scrap.spike_window", 3600.0)
        since = ctx.now - dt.timedelta(seconds=float(window))
        total = ScrapDeclaration.objects.filter(
            order__plant_id=plant_id,
            work_center_id=work_center_id,
            item_id=item_id,
            declared_at__gte=since,
        ).aggregate(s=Sum("qty"))["s"]
        w.scrap_window[key] = total or Decimal(0)
    return w.scrap_window[key]


@handles("scrap.declared")
def scrap_declared(ctx: BatchContext, event: Event) -> Step | None:
    """Scrap on an order (and operation): added to the running totals. Rules see the
    scrap of the same item on the same line of the plant summed over the plant's window
    (``window_qty``, the sliding window of scenario 6), and the line (``line``)."""
    bundle = open_order(ctx, event)
    if bundle is None:
        return None
    op, ok = _operation(ctx, event, bundle)
    if not ok:
        return None
    p = event.payload
    uom = get_uom(ctx, p["uom"])
    if uom is None:
        ctx.quarantine(
            event,
            [
                Reason(
                    code="uom_unknown", path="payload.uom", message="unknown unit", found=p["uom"]
                )
            ],
        )
        return None
    lot = get_lot(ctx, event.plant_id, p["lot"]) if p.get("lot") else None
    order, qty = bundle.order, dec(p["qty"])
    item = (get_item(ctx, p["item"]) if p.get("item") else None) or order.item
    work_center_id = op.work_center_id if op is not None else None
    key = (event.plant_id, work_center_id, item.pk)
    window_qty = _scrap_window(ctx, event, key) + qty
    line = _work_center_code(ctx, work_center_id)

    def apply() -> None:
        world(ctx).scrap_window[key] = window_qty
        ctx.add(
            ScrapDeclaration(
                order=order,
                operation=op,
                lot=lot,
                work_center_id=work_center_id,
                item=item,
                qty=qty,
                uom=uom,
                reason_code=p["reason"],
                declared_at=event.occurred_at,
                correlation_id=event.correlation_id,
            )
        )
        order.scrapped_qty += qty
        ctx.mark(order, "scrapped_qty")
        if op is not None:
            op.scrapped_qty += qty
            ctx.mark(op, "scrapped_qty")

    return Step(
        apply=apply,
        order=order,
        lot=lot,
        derived={"window_qty": float(window_qty), "line": line, "window_item": item.code},
    )


def _work_center_code(ctx: BatchContext, work_center_id: int | None) -> str:
    if work_center_id is None:
        return ""
    codes = ctx.cache.setdefault("work_center_codes", {})
    if work_center_id not in codes:
        codes[work_center_id] = (
            WorkCenter.objects.filter(pk=work_center_id).values_list("code", flat=True).first()
            or ""
        )
    return codes[work_center_id]


@handles("production.completed")
def production_completed(ctx: BatchContext, event: Event) -> Step | None:
    """MES finished the order: needs every operation confirmed (else parked until they
    are). Creates the produced lot (in inspection), links it, and moves the order to
    completed → quality pending; the rules then request the inspection and hold the goods
    receipt gate."""
    bundle = running_order(ctx, event)
    if bundle is None:
        return None
    order, p = bundle.order, event.payload
    if rank(order) >= COMPLETED:
        return Step(apply=lambda: None, order=order)  # a repeat: the order is past this
    if not _all_confirmed(bundle):
        open_ops = sorted(s for s, op in bundle.operations.items() if op.state != "confirmed")
        ctx.park(
            event,
            waiting_for=key_operations_confirmed(event.plant.code, order.number),
            reason=f"waiting for the confirmation of operations {', '.join(open_ops)}",
        )
        return None
    uom = get_uom(ctx, p["uom"])
    if uom is None:
        ctx.quarantine(
            event,
            [
                Reason(
                    code="uom_unknown", path="payload.uom", message="unknown unit", found=p["uom"]
                )
            ],
        )
        return None
    existing = get_lot(ctx, event.plant_id, p["lot"])
    if existing is not None and existing.producing_order_id not in (None, order.pk):
        ctx.quarantine(
            event,
            [
                Reason(
                    code="lot_exists",
                    path="payload.lot",
                    message=f"lot {p['lot']} exists already and was not produced by "
                    f"order {order.number}",
                    found=p["lot"],
                )
            ],
        )
        return None
    expires = p.get("expires_on")

    def apply() -> None:
        lot = existing
        if lot is None:
            lot = Lot(
                plant=event.plant,
                number=p["lot"],
                item=order.item,
                qty=dec(p["qty"]),
                uom=uom,
                expires_on=dt.date.fromisoformat(expires) if expires else None,
                producing_order=order,
            )
            save_new(lot)  # once per order: the key is needed by links, gates and audits
            ctx.audit(
                lot,
                transition="create",
                source="",
                target=lot.status,
                correlation_id=event.correlation_id,
                field_name="status",
            )
            register_lot(ctx, lot)
            ctx.transition(
                lot,
                "send_to_inspection",
                event=event,
                reason="finished goods wait for the final inspection",
            )
            bundle.links[(lot.pk, LotOrderRelation.PRODUCED)] = ctx.add(
                LotOrderLink(
                    lot=lot, order=order, relation=LotOrderRelation.PRODUCED, qty=dec(p["qty"])
                )
            )
            # Genealogy: every component lot the order consumed went into the lot it
            # produced (what went into lot Y; where did lot X go). Written once, with the
            # new lot, from the consumed links already in the batch's order bundle.
            for (lot_id, relation), link in bundle.links.items():
                if relation == LotOrderRelation.CONSUMED and lot_id != lot.pk:
                    ctx.add(LotGenealogy(parent_id=lot_id, child=lot, qty=link.qty, order=order))
        step.lot = lot
        _start_order(ctx, event, bundle)
        ctx.transition(order, "complete", event=event, reason="MES reported completion")
        ctx.transition(order, "await_quality", event=event, reason="final inspection pending")
        sequencing.fulfil(ctx, key_lot(event.plant.code, lot.number))

    step = Step(apply=apply, order=order, lot=existing)
    return step


@handles("machine.downtime")
def machine_downtime(ctx: BatchContext, event: Event) -> Step | None:
    """A stoppage of a work center: recorded. Rules see whether the work center is
    constrained (master data), the duration, the open orders with operations still to
    run on it and how many have an alternate routing or plant
    (``services.exposures.stoppage_at_risk``), which ``record_line_stoppage`` records."""
    from ...services.exposures import stoppage_at_risk

    p = event.payload
    wc = get_work_center(ctx, event.plant_id, p["work_center"])
    if wc is None:
        ctx.quarantine(
            event,
            [
                Reason(
                    code="work_center_unknown",
                    path="payload.work_center",
                    message="unknown work center",
                    found=p["work_center"],
                )
            ],
        )
        return None
    started = parse_datetime(p["started_at"])
    ended = parse_datetime(p["ended_at"]) if p.get("ended_at") else None
    minutes = (ended - started).total_seconds() / 60 if ended else 0.0
    found = stoppage_at_risk(work_center=wc, since=started, until=ended)
    ctx.cache.setdefault("exposures", {})[event.pk] = found

    def apply() -> None:
        MachineDowntime.objects.update_or_create(
            work_center=wc,
            equipment=p.get("equipment", ""),
            started_at=started,
            defaults={
                "plant": event.plant,
                "ended_at": ended,
                "reason": p.get("reason", ""),
                "correlation_id": event.correlation_id,
            },
        )

    return Step(
        apply=apply,
        derived={
            "duration_minutes": minutes,
            "constrained": wc.constrained,
            "orders_at_risk": len(found.lines),
            "alternates": found.proposals,
        },
    )
