"""The audit trail: one immutable row per state change of a business object."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from interlock.errors import DomainError

from .base import ledger_reference


class AuditRecordImmutable(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__(message=message, code="audit_immutable", http_status=409)


class AuditRecordQuerySet(models.QuerySet):
    def for_object(self, obj: models.Model) -> AuditRecordQuerySet:
        ct = ContentType.objects.get_for_model(obj, for_concrete_model=False)
        return self.filter(content_type=ct, object_id=str(obj.pk))

    def update(self, **kwargs):
        raise AuditRecordImmutable("Audit records cannot be updated.")

    def delete(self):
        raise AuditRecordImmutable("Audit records cannot be deleted.")


class AuditRecord(models.Model):
    """Who moved which object from which state to which, when, why, and under which
    correlation id.

    Written by ``transition_apply`` in the same transaction as the state change, so a
    state change without its audit record cannot exist. Rows are never changed: ``save()``
    refuses updates, ``delete()`` refuses, and on PostgreSQL a trigger (migrations 0002 and
    0011) rejects ``UPDATE``/``DELETE`` from any client, including raw SQL, and
    ``TRUNCATE`` from any role but a superuser.

    **Hash chain.** Rows are inserted with empty chain columns (the hot insert path stays
    set-wise); the sealer (``orchestrator.services.audit_chain``, every minute) then gives
    them, in id order, a ``chain_seq`` and ``record_hash`` = SHA-256 over the row's
    canonical content and ``prev_hash``, the hash of the record before it. The trigger lets
    exactly that update through, once. ``manage.py audit_verify`` recomputes the chain.
    """

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    # PROTECT rather than SET_NULL: nulling the actor would be an UPDATE of an immutable row.
    # People who leave are deactivated, not deleted.
    actor = ledger_reference(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    actor_label = models.CharField(
        max_length=150, help_text="Username, or 'system:<code>' for a connected system."
    )
    # No index of its own: audit_object_idx (content_type, object_id, occurred_at) leads
    # with it, and an audit row is written for most events.
    content_type = ledger_reference(
        ContentType,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    # Text, so that objects of any app (rule versions, too) fit the same trail.
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    plant = ledger_reference(
        "plants.Plant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty for company-wide objects.",
    )
    field = models.CharField(max_length=50)
    transition = models.CharField(max_length=60)
    source_state = models.CharField(max_length=50)
    target_state = models.CharField(max_length=50)
    reason = models.TextField(blank=True)
    correlation_id = models.CharField(max_length=100)
    # The chain (one for the whole trail): see the class docstring. NULL, not "", means
    # "not sealed yet": the trigger lets exactly NULL → hash through, once.
    chain_seq = models.BigIntegerField(null=True, blank=True, unique=True, editable=False)
    prev_hash = models.CharField(max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001
    record_hash = models.CharField(max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001

    objects = AuditRecordQuerySet.as_manager()
    plant_lookup = "plant"

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            # "The history of this order", newest first: the admin page and the API.
            models.Index(
                fields=["content_type", "object_id", "-occurred_at"], name="audit_object_idx"
            ),
            # "Everything that happened for this event": the trace by correlation id.
            models.Index(fields=["correlation_id"], name="audit_correlation_idx"),
            # What the sealer has left to do, in id order; small (sealed rows leave it).
            models.Index(
                fields=["id"],
                name="audit_unsealed_idx",
                condition=models.Q(record_hash__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.object_repr}: {self.source_state} → {self.target_state} ({self.transition})"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not self._state.adding:
            raise AuditRecordImmutable("Audit records cannot be changed once written.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditRecordImmutable("Audit records cannot be deleted.")

    def scope_plant_ids(self) -> set[int] | None:
        return {self.plant_id} if self.plant_id else None


class AuditSeal(models.Model):
    """A checkpoint of the audit chain: after each sealing run, the sequence number and
    hash it reached. Append-only like the trail (same trigger). A trail whose end is
    shorter than the last seal, or whose record at a sealed position has another hash, was
    truncated or rewritten; a seal is also logged, so a copy of the head lives outside the
    database too."""

    sealed_at = models.DateTimeField(default=timezone.now)
    chain_seq = models.BigIntegerField(help_text="Sequence number of the last sealed record.")
    record_hash = models.CharField(max_length=64, help_text="Its hash (the chain's head).")
    records = models.PositiveIntegerField(help_text="Records sealed by this run.")

    class Meta:
        ordering = ["-chain_seq"]
        get_latest_by = "chain_seq"

    def __str__(self) -> str:
        return f"audit chain sealed to {self.chain_seq} ({self.record_hash[:12]}…)"
