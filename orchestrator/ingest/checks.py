"""Synchronous checks: "may lot L-88 be issued to WO-1001?" answered before a plant
system commits, from the same master-data functions the ingest handlers use
(``masterdata``), and recorded (:class:`~orchestrator.models.CheckRecord`).

Inputs are in *plant* codes, mapped exactly like an inbound event of the matching type
(``material-issue`` → ``material.issued``), so an unmapped code is a reason too.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from plants.models import Plant

from ..models import CheckRecord, Lot, Operation, ProductionOrder
from .masterdata import material_issue_reasons, operation_start_reasons, order_unknown
from .normalize import Reason, map_payload, schema_reasons
from .specs import SPECS


@dataclass(frozen=True)
class CheckAnswer:
    allowed: bool
    reasons: list[dict[str, Any]]
    correlation_id: str


def _canonical(event_type: str, plant: Plant, payload: dict) -> tuple[dict, list[Reason]]:
    spec = SPECS[event_type]
    reasons = schema_reasons(spec, payload)
    if reasons:
        return payload, reasons
    return map_payload(spec=spec, plant=plant, payload=payload, day=timezone.localdate())


def material_issue(plant: Plant, data: dict) -> list[Reason]:
    payload = {k: data[k] for k in ("order", "item", "lot", "qty", "uom") if k in data}
    canonical, reasons = _canonical("material.issued", plant, payload)
    if reasons:
        return reasons
    order = ProductionOrder.objects.filter(plant=plant, number=canonical["order"]).first()
    if order is None:
        return [order_unknown(canonical["order"], plant.code)]
    lot = Lot.objects.select_related("item").filter(plant=plant, number=canonical["lot"]).first()
    reserved = set(order.components.values_list("item__code", flat=True))
    return material_issue_reasons(
        lot=lot,
        lot_number=canonical["lot"],
        item_code=canonical["item"],
        reserved_item_codes=reserved,
        order_number=order.number,
        on=timezone.localdate(),
    )


def operation_start(plant: Plant, data: dict) -> list[Reason]:
    number, op_number = data.get("order"), data.get("operation")
    missing = [
        Reason(code="schema.required", path=f"payload.{name}", message=f"{name} is required")
        for name, value in (("order", number), ("operation", op_number))
        if not value
    ]
    if missing:
        return missing
    order = ProductionOrder.objects.filter(plant=plant, number=number).first()
    operation = Operation.objects.filter(order=order, sequence=op_number).first() if order else None
    return operation_start_reasons(
        order=order,
        order_number=number,
        plant_code=plant.code,
        operation=operation,
        operation_number=op_number,
        routing_revision=data.get("routing_revision"),
    )


#: Check name (URL) → function answering it with reasons (empty: allowed).
CHECKS: dict[str, Callable[[Plant, dict], list[Reason]]] = {
    "material-issue": material_issue,
    "operation-start": operation_start,
}


def check_run(*, check: str, plant: Plant, data: dict, principal) -> CheckAnswer:
    """Answer ``check`` for ``data`` at ``plant`` and record that it was asked."""
    started = time.perf_counter()
    reasons = [r.as_dict() for r in CHECKS[check](plant, data)]
    correlation_id = str(data.get("correlation_id") or uuid.uuid4())[:100]
    system = getattr(principal, "system", None)
    CheckRecord.objects.create(
        check_name=check,
        plant=plant,
        system=system,
        user=principal if getattr(principal, "pk", None) is not None else None,
        request=data,
        allowed=not reasons,
        reasons=reasons,
        correlation_id=correlation_id,
        asked_at=timezone.now(),
        duration_ms=(time.perf_counter() - started) * 1000,
    )
    return CheckAnswer(allowed=not reasons, reasons=reasons, correlation_id=correlation_id)
