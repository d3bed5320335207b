"""Site parameters: tolerances, thresholds and time windows, with a global default and
optional plant overrides. Rules read them through ``plants.selectors.site_parameter``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

from ..choices import ParameterType
from .base import code_validator


def parse_parameter_value(value_type: str, raw: str) -> Any:
    """Parse the stored text of a parameter into its typed value, or raise ValidationError."""
    text = (raw or "").strip()
    try:
        if value_type == ParameterType.DECIMAL:
            return Decimal(text)
        if value_type == ParameterType.INTEGER:
            return int(text)
        if value_type == ParameterType.DURATION:
            seconds = int(text)
            if seconds < 0:
                raise ValueError
            return dt.timedelta(seconds=seconds)
        if value_type == ParameterType.BOOLEAN:
            lowered = text.lower()
            if lowered in {"true", "1", "yes"}:
                return True
            if lowered in {"false", "0", "no"}:
                return False
            raise ValueError
        return raw
    except (InvalidOperation, ValueError):
        raise ValidationError(f"{raw!r} is not a valid {value_type} value.") from None


class SiteParameter(models.Model):
    """A named, typed setting with a global default (e.g. ``cycle_count.variance_pct``)."""

    key = models.CharField(max_length=80, unique=True, validators=[code_validator])
    description = models.CharField(max_length=300)
    value_type = models.CharField(max_length=10, choices=ParameterType.choices)
    unit = models.CharField(max_length=20, blank=True, help_text="e.g. %, EA, KG, s")
    default_value = models.CharField(max_length=200)
    minimum = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    maximum = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key

    def parse(self, raw: str) -> Any:
        value = parse_parameter_value(self.value_type, raw)
        if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
            if self.minimum is not None and value < self.minimum:
                raise ValidationError(
                    f"{value} is below the minimum {self.minimum} for {self.key}."
                )
            if self.maximum is not None and value > self.maximum:
                raise ValidationError(
                    f"{value} is above the maximum {self.maximum} for {self.key}."
                )
        return value

    def clean(self) -> None:
        try:
            self.parse(self.default_value)
        except ValidationError as exc:
            raise ValidationError({"default_value": exc.messages}) from None


class SiteParameterOverride(models.Model):
    """A plant's own value for a site parameter, with the reason it differs."""

    parameter = models.ForeignKey(SiteParameter, on_delete=models.CASCADE, related_name="overrides")
    plant = models.ForeignKey(
        "plants.Plant", on_delete=models.CASCADE, related_name="parameter_overrides"
    )
    value = models.CharField(max_length=200)
    reason = models.CharField(max_length=300, blank=True)
    history = HistoricalRecords()

    plant_lookup = "plant"

    class Meta:
        ordering = ["parameter__key", "plant__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["parameter", "plant"], name="parameter_override_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.parameter.key}@{self.plant.code} = {self.value}"

    def scope_plant_ids(self) -> set[int]:
        return {self.plant_id}

    def clean(self) -> None:
        if self.parameter_id:
            try:
                self.parameter.parse(self.value)
            except ValidationError as exc:
                raise ValidationError({"value": exc.messages}) from None
