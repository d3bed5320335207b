"""Services of inspections, dispositions and nonconformances."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from interlock.errors import Conflict, DomainError, ErrorDetail, NotAllowed
from plants.choices import InspectionOutcome, LotStatus

from ..choices import (
    DispositionDecision,
    InspectionState,
    NonconformanceDisposition,
    NonconformanceState,
)
from ..models import Disposition, Inspection, InspectionResult, Nonconformance
from ..models.base import PERM_DECIDE_DISPOSITION
from .lifecycle import transition_apply, transition_to

#: Which transition records which outcome.
OUTCOME_TRANSITIONS = {
    InspectionOutcome.PASSED: "pass_inspection",
    InspectionOutcome.FAILED: "fail",
    InspectionOutcome.CONDITIONALLY_RELEASED: "release_conditionally",
}


@transaction.atomic
def inspection_result_record(
    *,
    inspection: Inspection,
    characteristic: str,
    measured_value: Decimal | None = None,
    conforming: bool | None = None,
    observation: str = "",
    lower_limit: Decimal | None = None,
    upper_limit: Decimal | None = None,
) -> InspectionResult:
    """Record (or correct) one result line. Without an explicit verdict, a measured value is
    judged against the limits; a line with neither stays open and blocks an outcome."""
    if inspection.state not in (InspectionState.REQUESTED, InspectionState.IN_PROGRESS):
        raise DomainError(
            message=f"Inspection {inspection} is {inspection.state}; results are final.",
            code="inspection_closed",
        )
    result, _ = InspectionResult.objects.get_or_create(
        inspection=inspection,
        characteristic=characteristic,
        defaults={"lower_limit": lower_limit, "upper_limit": upper_limit},
    )
    result.measured_value = measured_value
    result.observation = observation
    if conforming is None and measured_value is not None:
        conforming = (result.lower_limit is None or measured_value >= result.lower_limit) and (
            result.upper_limit is None or measured_value <= result.upper_limit
        )
    result.conforming = conforming
    result.recorded_at = timezone.now() if conforming is not None else None
    result.full_clean()
    result.save()


@transaction.atomic
def inspection_record_outcome(
    *,
    inspection: Inspection,
    outcome: str,
    actor: Any,
    reason: str = "",
    correlation_id: str | None = None,
) -> Inspection:
    """Record the inspection's outcome (passed, failed, conditionally released). A still
    ``requested`` inspection is started first, under the same correlation id, so the trail
    shows both steps."""
    try:
        name = OUTCOME_TRANSITIONS[InspectionOutcome(outcome)]
    except ValueError:
        raise DomainError(
            message=f"Unknown inspection outcome {outcome!r}.", code="unknown_outcome"
        ) from None
    # Decide on the committed state: the caller's copy may be stale.
    current = Inspection.objects.select_for_update().get(pk=inspection.pk)
    if current.state == InspectionState.REQUESTED:
        transition_apply(
            obj=inspection,
            transition="start",
            actor=actor,
            reason=reason,
            correlation_id=correlation_id,
        )
        correlation_id = correlation_id or _last_correlation(inspection)
    return transition_apply(
        obj=inspection, transition=name, actor=actor, reason=reason, correlation_id=correlation_id
    )


def _last_correlation(obj) -> str:
    from ..models import AuditRecord

    return AuditRecord.objects.for_object(obj).values_list("correlation_id", flat=True).first()


def _require_quality(actor: Any, inspection: Inspection) -> None:
    # Release and scrap decisions stay with people (DOMAIN.md): systems cannot decide.
    if getattr(actor, "pk", None) is None or not actor.has_perm(
        PERM_DECIDE_DISPOSITION, inspection
    ):
        raise NotAllowed(
            f"Deciding dispositions at plant {inspection.plant.code} needs the "
            "quality lead's permission."
        )


@transaction.atomic
def disposition_decide(
    *, inspection: Inspection, decision: str, actor: Any, reason: str
) -> Disposition:
    """A quality person decides what happens to the inspected material."""
    _require_quality(actor, inspection)
    if inspection.state in (InspectionState.REQUESTED, InspectionState.IN_PROGRESS):
        raise DomainError(
            message=f"Inspection {inspection} has no outcome yet.", code="inspection_open"
        )
    disposition = Disposition(
        inspection=inspection, decision=decision, reason=reason, decided_by=actor
    )
    disposition.full_clean()
    disposition.save()
    return disposition


@transaction.atomic
def disposition_approve(*, disposition: Disposition, actor: Any) -> Disposition:
    """Quality approves a decided disposition; only then may gates act on it. Where the
    plant asks for four eyes, the approver must not be the person who decided. An approved
    disposition of failed material is carried out (:func:`disposition_carry_out`)."""
    _require_quality(actor, disposition.inspection)
    locked = Disposition.objects.select_for_update().get(pk=disposition.pk)
    if locked.approved_at is None:
        if locked.decided_by_id == actor.pk and disposition_needs_four_eyes(
            locked.inspection.plant
        ):
            raise NotAllowed(
                f"Plant {locked.inspection.plant.code} asks for four eyes: a second quality "
                "lead approves this disposition, not the person who decided it."
            )
        locked.approved_by, locked.approved_at = actor, timezone.now()
        locked.full_clean()
        locked.save()
    if locked.decision in _CARRY_OUT and locked.carried_out_at is None:
        return disposition_carry_out(disposition=locked, actor=actor)
    return locked


def nonconformance_decide(
    *,
    nonconformance: Nonconformance,
    disposition: str,
    actor: Any,
    reason: str,
    capa_reference: str = "",
    correlation_id: str | None = None,
) -> Nonconformance:
    """Decide the disposition of a nonconformance under review (and link its CAPA)."""
    NonconformanceDisposition(disposition)  # ValueError for an unknown disposition
    updates = {"disposition": disposition}
    if capa_reference:
        updates["capa_reference"] = capa_reference
    return transition_apply(
        obj=nonconformance,
        transition="decide",
        actor=actor,
        reason=reason,
        correlation_id=correlation_id,
        updates=updates,
    )


# --- dispositions that lead somewhere --------------------------------------------------------
#: The quality lead's four dispositions (nonconformance vocabulary) → the decision recorded
#: on the inspection. "Use as is" is a conditional release of the failed material.
DISPOSITION_DECISIONS = {
    NonconformanceDisposition.USE_AS_IS: DispositionDecision.CONDITIONAL_RELEASE,
    NonconformanceDisposition.REWORK: DispositionDecision.REWORK,
    NonconformanceDisposition.SCRAP: DispositionDecision.SCRAP,
    NonconformanceDisposition.RETURN_TO_SUPPLIER: DispositionDecision.RETURN_TO_SUPPLIER,
}
FOUR_EYES_PARAMETER = "quality.disposition_four_eyes"
#: Rework operations are numbered from here, so they sort after the routing's own steps.
REWORK_SEQUENCE_START = 9010
SCRAP_REASON_CODE = "QUALITY_DISPOSITION"


def disposition_needs_four_eyes(plant) -> bool:
    """Does the plant ask for a second quality lead to approve each disposition?"""
    from plants.selectors import site_parameter

    return bool(site_parameter(key=FOUR_EYES_PARAMETER, plant=plant))


def _open_nonconformance(inspection: Inspection) -> Nonconformance | None:
    return (
        inspection.nonconformances.exclude(state=NonconformanceState.CLOSED).order_by("-pk").first()
    )


@transaction.atomic
def disposition_record(
    *, inspection: Inspection, disposition: str, actor: Any, reason: str
) -> Disposition:
    """The quality lead decides what happens to failed material: use as is, rework, scrap
    or return to supplier.

    The decision is recorded on the inspection and on its open nonconformance (reviewed
    and decided through their transitions). Where the plant asks for four eyes, it waits
    for a second quality lead (:func:`disposition_approve`); otherwise it is approved by
    the deciding person and carried out at once (:func:`disposition_carry_out`).
    """
    _require_quality(actor, inspection)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(
            message="Say why.",
            code="reason_required",
            details=[ErrorDetail(path="reason", code="required", message="A reason is required.")],
        )
    try:
        chosen = NonconformanceDisposition(disposition)
    except ValueError:
        raise DomainError(
            message=f"Unknown disposition {disposition!r}.",
            code="unknown_disposition",
            details=[
                ErrorDetail(
                    path="disposition",
                    code="choice",
                    message="Not a disposition.",
                    expected=", ".join(NonconformanceDisposition.values),
                    found=str(disposition),
                )
            ],
        ) from None
    locked = Inspection.objects.select_for_update().get(pk=inspection.pk)
    if locked.state != InspectionState.FAILED:
        raise DomainError(
            message=f"Inspection {locked} is {locked.get_state_display().lower()}: only a "
            "failed inspection needs a disposition.",
            code="inspection_not_failed",
        )
    if locked.dispositions.filter(carried_out_at__isnull=True).exists():
        raise Conflict(
            f"Inspection {locked} already has a disposition waiting for approval.",
            code="disposition_pending",
        )
    nonconformance = _open_nonconformance(locked)
    record = Disposition(
        inspection=locked,
        nonconformance=nonconformance,
        decision=DISPOSITION_DECISIONS[chosen],
        reason=reason,
        decided_by=actor,
    )
    record.full_clean()
    record.save()
    if nonconformance is not None:
        if nonconformance.state == NonconformanceState.OPENED:
            transition_apply(
                obj=nonconformance, transition="start_review", actor=actor, reason=reason
            )
        if nonconformance.state == NonconformanceState.UNDER_REVIEW:
            nonconformance_decide(
                nonconformance=nonconformance, disposition=chosen, actor=actor, reason=reason
            )
    if disposition_needs_four_eyes(locked.plant):
        return record
    return disposition_approve(disposition=record, actor=actor)


def _step(outcome: dict, text: str) -> None:
    outcome.setdefault("steps", []).append(text)


def _order_of(disposition: Disposition):
    from ..models import ProductionOrder

    order_id = disposition.inspection.order_id
    return ProductionOrder.objects.get(pk=order_id) if order_id else None


def _carry_out_use_as_is(d: Disposition, actor: Any, outcome: dict) -> None:
    from ..models import Gate
    from .gates import gate_override

    transition_apply(obj=d.inspection, transition="use_as_is", actor=actor, reason=d.reason)
    _step(outcome, "inspection conditionally released")
    order = _order_of(d)
    gate = Gate.objects.filter(kind="goods_receipt", order=order).first() if order else None
    if gate is not None:
        gate_override(gate=gate, actor=actor, reason=f"use as is: {d.reason}")
        _step(outcome, f"goods-receipt gate of {order.number} overridden; receipt posted to ERP")
    lot = d.inspection.lot
    if lot is not None and lot.status in (LotStatus.INSPECTION, LotStatus.BLOCKED):
        transition_to(obj=lot, target=LotStatus.AVAILABLE, actor=actor, reason=d.reason)
        _step(outcome, f"lot {lot.number} available")


def _carry_out_rework(d: Disposition, actor: Any, outcome: dict) -> None:
    from ..models import Operation

    order = _order_of(d)
    if order is None:
        lot = d.inspection.lot
        if lot is not None:
            transition_to(obj=lot, target=LotStatus.REWORK, actor=actor, reason=d.reason)
            _step(outcome, f"lot {lot.number} to rework")
        return
    last = order.operations.order_by("-sequence").first()
    if last is None:
        raise DomainError(
            message=f"Order {order} has no operation to take the work center from.",
            code="no_work_center",
        )
    sequences = [int(s) for s in order.operations.values_list("sequence", flat=True)]
    sequence = max([REWORK_SEQUENCE_START - 10, *sequences]) + 10
    operation = Operation(
        order=order,
        sequence=f"{sequence:04d}",
        description=f"Rework: {d.reason}"[:200],
        work_center=last.work_center,
        planned_qty=order.target_qty,
    )
    operation.full_clean()
    operation.save()
    transition_apply(obj=order, transition="rework", actor=actor, reason=d.reason)
    _step(outcome, f"order {order.number} back in process with rework operation {sequence:04d}")


def _post_scrap(d: Disposition, order, outcome: dict) -> None:
    from ..models import OutboxMessage
    from .outbox import outbox_system_for, outbox_wake_on_commit

    system_id = outbox_system_for(plant_id=order.plant_id, kind="erp")
    OutboxMessage.objects.get_or_create(
        idempotency_key=f"disposition:{d.pk}:scrap",
        defaults={
            "plant_id": order.plant_id,
            "target_system": "erp",
            "system_id": system_id,
            "message_type": "scrap",
            "payload": {
                "order": order.number,
                "item": order.item.code,
                "qty": float(order.confirmed_qty or order.target_qty),
                "uom": order.uom.code,
                "reason_code": SCRAP_REASON_CODE,
                "reason": d.reason[:500],
            },
            "rule": "disposition",
            "correlation_id": f"disposition-{d.pk}",
            "created_at": timezone.now(),
            "next_attempt_at": timezone.now(),
        },
    )
    if system_id is not None:
        outbox_wake_on_commit({system_id})
    _step(outcome, f"scrap of {order.number} posted to ERP (outbox)")


def _carry_out_scrap(d: Disposition, actor: Any, outcome: dict) -> None:
    order = _order_of(d)
    lot = d.inspection.lot
    if lot is not None and lot.status != LotStatus.SCRAPPED:
        if lot.status == LotStatus.AVAILABLE:
            transition_to(obj=lot, target=LotStatus.BLOCKED, actor=actor, reason=d.reason)
        transition_to(obj=lot, target=LotStatus.SCRAPPED, actor=actor, reason=d.reason)
        _step(outcome, f"lot {lot.number} scrapped")
    if order is not None:
        _post_scrap(d, order, outcome)
        transition_apply(obj=order, transition="close", actor=actor, reason=d.reason)
        _step(outcome, f"order {order.number} closed")


def _carry_out_return(d: Disposition, actor: Any, outcome: dict) -> None:
    from ..models import Notification
    from ..models.notifications import NotificationKind

    inspection = d.inspection
    lot = inspection.lot
    nonconformance = d.nonconformance
    supplier = (
        nonconformance.supplier
        if nonconformance is not None and nonconformance.supplier_id
        else (lot.supplier if lot is not None and lot.supplier_id else None)
    )
    if lot is not None and lot.status != LotStatus.BLOCKED:
        transition_to(obj=lot, target=LotStatus.BLOCKED, actor=actor, reason=d.reason)
        _step(outcome, f"lot {lot.number} blocked for return")
    case = Notification.objects.create(
        plant_id=inspection.plant_id,
        kind=NotificationKind.SUPPLIER_CASE,
        role="procurement",
        message=f"return to supplier: {d.reason}"[:500],
        details={
            "supplier": supplier.code if supplier else "",
            "lot": lot.number if lot else "",
            "inspection": inspection.number,
            "nonconformance": nonconformance.number if nonconformance else "",
            "disposition": d.pk,
            "evidence": [
                {
                    "characteristic": r.characteristic,
                    "measured": str(r.measured_value),
                    "conforming": r.conforming,
                    "observation": r.observation,
                }
                for r in inspection.results.all()
            ],
        },
        correlation_id=f"disposition-{d.pk}",
        created_at=timezone.now(),
    )
    _step(outcome, f"supplier case {case.pk} opened for procurement")
    order = _order_of(d)
    if order is not None and order.state == "quality_pending":
        transition_apply(obj=order, transition="close", actor=actor, reason=d.reason)
        _step(outcome, f"order {order.number} closed")


_CARRY_OUT = {
    DispositionDecision.CONDITIONAL_RELEASE: _carry_out_use_as_is,
    DispositionDecision.REWORK: _carry_out_rework,
    DispositionDecision.SCRAP: _carry_out_scrap,
    DispositionDecision.RETURN_TO_SUPPLIER: _carry_out_return,
}


@transaction.atomic
def disposition_carry_out(*, disposition: Disposition, actor: Any) -> Disposition:
    """Do what an approved disposition says, once (every step is audited):

    - use as is: the inspection is conditionally released, the goods-receipt gate is
      overridden with the reason (so the receipt is posted to the ERP and the order moves
      on when the ERP confirms it), the lot becomes available;
    - rework: a rework operation is added and the order goes back to in process;
    - scrap: the lot is scrapped, a scrap posting goes to the ERP (outbox), the order closes;
    - return to supplier: the lot is blocked and a supplier case opens for procurement
      with the evidence; an order waiting for quality closes.

    The nonconformance, if any, is closed.
    """
    locked = (
        Disposition.objects.select_for_update().select_related("inspection").get(pk=disposition.pk)
    )
    if locked.carried_out_at is not None:
        return locked
    if locked.approved_at is None:
        raise DomainError(
            message=f"Disposition {locked} is not approved yet.", code="disposition_unapproved"
        )
    handler = _CARRY_OUT.get(locked.decision)
    outcome: dict = {}
    if handler is not None:
        handler(locked, actor, outcome)
    nonconformance = locked.nonconformance
    if (
        nonconformance is not None
        and nonconformance.state == NonconformanceState.DISPOSITION_DECIDED
    ):
        transition_apply(obj=nonconformance, transition="close", actor=actor, reason=locked.reason)
        _step(outcome, f"nonconformance {nonconformance.number} closed")
    locked.carried_out_at = timezone.now()
    locked.outcome = outcome
    locked.save(update_fields=["carried_out_at", "outcome"])
    return locked
