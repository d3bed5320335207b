"""Release calendar: when configuration changes (mappings, rule versions) may go live at a
plant. Weekly windows in the plant's local time, minus freeze periods."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

from ..choices import Weekday


class ReleaseWindow(models.Model):
    """A weekly recurring window, in plant-local time, in which changes may go live."""

    plant = models.ForeignKey(
        "plants.Plant", on_delete=models.CASCADE, related_name="release_windows"
    )
    name = models.CharField(max_length=100, help_text="e.g. 'Sunday maintenance shift'")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start_time = models.TimeField()
    end_time = models.TimeField()
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    plant_lookup = "plant"

    class Meta:
        ordering = ["plant__code", "weekday", "start_time"]

    def __str__(self) -> str:
        return f"{self.plant.code}: {self.get_weekday_display()} {self.start_time:%H:%M}–{self.end_time:%H:%M}"

    def scope_plant_ids(self) -> set[int]:
        return {self.plant_id}

    def clean(self) -> None:
        if self.start_time and self.end_time and self.end_time <= self.start_time:
            raise ValidationError(
                {"end_time": "Must be after start_time (windows do not cross midnight)."}
            )


class ReleaseFreeze(models.Model):
    """A period in which nothing may go live at a plant (audits, peak season, shutdowns)."""

    plant = models.ForeignKey(
        "plants.Plant", on_delete=models.CASCADE, related_name="release_freezes"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200)
    history = HistoricalRecords()

    plant_lookup = "plant"

    class Meta:
        ordering = ["plant__code", "starts_at"]

    def __str__(self) -> str:
        return f"{self.plant.code} freeze {self.starts_at:%Y-%m-%d} → {self.ends_at:%Y-%m-%d}"

    def scope_plant_ids(self) -> set[int]:
        return {self.plant_id}

    def clean(self) -> None:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "Must be after starts_at."})
