"""The audit trail: one immutable row per state change of a business object."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from interlock.errors import DomainError


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
    refuses updates, ``delete()`` refuses, and on PostgreSQL a trigger (migration 0002)
    rejects ``UPDATE``/``DELETE`` from any client, including raw SQL.
    """

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    # PROTECT rather than SET_NULL: nulling the actor would be an UPDATE of an immutable row.
    # People who leave are deactivated, not deleted.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(
        max_length=150, help_text="Username, or 'system:<code>' for a connected system."
    )
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    # Text, so that objects of any app (rule versions, too) fit the same trail.
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    plant = models.ForeignKey(
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
