"""Reconciliation (scenario 9): what the ERP, MES and QMS hold, compared with Interlock.

A :class:`ReconciliationRun` takes one snapshot per connected system of a plant and
compares it with Interlock's records within the plant's tolerances. Each difference is a
:class:`ReconciliationException` with a correction workflow (``open → assigned →
correction_posted | accepted → closed``), a task for the plant's reconciliation role, and
an audit record per step (``orchestrator.services.reconciliation``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django_fsm import FSMField, transition

from .base import LifecycleModel, PlantBound


class RunState(models.TextChoices):
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ReconciliationRun(PlantBound, models.Model):
    """One reconciliation of a plant: when, by whom, what was compared and found.

    ``report`` holds per system whether its snapshot was taken (or the error), how many
    orders, lots and inspections were compared, and the differences by field."""

    plant = models.ForeignKey("plants.Plant", on_delete=models.PROTECT, related_name="+")
    state = models.CharField(
        max_length=10, choices=RunState.choices, default=RunState.RUNNING, db_index=True
    )
    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    started_by = models.CharField(max_length=150, help_text="user name or system:interlock")
    compared = models.PositiveIntegerField(default=0, help_text="values compared")
    differences = models.PositiveIntegerField(default=0)
    opened = models.PositiveIntegerField(default=0, help_text="new exceptions")
    closed = models.PositiveIntegerField(default=0, help_text="exceptions verified and closed")
    report = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return (
            f"{self.plant.code} reconciliation {self.started_at:%Y-%m-%d %H:%M} "
            f"({self.get_state_display().lower()})"
        )


class ExceptionState(models.TextChoices):
    OPEN = "open", "Open"
    ASSIGNED = "assigned", "Assigned"
    CORRECTION_POSTED = "correction_posted", "Correction posted"
    ACCEPTED = "accepted", "Accepted with a reason"
    CLOSED = "closed", "Closed"


ACTIVE_EXCEPTION_STATES = (
    ExceptionState.OPEN,
    ExceptionState.ASSIGNED,
    ExceptionState.CORRECTION_POSTED,
    ExceptionState.ACCEPTED,
)


class ReconciliationException(PlantBound, LifecycleModel):
    """One difference between a system and Interlock: ``system`` says ``system_value``
    for ``field`` of ``subject_kind`` ``subject``, Interlock says ``interlock_value``.

    While it is not closed, later runs that find the same difference update
    ``last_seen_run`` instead of opening another. A correction is an outbox row to the
    system (``correction``); a run that no longer finds the difference closes it."""

    plant = models.ForeignKey("plants.Plant", on_delete=models.PROTECT, related_name="+")
    run = models.ForeignKey(ReconciliationRun, on_delete=models.PROTECT, related_name="exceptions")
    last_seen_run = models.ForeignKey(
        ReconciliationRun, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    system = models.CharField(max_length=10, help_text="erp, mes or qms")
    subject_kind = models.CharField(max_length=20, help_text="order, lot or inspection")
    subject = models.CharField(max_length=80, help_text="order, lot or inspection number")
    field = models.CharField(max_length=40)
    interlock_value = models.CharField(max_length=200, blank=True)
    system_value = models.CharField(max_length=200, blank=True)
    difference = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    tolerance = models.CharField(max_length=100, blank=True)
    state = FSMField(
        default=ExceptionState.OPEN, choices=ExceptionState.choices, protected=True, db_index=True
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution = models.TextField(blank=True)
    correction = models.ForeignKey(
        "orchestrator.OutboxMessage",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    task = models.ForeignKey(
        "orchestrator.Task", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    order = models.ForeignKey(
        "orchestrator.ProductionOrder",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    lot = models.ForeignKey(
        "orchestrator.Lot", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    correlation_id = models.CharField(max_length=100, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["plant", "system", "subject_kind", "subject", "field"],
                name="recon_exc_subject_idx",
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.system.upper()} {self.subject_kind} {self.subject} {self.field}: "
            f"{self.system_value or '—'} vs Interlock {self.interlock_value or '—'}"
        )

    @transition(
        field=state,
        source=[ExceptionState.OPEN, ExceptionState.ASSIGNED],
        target=ExceptionState.ASSIGNED,
    )
    def assign(self) -> None:
        """Someone takes it (``assignee``)."""

    @transition(
        field=state,
        source=[ExceptionState.OPEN, ExceptionState.ASSIGNED],
        target=ExceptionState.CORRECTION_POSTED,
    )
    def post_correction(self) -> None:
        """The correcting message is in the outbox to the system."""

    @transition(
        field=state,
        source=[ExceptionState.OPEN, ExceptionState.ASSIGNED],
        target=ExceptionState.ACCEPTED,
    )
    def accept(self) -> None:
        """The difference is right (or explained): accepted with a reason."""

    @transition(field=state, source=list(ACTIVE_EXCEPTION_STATES), target=ExceptionState.CLOSED)
    def close(self) -> None:
        """Verified (a later run agrees, whatever was done), or closed by a person once
        accepted or corrected (``services.reconciliation.exception_close`` checks that)."""
