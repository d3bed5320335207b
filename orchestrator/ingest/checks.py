"""Synchronous checks: "may lot L-88 be issued to WO-1001?" answered before a plant
system commits, and recorded (:class:`~orchestrator.models.CheckRecord`).

The answer comes from the same two places ingest decides with: the master-data functions
(``masterdata``: unknown order, lot, operation, revision) and the **published rule sets**
live at the plant (``rules_bridge``: the plant's active version of ``material-gates``,
or the shipped packs when nothing is published), evaluated on the context ingest would
build for the event. A refusal names the rule, its condition and the facts it read; a
board edit to the pack changes the check and ingest alike.

Inputs are in *plant* codes, mapped exactly like an inbound event of the matching type
(``material-issue`` → ``material.issued``), so an unmapped code is a reason too.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from plants.models import Plant
from rules.errors import RuleEvaluationError

from ..models import CheckRecord, Lot, Operation, ProductionOrder
from . import rules_bridge
from .masterdata import operation_start_reasons, order_unknown, structural_issue_reasons
from .normalize import Reason, map_payload, schema_reasons
from .specs import SPECS
from .world import lot_facts, order_facts


@dataclass(frozen=True)
class CheckAnswer:
    allowed: bool
    reasons: list[dict[str, Any]]
    correlation_id: str
    explanation: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """What a check found: reasons (empty: allowed) and the rules' explanation."""

    reasons: list[Reason]
    explanation: dict[str, Any] = field(default_factory=dict)


def _canonical(event_type: str, plant: Plant, payload: dict) -> tuple[dict, list[Reason]]:
    spec = SPECS[event_type]
    reasons = schema_reasons(spec, payload)
    if reasons:
        return payload, reasons
    return map_payload(spec=spec, plant=plant, payload=payload, day=timezone.localdate())


def _judge(
    plant: Plant,
    event_type: str,
    canonical: dict,
    *,
    derived: dict[str, Any],
    order: ProductionOrder | None = None,
    lot: Lot | None = None,
    source: str = "",
    correlation_id: str = "",
) -> Outcome:
    """The published rule sets live at ``plant`` (the shipped packs when none is) judge
    the event as if it arrived now: the same context ingest builds, the same
    ``quarantine_event`` reasons, and the explanation (rule set versions, rules,
    conditions, facts)."""
    now = timezone.now()
    context: dict[str, Any] = {
        "event": {
            **canonical,
            **derived,
            "type": event_type,
            "plant": plant.code,
            "source": source,
            "occurred_at": now,
            "correlation_id": correlation_id,
        },
        "plant": rules_bridge.parameters_of(plant),
        "now": now,
    }
    if order is not None:
        context["order"] = order_facts(order)
    if lot is not None:
        context["lot"] = lot_facts(lot)
    pins, compiled = rules_bridge.live_rule_sets(plant)
    try:
        evaluation = rules_bridge.evaluate_with(
            plant_code=plant.code,
            event_type=event_type,
            context=context,
            pins=pins,
            compiled=compiled,
        )
    except RuleEvaluationError as exc:
        reason = Reason(
            code="rule_error",
            path=f"rule:{exc.rule_id}",
            message=exc.message,
            expected="a rule that evaluates",
            found=exc.rule_id,
        )
        return Outcome([reason], {"plant": plant.code, "event_type": event_type, "pins": pins})
    return Outcome(rules_bridge.stop_reasons(evaluation), evaluation.explanation)


def material_issue(plant: Plant, data: dict, source: str = "") -> Outcome:
    payload = {k: data[k] for k in ("order", "item", "lot", "qty", "uom") if k in data}
    canonical, reasons = _canonical("material.issued", plant, payload)
    if reasons:
        return Outcome(reasons)
    order = (
        ProductionOrder.objects.select_related("item", "uom")
        .filter(plant=plant, number=canonical["order"])
        .first()
    )
    if order is None:
        return Outcome([order_unknown(canonical["order"], plant.code)])
    lot = (
        Lot.objects.select_related("item", "uom")
        .filter(plant=plant, number=canonical["lot"])
        .first()
    )
    reasons = structural_issue_reasons(lot=lot, lot_number=canonical["lot"])
    if reasons:
        return Outcome(reasons)
    reserved = order.components.filter(item__code=canonical["item"]).exists()
    return _judge(
        plant,
        "material.issued",
        canonical,
        derived={"reserved": reserved},
        order=order,
        lot=lot,
        source=source,
        correlation_id=str(data.get("correlation_id") or ""),
    )


def operation_start(plant: Plant, data: dict, source: str = "") -> Outcome:
    number, op_number = data.get("order"), data.get("operation")
    missing = [
        Reason(code="schema.required", path=f"payload.{name}", message=f"{name} is required")
        for name, value in (("order", number), ("operation", op_number))
        if not value
    ]
    if missing:
        return Outcome(missing)
    order = (
        ProductionOrder.objects.select_related("item", "uom")
        .filter(plant=plant, number=number)
        .first()
    )
    operation = Operation.objects.filter(order=order, sequence=op_number).first() if order else None
    reasons = operation_start_reasons(
        order=order,
        order_number=number,
        plant_code=plant.code,
        operation=operation,
        operation_number=op_number,
        routing_revision=data.get("routing_revision"),
    )
    if reasons:
        return Outcome(reasons)
    return _judge(
        plant,
        "operation.started",
        {"order": number, "operation": op_number},
        derived={},
        order=order,
        source=source,
        correlation_id=str(data.get("correlation_id") or ""),
    )


#: Check name (URL) → function answering it (reasons empty: allowed).
CHECKS: dict[str, Callable[[Plant, dict, str], Outcome]] = {
    "material-issue": material_issue,
    "operation-start": operation_start,
}


def check_run(*, check: str, plant: Plant, data: dict, principal) -> CheckAnswer:
    """Answer ``check`` for ``data`` at ``plant`` and record that it was asked."""
    started = time.perf_counter()
    system = getattr(principal, "system", None)
    outcome = CHECKS[check](plant, data, system.code if system is not None else "")
    reasons = [r.as_dict() for r in outcome.reasons]
    correlation_id = str(data.get("correlation_id") or uuid.uuid4())[:100]
    CheckRecord.objects.create(
        check_name=check,
        plant=plant,
        system=system,
        user=principal if getattr(principal, "pk", None) is not None else None,
        request=data,
        allowed=not reasons,
        reasons=reasons,
        explanation=outcome.explanation,
        correlation_id=correlation_id,
        asked_at=timezone.now(),
        duration_ms=(time.perf_counter() - started) * 1000,
    )
    return CheckAnswer(
        allowed=not reasons,
        reasons=reasons,
        correlation_id=correlation_id,
        explanation=outcome.explanation,
    )
