"""``hold_gate`` / ``release_gate``: dependency gates as first-class, audited records."""

from __future__ import annotations

from ..ingest import sequencing
from ..ingest.world import get_order, key_gate_open
from ..models import Gate, GateState
from . import ActionContext, implements


def _waits_for(a: ActionContext, kind: str) -> str:
    step = a.step
    if kind == "goods_receipt":
        if step.inspection is not None:
            return f"inspection {step.inspection.number} passed or conditionally released"
        lot = step.lot.number if step.lot is not None else a.event.payload.get("lot", "?")
        return f"inspection of lot {lot} passed or conditionally released"
    if kind == "mes_acknowledgment" and step.order is not None:
        return f"MES acknowledgment of routing {step.order.routing_revision}"
    return a.action.params.get("reason") or kind


def _gate(a: ActionContext, kind: str, *, create: bool) -> Gate | None:
    step, event = a.step, a.event
    order = step.order
    bundle = get_order(a.ctx, event.plant_id, order.number) if order is not None else None
    if bundle is not None:
        gate = bundle.gates.get(kind)
    elif step.lot is not None:
        gate = Gate.objects.select_for_update().filter(kind=kind, lot=step.lot, order=None).first()
    else:
        return None
    if gate is None and create:
        inspection = step.inspection
        if inspection is None and kind == "goods_receipt" and order is not None:
            inspection = order.inspections.order_by("-pk").first()
        gate = Gate(
            plant=event.plant,
            kind=kind,
            order=order,
            lot=step.lot if order is None else None,
            inspection=inspection,
            waits_for=_waits_for(a, kind)[:300],
            reason=(a.action.params.get("reason") or "")[:300],
            rule=a.rule[:200],
        )
        gate.state_changed_at = a.ctx.now
        gate.save()  # a few per order; the key is needed by the audit record
        a.ctx.audit(
            gate,
            transition="hold",
            source="",
            target=gate.state,
            correlation_id=event.correlation_id,
            reason=gate.reason,
        )
        if bundle is not None:
            bundle.gates[kind] = gate
    return gate


def _describe(gate: Gate, a: ActionContext, reason: str) -> None:
    gate.reason = reason[:300]
    gate.rule = a.rule[:200]
    a.ctx.mark(gate, "reason", "rule")


@implements("hold_gate")
def hold_gate(a: ActionContext) -> dict:
    kind = a.action.params["gate"]
    reason = a.action.params.get("reason", "")
    gate = _gate(a, kind, create=True)
    if gate is None:
        return {"gate": kind, "result": "no subject"}
    if gate.state in (GateState.OPEN, GateState.OVERRIDDEN):
        a.ctx.transition(gate, "close", event=a.event, reason=reason)
    _describe(gate, a, reason)
    return {"gate": kind, "state": gate.state}


@implements("release_gate")
def release_gate(a: ActionContext) -> dict:
    kind = a.action.params["gate"]
    reason = a.action.params.get("reason", "")
    gate = _gate(a, kind, create=True)
    if gate is None:
        return {"gate": kind, "result": "no subject"}
    if gate.state == GateState.CLOSED:
        a.ctx.transition(gate, "open", event=a.event, reason=reason)
        _describe(gate, a, reason)
    if gate.order_id is not None:
        sequencing.fulfil(a.ctx, key_gate_open(kind, a.event.plant.code, gate.order.number))
    return {"gate": kind, "state": gate.state}
