"""The event log: raw messages as received, canonical events, and the idempotency ledger.

Two tables on purpose. :class:`InboundMessage` is written for everything a connected
system sends (valid or not), before anything is acknowledged: on PostgreSQL in the
decision's transaction with its outcome, on SQLite (and after a failed decision) first,
in its own commit, leaving ``received`` rows for the sweeper if the server dies. :class:`Event` is
the canonical, mapped, validated business event; its ``idempotency_key`` column carries a
unique constraint and *is* the idempotency ledger: claiming a key is one
``INSERT … ON CONFLICT DO NOTHING`` for a whole batch, never a read-then-write.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

from .base import PlantBound, ledger_reference


class MessageStatus(models.TextChoices):
    """What happened to one message, and what the client was told."""

    RECEIVED = "received", "Received (not processed yet)"
    ACCEPTED = "accepted", "Accepted"
    DUPLICATE = "duplicate", "Duplicate of an earlier event"
    CONFLICT = "conflict", "Conflict: same business key, different payload"
    QUARANTINED = "quarantined", "Quarantined"
    REJECTED = "rejected", "Rejected"
    DISCARDED = "discarded", "Discarded by an operator"


class EventStatus(models.TextChoices):
    """Where a canonical event is on its way to a state change."""

    ACCEPTED = "accepted", "Accepted"
    APPLIED = "applied", "Applied"
    PARKED = "parked", "Parked: waiting for a prerequisite"
    ESCALATED = "escalated", "Escalated: prerequisite did not arrive in time"
    QUARANTINED = "quarantined", "Quarantined"
    DISCARDED = "discarded", "Discarded by an operator"


class InboundMessage(models.Model):
    """One message exactly as a connected system sent it, stored before anything else.

    ``body`` is the envelope as parsed from the request (``{"raw": text}`` when the request
    was not even JSON). ``reasons`` are machine-readable (``code``, ``path``, ``message``,
    ``expected``, ``found``). A quarantined or rejected message can be replayed after a
    fix; the replay is a new message pointing back with ``replay_of``.
    """

    received_at = models.DateTimeField(db_index=True)
    # Not indexed: shown with a message, never searched by (a bulk request's rows share it).
    request_id = models.UUIDField(help_text="The HTTP request it came in.")
    position = models.PositiveIntegerField(default=0, help_text="Index within a bulk request.")
    system = ledger_reference(
        "plants.ConnectedSystem",
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    plant = ledger_reference(
        "plants.Plant",
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    source = models.CharField(max_length=100, blank=True, help_text="As sent.")
    plant_code = models.CharField(max_length=100, blank=True, help_text="As sent.")
    event_type = models.CharField(max_length=100, blank=True, help_text="As sent.")
    message_id = models.CharField(max_length=200, blank=True)
    # Indexed for the trace (exact match); its ``varchar_pattern_ops`` twin is dropped
    # (migration 0020: no query matches a prefix).
    correlation_id = models.CharField(max_length=100, db_index=True)
    body = models.JSONField()
    status = models.CharField(
        max_length=20, choices=MessageStatus.choices, default=MessageStatus.RECEIVED
    )  # indexed by ``inbound_status_received`` (status first, the rare states only)
    reasons = models.JSONField(default=list, blank=True)
    event = ledger_reference(
        "orchestrator.Event",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="messages",
        help_text="The event it created or duplicated.",
    )
    processed_at = models.DateTimeField(null=True, blank=True)
    replay_of = ledger_reference(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="replays",
        db_index=False,  # partial index ``inbound_replay_of``: replays are rare
    )
    handled_by = ledger_reference(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # never filtered by (who handled a message is shown, not searched)
    )
    handled_reason = models.CharField(max_length=300, blank=True)

    plant_lookup = "plant"

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            # recovery (received, oldest first) and the workbench's attention filters. Not
            # the common outcomes: the outcome UPDATE of an accepted message (and the insert
            # of a duplicate) adds no entry here.
            models.Index(
                fields=["status", "received_at"],
                name="inbound_status_received",
                condition=~models.Q(status__in=["accepted", "duplicate"]),
            ),
            # the workbench's "replayed" subquery (replay_of = outer pk)
            models.Index(
                fields=["replay_of"],
                name="inbound_replay_of",
                condition=models.Q(replay_of__isnull=False),
            ),
        ]
        permissions = [
            ("replay_inboundmessage", "Can replay a quarantined or rejected message"),
            ("discard_inboundmessage", "Can discard a message with a reason"),
        ]

    def __str__(self) -> str:
        return (
            f"message {self.pk} {self.event_type or '?'} from {self.source or '?'} ({self.status})"
        )

    def scope_plant_ids(self) -> set[int]:
        return {self.plant_id} if self.plant_id else set()


class Event(PlantBound, models.Model):
    """A canonical business event: mapped to canonical codes, valid against its JSON Schema,
    unique by its business key (the idempotency ledger)."""

    plant = ledger_reference(
        "plants.Plant",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # the prefix of ``event_plant_type_received``
    )
    system = ledger_reference(
        "plants.ConnectedSystem",
        on_delete=models.PROTECT,
        related_name="+",
    )
    # ``event_type``, ``correlation_id`` and ``idempotency_key`` are searched by equality only:
    # their ``varchar_pattern_ops`` twins (for LIKE 'prefix%') are dropped (migration 0020).
    event_type = models.CharField(max_length=100, db_index=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    correlation_id = models.CharField(max_length=100, db_index=True)
    idempotency_key = models.CharField(max_length=512, unique=True)
    payload_hash = models.CharField(max_length=64)
    payload = models.JSONField(help_text="Canonical payload (after site mapping).")
    status = models.CharField(
        max_length=20, choices=EventStatus.choices, default=EventStatus.ACCEPTED
    )  # indexed by ``event_open`` (not applied), with ``waiting_for``
    reasons = models.JSONField(default=list, blank=True)
    waiting_for = models.CharField(
        max_length=300,
        blank=True,
        help_text="Prerequisite key a parked event waits for, e.g. 'order-acknowledged:P1:WO-1001'.",
    )
    parked_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    rule_pins = models.JSONField(
        default=dict, blank=True, help_text="Rule set versions this event is evaluated with."
    )
    explanation = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(
                fields=["plant", "event_type", "received_at"], name="event_plant_type_received"
            ),
            # Events that are not applied (parked, quarantined, escalated, discarded): the
            # sequencer's parked events of a key, escalation, the workbench and exception
            # lists. Applied events, nearly all of them, never enter it.
            models.Index(
                fields=["status", "waiting_for"],
                name="event_open",
                condition=~models.Q(status="applied"),
            ),
        ]
        permissions = [
            ("replay_event", "Can re-apply a quarantined or escalated event"),
            ("discard_event", "Can discard an event with a reason"),
        ]

    def __str__(self) -> str:
        return f"event {self.pk} {self.event_type} ({self.status})"


class IdempotencyRule(models.Model):
    """Which fields make up the business key of an event type (configuration as data).

    A field is an envelope field (``source``, ``plant``, ``type``) or a canonical payload
    field (``order``, ``operation``, ``sequence``, ``lot``…). With ``time_bucket_seconds``
    the occurrence time, floored to that bucket, is part of the key too (e.g. material
    issues from a scale that re-sends within the same minute).
    """

    event_type = models.CharField(max_length=100, unique=True)
    fields = models.JSONField(
        help_text='Ordered list, e.g. ["source", "plant", "order", "operation", "sequence"].'
    )
    time_bucket_seconds = models.PositiveIntegerField(null=True, blank=True)
    description = models.CharField(max_length=300, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["event_type"]

    def __str__(self) -> str:
        bucket = f" + {self.time_bucket_seconds}s bucket" if self.time_bucket_seconds else ""
        return f"{self.event_type}: {', '.join(self.fields)}{bucket}"

    def clean(self) -> None:
        if (
            not isinstance(self.fields, list)
            or not self.fields
            or not all(isinstance(f, str) and f for f in self.fields)
        ):
            raise ValidationError({"fields": "A non-empty list of field names."})
