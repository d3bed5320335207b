"""Services of inspections, dispositions and nonconformances."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from interlock.errors import DomainError, NotAllowed
from plants.choices import InspectionOutcome

from ..choices import InspectionState, NonconformanceDisposition
from ..models import Disposition, Inspection, InspectionResult, Nonconformance
from ..models.base import PERM_DECIDE_DISPOSITION
from .lifecycle import transition_apply

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
    """Quality approves a decided disposition; only then may gates act on it."""
    _require_quality(actor, disposition.inspection)
    locked = Disposition.objects.select_for_update().get(pk=disposition.pk)
    if locked.approved_at is None:
        locked.approved_by, locked.approved_at = actor, timezone.now()
        locked.full_clean()
        locked.save()
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
