"""The outbox: side effects toward connected systems, written in the same transaction as
the state change that caused them, and delivered after commit by Celery
(``connectors.outbound.delivery``).

PostgreSQL is the source of truth for delivery: a row's ``status`` and
``next_attempt_at`` say what a worker may claim, ``locked_until`` is the lease of the
worker that claimed it (a killed worker's rows come back when it expires), and every
attempt is a :class:`DeliveryAttempt` row. Redis only carries the wake-up calls.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from .base import PlantBound, ledger_reference


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_FLIGHT = "in_flight", "In flight"
    DELIVERED = "delivered", "Delivered"
    DEAD = "dead", "Dead-lettered"


class OutboxMessage(PlantBound, models.Model):
    """One message to post to a connected system (``post_to_system``): target system kind,
    message type, payload, and an idempotency key the receiver deduplicates on. The key is
    unique here too, so re-applying an event never queues the same message twice.

    Lifecycle: ``pending`` → ``in_flight`` (claimed by a worker, until ``locked_until``)
    → ``delivered`` (``reference`` is the receiver's document number) or back to
    ``pending`` with a later ``next_attempt_at`` (transient error) or ``dead`` (permanent
    error or ``max_attempts`` spent: the dead-letter queue, replayable by an operator).
    """

    plant = ledger_reference(
        "plants.Plant",
        on_delete=models.PROTECT,
        related_name="+",
    )
    target_system = models.CharField(max_length=20, help_text="erp, mes, qms or wms")
    system = ledger_reference(
        "plants.ConnectedSystem",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The system it is delivered to (resolved from plant and kind; empty "
        "while no active system of that kind serves the plant).",
    )
    message_type = models.CharField(max_length=100)
    payload = models.JSONField(default=dict, blank=True)
    # Equality only (the claim's ON CONFLICT, the trace): the ``varchar_pattern_ops`` twins of
    # this index and of ``correlation_id``'s are dropped (migration 0020).
    idempotency_key = models.CharField(max_length=600, unique=True)
    event = ledger_reference(
        "orchestrator.Event",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    rule = models.CharField(max_length=200, blank=True)
    correlation_id = models.CharField(max_length=100, db_index=True)
    status = models.CharField(
        max_length=20, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )  # due rows: ``outbox_due_idx``; dead letters: ``outbox_dead``
    created_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    locked_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    reference = models.CharField(
        max_length=200, blank=True, help_text="The receiver's document number."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("replay_outboxmessage", "Can replay a dead-lettered outbox message")]
        indexes = [
            # The workers' claim: due rows of one system, oldest first. Partial, so the
            # millions of delivered rows never enter it.
            models.Index(
                fields=["system", "next_attempt_at"],
                name="outbox_due_idx",
                condition=models.Q(status__in=["pending", "in_flight"]),
            ),
            # The dead-letter queue, newest first (delivered rows, nearly all, never enter it).
            models.Index(
                fields=["created_at"], name="outbox_dead", condition=models.Q(status="dead")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.message_type} → {self.target_system} ({self.status})"


class AttemptOutcome(models.TextChoices):
    DELIVERED = "delivered", "Delivered"
    DUPLICATE = "duplicate", "Duplicate (receiver had it)"
    TRANSIENT = "transient", "Transient error"
    PERMANENT = "permanent", "Permanent error"
    REJECTED = "rejected", "Rejected by the receiver"


class DeliveryAttempt(models.Model):
    """One attempt to deliver one outbox message: when, what the receiver answered (HTTP
    status, error), how long it took. Kept for every attempt, dead-lettered rows included;
    messages sent in one batch request share ``batch``."""

    message = ledger_reference(
        OutboxMessage,
        on_delete=models.CASCADE,
        related_name="attempts_log",
    )
    system = ledger_reference(
        "plants.ConnectedSystem",
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField()
    outcome = models.CharField(max_length=20, choices=AttemptOutcome.choices)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    batch = models.UUIDField(null=True, blank=True)

    plant_lookup = "message__plant"

    class Meta:
        ordering = ["message_id", "number", "id"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.message_id}: {self.outcome}"

    def scope_plant_ids(self) -> set[int]:
        return {self.message.plant_id}
