"""Dependency gates and synchronous checks: controls as first-class records.

A :class:`Gate` says "goods receipt for WO-1001 waits for inspection INS-77 (since
10:42)": it is visible on the order, in the API and in the admin, and it opens only
through a transition (with its audit record) when the rule that governs it says so, or
when a quality lead overrides it with a reason.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django_fsm import FSMField, transition

from .base import PERM_OVERRIDE_GATE, LifecycleModel, PlantBound

#: Gate kind held by ``require_approval``: the gated steps wait for a person's decision.
APPROVAL_GATE = "approval"


class GateState(models.TextChoices):
    CLOSED = "closed", "Closed (waiting)"
    OPEN = "open", "Open"
    OVERRIDDEN = "overridden", "Opened by override"


class Gate(PlantBound, LifecycleModel):
    """One dependency: ``kind`` of step for a subject (an order, a lot) waits for something.

    ``kind`` names the gated step (``goods_receipt``, ``mes_acknowledgment``...);
    ``waits_for`` says in words and by reference what it waits for; the state's
    ``state_changed_at`` says since when.
    """

    plant = models.ForeignKey("plants.Plant", on_delete=models.PROTECT, related_name="gates")
    kind = models.CharField(max_length=60)
    order = models.ForeignKey(
        "orchestrator.ProductionOrder",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="gates",
    )
    lot = models.ForeignKey(
        "orchestrator.Lot", null=True, blank=True, on_delete=models.CASCADE, related_name="gates"
    )
    inspection = models.ForeignKey(
        "orchestrator.Inspection",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="gates",
    )
    waits_for = models.CharField(
        max_length=300, help_text="e.g. 'inspection INS-77 passed or conditionally released'"
    )
    reason = models.CharField(
        max_length=300, blank=True, help_text="Why it is in its current state."
    )
    rule = models.CharField(
        max_length=200, blank=True, help_text="Rule (set@version:rule) that last decided."
    )
    state = FSMField(
        default=GateState.CLOSED, choices=GateState.choices, protected=True, db_index=True
    )

    class Meta:
        ordering = ["-state_changed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "order"],
                condition=models.Q(order__isnull=False),
                name="gate_unique_per_order",
            ),
            models.UniqueConstraint(
                fields=["kind", "lot"],
                condition=models.Q(lot__isnull=False, order__isnull=True),
                name="gate_unique_per_lot",
            ),
        ]

    def __str__(self) -> str:
        subject = (
            f"order {self.order.number}"
            if self.order_id
            else (f"lot {self.lot.number}" if self.lot_id else "?")
        )
        return f"{self.kind} for {subject} waits for {self.waits_for}"

    @transition(field=state, source=GateState.CLOSED, target=GateState.OPEN)
    def open(self) -> None:
        """The awaited condition is met."""

    @transition(field=state, source=[GateState.OPEN, GateState.OVERRIDDEN], target=GateState.CLOSED)
    def close(self) -> None:
        """Hold again (e.g. a later failing result)."""

    @transition(
        field=state,
        source=GateState.CLOSED,
        target=GateState.OVERRIDDEN,
        permission=PERM_OVERRIDE_GATE,
    )
    def override(self) -> None:
        """A quality lead lets the step through despite the gate, with a reason."""


class CheckRecord(models.Model):
    """A synchronous check that was asked (``may lot L-88 be issued to WO-1001?``) and its answer."""

    check_name = models.CharField(max_length=60, db_index=True)
    plant = models.ForeignKey(
        "plants.Plant", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    system = models.ForeignKey(
        "plants.ConnectedSystem", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    request = models.JSONField()
    allowed = models.BooleanField()
    reasons = models.JSONField(default=list, blank=True)
    explanation = models.JSONField(
        default=dict,
        blank=True,
        help_text="The rule set versions that judged the question, and the rules that decided.",
    )
    correlation_id = models.CharField(max_length=100, blank=True, db_index=True)
    asked_at = models.DateTimeField(db_index=True)
    duration_ms = models.FloatField(default=0)

    plant_lookup = "plant"

    class Meta:
        ordering = ["-asked_at", "-id"]

    def __str__(self) -> str:
        return f"check {self.check_name} → {'allow' if self.allowed else 'deny'}"

    def scope_plant_ids(self) -> set[int]:
        return {self.plant_id} if self.plant_id else set()
