"""An operator's edited payload, waiting to be replayed (the workbench's edit-then-replay)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from .base import PlantBound


class PayloadEditState(models.TextChoices):
    PENDING = "pending", "Waiting for a second operator"
    REPLAYED = "replayed", "Replayed"
    REJECTED = "rejected", "Rejected"


class PayloadEdit(PlantBound, models.Model):
    """A corrected body for a stored message: the original message is never changed; the
    edit keeps the new body, the field-by-field ``diff`` against the original, who edited
    and why, and (where the plant asks for four eyes, ``workbench.edit_replay_four_eyes``)
    who approved. Replaying it creates a new message pointing back at the original."""

    message = models.ForeignKey(
        "orchestrator.InboundMessage", on_delete=models.PROTECT, related_name="payload_edits"
    )
    plant = models.ForeignKey(
        "plants.Plant", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    body = models.JSONField(help_text="The corrected envelope that is replayed.")
    diff = models.JSONField(default=list, help_text='[{"path", "before", "after"}]')
    reason = models.CharField(max_length=300)
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    edited_at = models.DateTimeField()
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(
        max_length=20, choices=PayloadEditState.choices, default=PayloadEditState.PENDING
    )
    replay = models.ForeignKey(
        "orchestrator.InboundMessage",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    plant_lookup = "plant"

    class Meta:
        ordering = ["-edited_at", "-id"]

    def __str__(self) -> str:
        return f"edit of message {self.message_id} ({self.get_state_display().lower()})"

    def scope_plant_ids(self) -> set[int]:
        return {self.plant_id} if self.plant_id else set()
