"""Who may do what, where: a person's role memberships, each for one plant or for all."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

from ..choices import Role

#: Roles whose members act company-wide and may hold a membership without a plant.
GLOBAL_ROLES = {Role.GOVERNANCE_BOARD, Role.AUDITOR}


class Membership(models.Model):
    """Grants ``role`` to ``user`` at ``plant`` (or at every plant when ``plant`` is empty,
    which only the company-wide roles may use). Permissions come from ``plants.roles``."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    plant = models.ForeignKey(
        "plants.Plant",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="memberships",
        help_text="Empty: every plant (governance board and auditors only).",
    )
    granted_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    plant_lookup = "plant"

    class Meta:
        ordering = ["user__username", "role", "plant__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "role", "plant"],
                name="membership_unique_per_plant",
                condition=models.Q(plant__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["user", "role"],
                name="membership_unique_global",
                condition=models.Q(plant__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        where = self.plant.code if self.plant_id else "all plants"
        return f"{self.user} · {self.get_role_display()} · {where}"

    def scope_plant_ids(self) -> set[int]:
        return {self.plant_id} if self.plant_id else set()

    def clean(self) -> None:
        if self.plant_id is None and self.role not in GLOBAL_ROLES:
            raise ValidationError(
                {"plant": f"A {self.get_role_display()} membership needs a plant."}
            )
