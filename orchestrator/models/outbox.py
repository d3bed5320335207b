"""The outbox: side effects toward connected systems, written in the same transaction as
the state change that caused them (delivery by Celery after commit is a later issue)."""

from __future__ import annotations

from django.db import models

from .base import PlantBound


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    DEAD = "dead", "Dead-lettered"


class OutboxMessage(PlantBound, models.Model):
    """One message to post to a connected system (``post_to_system``): target system kind,
    message type, payload, and an idempotency key the receiver deduplicates on. The key is
    unique here too, so re-applying an event never queues the same message twice."""

    plant = models.ForeignKey("plants.Plant", on_delete=models.PROTECT, related_name="+")
    target_system = models.CharField(max_length=20, help_text="erp, mes, qms or wms")
    message_type = models.CharField(max_length=100)
    payload = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=600, unique=True)
    event = models.ForeignKey(
        "orchestrator.Event", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rule = models.CharField(max_length=200, blank=True)
    correlation_id = models.CharField(max_length=100, db_index=True)
    status = models.CharField(
        max_length=20, choices=OutboxStatus.choices, default=OutboxStatus.PENDING, db_index=True
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.message_type} → {self.target_system} ({self.status})"
