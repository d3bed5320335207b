"""Quality: inspection plans, inspections with result lines and dispositions, and
nonconformances."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django_fsm import FSMField, transition
from simple_history.models import HistoricalRecords

from plants.models.base import code_validator

from ..choices import (
    DispositionDecision,
    InspectionKind,
    InspectionState,
    NonconformanceDisposition,
    NonconformanceState,
)
from .base import PERM_DECIDE_DISPOSITION, LifecycleModel, PlantBound

I = InspectionState  # noqa: E741
N = NonconformanceState
PERM_CHANGE_INSPECTION = "orchestrator.change_inspection"
PERM_CHANGE_NONCONFORMANCE = "orchestrator.change_nonconformance"


class InspectionPlan(PlantBound, models.Model):
    """What to check on an item at a plant (incoming, in-process or final), and how.

    ``characteristics`` lists ``{"name", "lower", "upper", "unit"}``; an inspection made
    from the plan gets one result line per characteristic.
    """

    plant = models.ForeignKey(
        "plants.Plant", on_delete=models.PROTECT, related_name="inspection_plans"
    )
    code = models.CharField(max_length=40, validators=[code_validator])
    item = models.ForeignKey("plants.Item", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=InspectionKind.choices)
    description = models.CharField(max_length=200, blank=True)
    sample_size = models.PositiveIntegerField(default=1)
    characteristics = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["plant__code", "code"]
        constraints = [
            models.UniqueConstraint(fields=["plant", "code"], name="inspection_plan_code_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.plant.code}/{self.code}"

    def clean(self) -> None:
        if not isinstance(self.characteristics, list) or not all(
            isinstance(c, dict) and c.get("name") for c in self.characteristics
        ):
            raise ValidationError(
                {"characteristics": 'A list of objects, each with at least a "name".'}
            )


def _results_complete(inspection: Inspection) -> bool:
    # "Result completeness" (DOMAIN.md): no outcome before every line has a verdict.
    verdicts = [r.conforming for r in inspection.results.all()]
    return bool(verdicts) and None not in verdicts


def _use_as_is_approved(inspection: Inspection) -> bool:
    """quality approved a use-as-is disposition"""
    return inspection.dispositions.filter(
        decision=DispositionDecision.CONDITIONAL_RELEASE, approved_at__isnull=False
    ).exists()


def _results_all_conform(inspection: Inspection) -> bool:
    return (
        _results_complete(inspection) and not inspection.results.filter(conforming=False).exists()
    )


class Inspection(PlantBound, LifecycleModel):
    """One inspection of a lot or an order's output: requested → in progress → passed,
    failed or conditionally released. The outcome alone releases nothing: a quality
    person's approved :class:`Disposition` does."""

    plant = models.ForeignKey("plants.Plant", on_delete=models.PROTECT, related_name="inspections")
    number = models.CharField(max_length=40, validators=[code_validator])
    plan = models.ForeignKey(
        InspectionPlan, null=True, blank=True, on_delete=models.PROTECT, related_name="inspections"
    )
    kind = models.CharField(max_length=20, choices=InspectionKind.choices)
    lot = models.ForeignKey(
        "orchestrator.Lot",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="inspections",
    )
    order = models.ForeignKey(
        "orchestrator.ProductionOrder",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="inspections",
    )
    qms_reference = models.CharField(max_length=60, blank=True)
    requested_at = models.DateTimeField(default=timezone.now)
    state = FSMField(default=I.REQUESTED, choices=I.choices, protected=True, db_index=True)

    class Meta:
        ordering = ["plant__code", "number"]
        constraints = [
            models.UniqueConstraint(fields=["plant", "number"], name="inspection_number_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.plant.code}/{self.number}"

    def clean(self) -> None:
        if self.lot_id is None and self.order_id is None:
            raise ValidationError("An inspection covers a lot, an order, or both.")
        for name in ("lot", "order"):
            related = getattr(self, name) if getattr(self, f"{name}_id") else None
            if related is not None and self.plant_id and related.plant_id != self.plant_id:
                raise ValidationError({name: f"The {name} belongs to another plant."})

    @transition(
        field=state, source=I.REQUESTED, target=I.IN_PROGRESS, permission=PERM_CHANGE_INSPECTION
    )
    def start(self) -> None:
        """The inspector began."""

    @transition(
        field=state,
        source=I.IN_PROGRESS,
        target=I.PASSED,
        conditions=[_results_all_conform],
        permission=PERM_CHANGE_INSPECTION,
    )
    def pass_inspection(self) -> None:
        """Every result line is recorded and conforms."""

    @transition(
        field=state,
        source=I.IN_PROGRESS,
        target=I.FAILED,
        conditions=[_results_complete],
        permission=PERM_CHANGE_INSPECTION,
    )
    def fail(self) -> None:
        """Every result line is recorded; the material does not conform."""

    @transition(
        field=state,
        source=I.IN_PROGRESS,
        target=I.CONDITIONALLY_RELEASED,
        conditions=[_results_complete],
        permission=PERM_CHANGE_INSPECTION,
    )
    def release_conditionally(self) -> None:
        """Usable under conditions (deviation), pending a quality disposition."""

    @transition(
        field=state,
        source=I.FAILED,
        target=I.CONDITIONALLY_RELEASED,
        conditions=[_use_as_is_approved],
        permission=PERM_DECIDE_DISPOSITION,
    )
    def use_as_is(self) -> None:
        """Failed, but quality decided to use the material as is (a conditional release)."""


class InspectionResult(models.Model):
    """One checked characteristic of an inspection: the measured or observed value and
    whether it conforms (empty until recorded)."""

    inspection = models.ForeignKey(Inspection, on_delete=models.CASCADE, related_name="results")
    characteristic = models.CharField(max_length=100)
    lower_limit = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    upper_limit = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    measured_value = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    observation = models.CharField(max_length=300, blank=True)
    conforming = models.BooleanField(null=True, blank=True, help_text="Empty: not recorded yet.")
    recorded_at = models.DateTimeField(null=True, blank=True)

    plant_lookup = "inspection__plant"

    class Meta:
        ordering = ["inspection", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["inspection", "characteristic"], name="inspection_result_unique"
            ),
        ]

    def __str__(self) -> str:
        verdict = {True: "ok", False: "NOK", None: "open"}[self.conforming]
        return f"{self.characteristic}: {verdict}"

    def scope_plant_ids(self) -> set[int]:
        return {self.inspection.plant_id}


class Disposition(models.Model):
    """Quality's decision about inspected material (release, rework, scrap, ...), made and
    approved by people holding ``orchestrator.decide_disposition`` at the plant: release,
    scrap and financial decisions stay with people (DOMAIN.md).

    Where the plant asks for four eyes (``quality.disposition_four_eyes``) a second
    quality lead approves; the decision is carried out (``carried_out_at``, ``outcome``)
    when it is approved. ``nonconformance`` is the case it decides (genealogy:
    disposition ↔ nonconformance)."""

    inspection = models.ForeignKey(
        Inspection, on_delete=models.PROTECT, related_name="dispositions"
    )
    nonconformance = models.ForeignKey(
        "orchestrator.Nonconformance",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="dispositions",
    )
    decision = models.CharField(max_length=30, choices=DispositionDecision.choices)
    reason = models.TextField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(default=timezone.now)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    carried_out_at = models.DateTimeField(null=True, blank=True)
    outcome = models.JSONField(
        default=dict, blank=True, help_text="What carrying the decision out did, step by step."
    )

    plant_lookup = "inspection__plant"

    class Meta:
        ordering = ["inspection", "-decided_at"]
        permissions = [("decide_disposition", "Can decide and approve dispositions")]

    def __str__(self) -> str:
        return f"{self.inspection}: {self.get_decision_display()}"

    def scope_plant_ids(self) -> set[int]:
        return {self.inspection.plant_id}

    @property
    def approved(self) -> bool:
        return self.approved_at is not None


def _has_disposition(nc: Nonconformance) -> bool:
    return bool(nc.disposition)


class Nonconformance(PlantBound, LifecycleModel):
    """A nonconformance: material or process outside specification, reviewed by quality,
    decided (use as is, rework, scrap, return to supplier) and closed, with its CAPA."""

    plant = models.ForeignKey(
        "plants.Plant", on_delete=models.PROTECT, related_name="nonconformances"
    )
    number = models.CharField(max_length=40, validators=[code_validator])
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    lot = models.ForeignKey(
        "orchestrator.Lot",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="nonconformances",
    )
    order = models.ForeignKey(
        "orchestrator.ProductionOrder",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="nonconformances",
    )
    inspection = models.ForeignKey(
        Inspection, null=True, blank=True, on_delete=models.PROTECT, related_name="nonconformances"
    )
    supplier = models.ForeignKey(
        "plants.Supplier", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    disposition = models.CharField(
        max_length=30, blank=True, choices=NonconformanceDisposition.choices
    )
    capa_reference = models.CharField(
        max_length=60, blank=True, help_text="Corrective/preventive action in the QMS."
    )
    state = FSMField(default=N.OPENED, choices=N.choices, protected=True, db_index=True)

    class Meta:
        ordering = ["plant__code", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["plant", "number"], name="nonconformance_number_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plant.code}/{self.number}"

    @transition(
        field=state, source=N.OPENED, target=N.UNDER_REVIEW, permission=PERM_CHANGE_NONCONFORMANCE
    )
    def start_review(self) -> None:
        """Quality took the case."""

    @transition(
        field=state,
        source=N.UNDER_REVIEW,
        target=N.DISPOSITION_DECIDED,
        conditions=[_has_disposition],
        permission=PERM_CHANGE_NONCONFORMANCE,
    )
    def decide(self) -> None:
        """A disposition was chosen (it must be set)."""

    @transition(
        field=state,
        source=N.DISPOSITION_DECIDED,
        target=N.CLOSED,
        permission=PERM_CHANGE_NONCONFORMANCE,
    )
    def close(self) -> None:
        """The disposition was carried out."""
