"""What rules ask people for: notifications, threshold alerts, supplier cases and
approvals. The record is the control (who was told what, because of which event and
rule); what a person acts on is the :class:`~orchestrator.models.tasks.Task` opened with
it, which is also what is e-mailed."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from .base import PlantBound


class NotificationKind(models.TextChoices):
    NOTIFY = "notify", "Notification"
    THRESHOLD_ALERT = "threshold_alert", "Threshold alert"
    SUPPLIER_CASE = "supplier_case", "Supplier case"
    AUDIT_ALERT = "audit_alert", "Audit trail alert"


class Notification(PlantBound, models.Model):
    """A message to the people holding ``role`` at ``plant`` (``notify_role``,
    ``threshold_alert``, ``open_supplier_case``), with the event and rule behind it."""

    plant = models.ForeignKey("plants.Plant", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    role = models.CharField(max_length=40)
    message = models.CharField(max_length=500)
    details = models.JSONField(default=dict, blank=True)
    event = models.ForeignKey(
        "orchestrator.Event", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rule = models.CharField(max_length=200, blank=True)
    correlation_id = models.CharField(max_length=100, db_index=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} to {self.role}: {self.message}"


class ApprovalState(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    ESCALATED = "escalated", "Escalated"


class ApprovalRequest(PlantBound, models.Model):
    """A human decision a rule requires (``require_approval``): who must decide, why, by
    when, and whom to escalate to."""

    plant = models.ForeignKey("plants.Plant", on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=40)
    reason = models.CharField(max_length=500)
    escalate_to = models.CharField(max_length=40, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    order = models.ForeignKey(
        "orchestrator.ProductionOrder",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="approval_requests",
    )
    event = models.ForeignKey(
        "orchestrator.Event", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rule = models.CharField(max_length=200, blank=True)
    correlation_id = models.CharField(max_length=100, db_index=True)
    state = models.CharField(
        max_length=20, choices=ApprovalState.choices, default=ApprovalState.PENDING, db_index=True
    )
    gate = models.ForeignKey(
        "orchestrator.Gate",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="approval_requests",
        help_text="The closed ``approval`` gate the flow waits on until this is approved.",
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.CharField(max_length=500, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"approval by {self.role}: {self.reason} ({self.state})"
