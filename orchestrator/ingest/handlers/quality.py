"""Quality: inspections (requested, recorded), nonconformances, lot status changes.

These are rare events (a few per order), so they save what they create at once and use
the lifecycle transitions of the batch context for every state change.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from plants.choices import InspectionOutcome, LotStatus

from ...choices import InspectionKind, InspectionState, NonconformanceState
from ...models import Event, Inspection, InspectionResult, Nonconformance
from ...services.lifecycle import transition_for_target
from .. import sequencing
from ..context import BatchContext
from ..normalize import Reason
from ..world import (
    Step,
    get_inspection,
    get_lot,
    get_nonconformance,
    get_order,
    key_inspection,
    key_lot,
    key_nonconformance,
    key_order_released,
    register_inspection,
    register_nonconformance,
)
from . import handles

OUTCOME_TRANSITIONS = {
    InspectionOutcome.PASSED: "pass_inspection",
    InspectionOutcome.FAILED: "fail",
    InspectionOutcome.CONDITIONALLY_RELEASED: "release_conditionally",
}
FINAL_STATES = {
    InspectionState.PASSED,
    InspectionState.FAILED,
    InspectionState.CONDITIONALLY_RELEASED,
}


@handles("inspection.requested")
def inspection_requested(ctx: BatchContext, event: Event) -> Step | None:
    """QMS opened an inspection of a lot (and order): waits for the lot (a finished-goods
    lot exists once the completion is applied). Links the order's goods-receipt gate to it,
    so the gate says which inspection it waits for."""
    p, plant = event.payload, event.plant
    lot = get_lot(ctx, plant.pk, p["lot"])
    if lot is None:
        ctx.park(
            event, waiting_for=key_lot(plant.code, p["lot"]), reason=f"waiting for lot {p['lot']}"
        )
        return None
    bundle = None
    if p.get("order"):
        bundle = get_order(ctx, plant.pk, p["order"])
        if bundle is None:
            ctx.park(
                event,
                waiting_for=key_order_released(plant.code, p["order"]),
                reason=f"waiting for the release of order {p['order']}",
            )
            return None
    elif lot.producing_order_id:
        bundle = get_order(ctx, plant.pk, lot.producing_order.number)
    existing = get_inspection(ctx, plant.pk, p["inspection"])
    order = bundle.order if bundle else None

    def apply() -> None:
        inspection = existing
        if inspection is None:
            inspection = Inspection(
                plant=plant,
                number=p["inspection"],
                kind=InspectionKind.FINAL if order else InspectionKind.INCOMING,
                lot=lot,
                order=order,
                requested_at=event.occurred_at,
            )
            inspection.save()
            ctx.audit(
                inspection,
                transition="request",
                source="",
                target=inspection.state,
                correlation_id=event.correlation_id,
            )
            register_inspection(ctx, inspection)
        step.inspection = inspection
        gate = bundle.gates.get("goods_receipt") if bundle else None
        if gate is not None and gate.inspection_id is None:
            gate.inspection = inspection
            gate.waits_for = f"inspection {inspection.number} passed or conditionally released"
            ctx.mark(gate, "inspection", "waits_for")
        sequencing.fulfil(ctx, key_inspection(plant.code, inspection.number))

    step = Step(apply=apply, order=order, lot=lot, inspection=existing)
    return step


def _result_lines(p: dict) -> list[tuple[str, Decimal | None, bool]]:
    lines = [
        (r["characteristic"], Decimal(str(r["value"])) if "value" in r else None, r["ok"])
        for r in p.get("results", [])
    ]
    if not lines:  # an outcome without lines: one overall verdict keeps the guards honest
        lines = [("overall", None, p["result"] != InspectionOutcome.FAILED)]
    return lines


@handles("inspection.recorded")
def inspection_recorded(ctx: BatchContext, event: Event) -> Step | None:
    """The inspection's result: result lines, then requested → in progress → passed /
    failed / conditionally released. A pass or conditional release frees the lot; the
    rules open the goods-receipt gate, or keep it closed and open a nonconformance."""
    p, plant = event.payload, event.plant
    inspection = get_inspection(ctx, plant.pk, p["inspection"])
    if inspection is None:
        ctx.park(
            event,
            waiting_for=key_inspection(plant.code, p["inspection"]),
            reason=f"waiting for inspection {p['inspection']} to be requested",
        )
        return None
    lot = get_lot(ctx, plant.pk, inspection.lot.number) if inspection.lot_id else None
    bundle = get_order(ctx, plant.pk, inspection.order.number) if inspection.order_id else None
    order = bundle.order if bundle else None
    if inspection.state in FINAL_STATES:
        # Outcomes are final; a later, different report is a quality question, not a
        # silent overwrite.
        if inspection.state != p["result"]:
            ctx.quarantine(
                event,
                [
                    Reason(
                        code="inspection_closed",
                        path="payload.result",
                        message=f"inspection {inspection.number} is {inspection.state} already",
                        expected=inspection.state,
                        found=p["result"],
                    )
                ],
            )
            return None
        return Step(apply=lambda: None, order=order, lot=lot, inspection=inspection)
    try:
        outcome = InspectionOutcome(p["result"])
    except ValueError:
        ctx.quarantine(
            event,
            [
                Reason(
                    code="unknown_outcome",
                    path="payload.result",
                    message=f"{p['result']!r} is no inspection outcome",
                    expected=sorted(OUTCOME_TRANSITIONS),
                    found=p["result"],
                )
            ],
        )
        return None
    lines = _result_lines(p)
    if outcome == InspectionOutcome.PASSED and not all(ok for _, _, ok in lines):
        ctx.quarantine(
            event,
            [
                Reason(
                    code="inspection_inconsistent",
                    path="payload.results",
                    message="a pass with non-conforming result lines",
                    expected="every line ok",
                    found=[c for c, _, ok in lines if not ok],
                )
            ],
        )
        return None

    def apply() -> None:
        now = timezone.now()
        for characteristic, value, ok in lines:
            InspectionResult.objects.update_or_create(
                inspection=inspection,
                characteristic=characteristic,
                defaults={"measured_value": value, "conforming": ok, "recorded_at": now},
            )
        if inspection.state == InspectionState.REQUESTED:
            ctx.transition(inspection, "start", event=event)
        ctx.transition(
            inspection, OUTCOME_TRANSITIONS[outcome], event=event, reason=p.get("inspector", "")
        )
        if (
            lot is not None
            and outcome != InspectionOutcome.FAILED
            and lot.status == LotStatus.INSPECTION
            and not lot.is_expired()
        ):
            ctx.transition(
                lot, "release", event=event, reason=f"inspection {inspection.number} {outcome}"
            )

    derived = {
        "supplier": lot.supplier.code if lot is not None and lot.supplier_id else "",
        "defects": sum(1 for _, _, ok in lines if not ok),
        **_exposure_facts(inspection, lot),
    }
    return Step(apply=apply, order=order, lot=lot, inspection=inspection, derived=derived)


def _exposure_facts(inspection: Inspection, lot) -> dict:
    """``inspection_kind``, and for a purchased lot what its failure would reach
    (scenario 2): ``consumed_qty`` already issued to orders, ``open_allocations`` (open
    orders reserving its item). Read only for supplier lots: they are rare."""
    from ...selectors_exposure import lot_consumed_qty, lot_open_allocations

    facts = {"inspection_kind": inspection.kind, "consumed_qty": 0.0, "open_allocations": 0}
    if lot is not None and lot.supplier_id:
        facts["consumed_qty"] = float(lot_consumed_qty(lot=lot))
        facts["open_allocations"] = len(lot_open_allocations(lot=lot))
    return facts


@handles("nonconformance.opened")
def nonconformance_opened(ctx: BatchContext, event: Event) -> Step | None:
    """QMS opened a nonconformance: recorded with what it concerns (when known here)."""
    p, plant = event.payload, event.plant
    existing = get_nonconformance(ctx, plant.pk, p["nonconformance"])
    lot = get_lot(ctx, plant.pk, p["lot"]) if p.get("lot") else None
    bundle = get_order(ctx, plant.pk, p["order"]) if p.get("order") else None
    inspection = get_inspection(ctx, plant.pk, p["inspection"]) if p.get("inspection") else None

    def apply() -> None:
        if existing is not None:
            return
        nc = Nonconformance(
            plant=plant,
            number=p["nonconformance"],
            title=(p.get("defect") or "nonconformance reported by QMS")[:200],
            description=p.get("description", ""),
            lot=lot,
            order=bundle.order if bundle else None,
            inspection=inspection,
        )
        nc.save()
        ctx.audit(
            nc, transition="open", source="", target=nc.state, correlation_id=event.correlation_id
        )
        register_nonconformance(ctx, nc)
        sequencing.fulfil(ctx, key_nonconformance(plant.code, nc.number))

    return Step(apply=apply, order=bundle.order if bundle else None, lot=lot, inspection=inspection)


@handles("nonconformance.closed")
def nonconformance_closed(ctx: BatchContext, event: Event) -> Step | None:
    """QMS closed a nonconformance with its disposition (and CAPA): the case goes
    through review and decision to closed, each step audited."""
    p, plant = event.payload, event.plant
    nc = get_nonconformance(ctx, plant.pk, p["nonconformance"])
    if nc is None:
        ctx.park(
            event,
            waiting_for=key_nonconformance(plant.code, p["nonconformance"]),
            reason=f"waiting for nonconformance {p['nonconformance']} to be opened",
        )
        return None

    def apply() -> None:
        if nc.state == NonconformanceState.CLOSED:
            return
        if nc.state == NonconformanceState.OPENED:
            ctx.transition(nc, "start_review", event=event)
        if nc.state == NonconformanceState.UNDER_REVIEW:
            nc.disposition = p["disposition"]
            nc.capa_reference = p.get("capa", nc.capa_reference)
            ctx.mark(nc, "disposition", "capa_reference")
            ctx.transition(nc, "decide", event=event, reason=p["disposition"])
        ctx.transition(nc, "close", event=event)

    return Step(apply=apply)


@handles("lot.status_changed")
def lot_status_changed(ctx: BatchContext, event: Event) -> Step | None:
    """A plant system reports a lot's new (mapped) status: moved through the one
    transition that leads there; an unknown lot or an impossible move is quarantined."""
    p, plant = event.payload, event.plant
    lot = get_lot(ctx, plant.pk, p["lot"])
    if lot is None:
        ctx.quarantine(
            event,
            [
                Reason(
                    code="lot_unknown",
                    path="payload.lot",
                    message=f"lot {p['lot']} is not known at this plant",
                    expected="an existing lot",
                    found=p["lot"],
                )
            ],
        )
        return None
    if lot.status == p["status"]:
        return Step(apply=lambda: None, lot=lot)
    name = transition_for_target(lot, p["status"])
    if name is None:
        ctx.quarantine(
            event,
            [
                Reason(
                    code="illegal_transition",
                    path="payload.status",
                    message=f"lot {lot.number} cannot move from {lot.status} to {p['status']}",
                    expected=lot.status,
                    found=p["status"],
                )
            ],
        )
        return None
    return Step(
        apply=lambda: ctx.transition(lot, name, event=event, reason=p.get("reason", "")), lot=lot
    )
