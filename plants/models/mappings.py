"""Site mappings: a plant's own codes translated into canonical ones, with effective dates.

Every mapping is valid on the half-open date range ``[valid_from, valid_to)``; an open
``valid_to`` means "until further notice". Two mappings of the same plant code may not be
valid on the same day: ``clean()`` explains the clash to a person, and on PostgreSQL an
exclusion constraint (migration 0002) makes it impossible even for code that skips
``clean()`` or races another writer.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import ClassVar

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from ..choices import CANONICAL_STATUSES, RoundingMode, StatusDomain


def _today() -> dt.date:  # the former default; kept for migration 0001
    return timezone.localdate()


#: Default start of a new mapping. Plants send back-dated data (a confirmation reported a
#: week late, a replay of last month), and a mapping that starts "today" quarantines all of
#: it as unmapped. A new plant code is therefore valid from long ago unless a date is
#: chosen; a code that *replaces* another gets its real changeover date from the person.
OPEN_VALID_FROM = dt.date(2000, 1, 1)


def default_valid_from() -> dt.date:
    return OPEN_VALID_FROM


class SiteMapping(models.Model):
    """Common shape of every mapping table: plant, plant code, validity."""

    plant = models.ForeignKey("plants.Plant", on_delete=models.PROTECT, related_name="+")
    plant_code = models.CharField(
        max_length=60, help_text="The code as the plant's systems send it."
    )
    valid_from = models.DateField(
        default=default_valid_from,
        help_text="First day the mapping applies. The default (2000-01-01) covers back-dated "
        "events; set the changeover date when this mapping replaces another.",
    )
    valid_to = models.DateField(
        null=True,
        blank=True,
        help_text="First day the mapping no longer applies (empty: open-ended).",
    )
    note = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords(inherit=True)

    #: Fields that, together with the validity range, identify one mapping.
    overlap_key: ClassVar[tuple[str, ...]] = ("plant", "plant_code")
    #: Name used in errors and the mapping service ("item", "uom", ...).
    table: ClassVar[str] = ""
    plant_lookup = "plant"

    class Meta:
        abstract = True
        ordering = ["plant__code", "plant_code", "valid_from"]

    def scope_plant_ids(self) -> set[int]:
        return {self.plant_id}

    def is_valid_on(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)

    def overlapping(self) -> models.QuerySet:
        """Other rows of the same key whose validity shares at least one day with ours."""
        key = {
            f"{name}_id" if self._meta.get_field(name).is_relation else name: getattr(
                self, f"{name}_id" if self._meta.get_field(name).is_relation else name
            )
            for name in self.overlap_key
        }
        qs = type(self)._default_manager.filter(**key).exclude(pk=self.pk)
        qs = qs.filter(Q(valid_to__isnull=True) | Q(valid_to__gt=self.valid_from))
        if self.valid_to is not None:
            qs = qs.filter(valid_from__lt=self.valid_to)
        return qs

    def clean(self) -> None:
        super().clean()
        if (
            self.valid_to is not None
            and self.valid_from is not None
            and self.valid_to <= self.valid_from
        ):
            raise ValidationError(
                {"valid_to": "Must be after valid_from (the range is [from, to))."}
            )
        if self.plant_id and self.valid_from is not None:
            clash = self.overlapping().first()
            if clash is not None:
                until = clash.valid_to.isoformat() if clash.valid_to else "open-ended"
                message = (
                    f"{self.table} mapping for plant code {self.plant_code!r} overlaps the "
                    f"one valid {clash.valid_from.isoformat()} → {until} (id {clash.pk}); "
                    "end that one first or choose non-overlapping dates."
                )
                raise ValidationError(
                    {"valid_from": ValidationError(message, code="overlapping_validity")}
                )


class ItemMapping(SiteMapping):
    """Plant item code → canonical item (and revision, when the plant code pins one)."""

    item = models.ForeignKey("plants.Item", on_delete=models.PROTECT, related_name="plant_mappings")
    revision = models.CharField(
        max_length=10, blank=True, help_text="Canonical revision, if pinned."
    )
    table = "item"

    class Meta(SiteMapping.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["plant", "plant_code", "valid_from"], name="itemmapping_key_from_unique"
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=models.F("valid_from")),
                name="itemmapping_valid_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plant_code} → {self.item.code}{' rev ' + self.revision if self.revision else ''}"

    def clean(self) -> None:
        super().clean()
        if (
            self.revision
            and self.item_id
            and not self.item.revisions.filter(revision=self.revision).exists()
        ):
            raise ValidationError(
                {"revision": f"Item {self.item.code} has no revision {self.revision!r}."}
            )


class WorkCenterMapping(SiteMapping):
    """Plant work-center name (as the MES/ERP sends it) → canonical work center."""

    work_center = models.ForeignKey(
        "plants.WorkCenter", on_delete=models.PROTECT, related_name="plant_mappings"
    )
    table = "work_center"

    class Meta(SiteMapping.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["plant", "plant_code", "valid_from"], name="wcmapping_key_from_unique"
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=models.F("valid_from")),
                name="wcmapping_valid_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plant_code} → {self.work_center.code}"

    def clean(self) -> None:
        super().clean()
        if self.work_center_id and self.plant_id and self.work_center.plant_id != self.plant_id:
            raise ValidationError({"work_center": "The work center belongs to another plant."})


class UomMapping(SiteMapping):
    """Plant unit of measure → canonical unit, with factor and rounding.

    ``canonical_qty = round(plant_qty × factor, decimal_places, rounding_mode)``:
    ``BX12 → EA`` has factor 12; ``LB → KG`` has factor 0.45359237.
    """

    uom = models.ForeignKey("plants.UnitOfMeasure", on_delete=models.PROTECT, related_name="+")
    factor = models.DecimalField(
        max_digits=20, decimal_places=9, validators=[MinValueValidator(Decimal("0.000000001"))]
    )
    decimal_places = models.PositiveSmallIntegerField(
        default=3,
        validators=[MaxValueValidator(9)],
        help_text="Decimal places kept after conversion.",
    )
    rounding_mode = models.CharField(
        max_length=20, choices=RoundingMode.choices, default=RoundingMode.HALF_UP
    )
    table = "uom"

    class Meta(SiteMapping.Meta):
        verbose_name = "UOM mapping"
        constraints = [
            models.UniqueConstraint(
                fields=["plant", "plant_code", "valid_from"], name="uommapping_key_from_unique"
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=models.F("valid_from")),
                name="uommapping_valid_range",
            ),
            models.CheckConstraint(condition=Q(factor__gt=0), name="uommapping_factor_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.plant_code} → {self.uom.code} ×{self.factor.normalize()}"

    def convert(self, quantity: Decimal) -> Decimal:
        """Convert a plant quantity into the canonical unit, rounded as configured."""
        exponent = Decimal(1).scaleb(-self.decimal_places)
        return (Decimal(quantity) * self.factor).quantize(
            exponent, rounding=self.rounding_mode or ROUND_HALF_UP
        )


class StatusMapping(SiteMapping):
    """Plant status code → canonical status within one vocabulary (lot, inspection, order)."""

    domain = models.CharField(max_length=30, choices=StatusDomain.choices)
    canonical_status = models.CharField(max_length=40)
    overlap_key = ("plant", "domain", "plant_code")
    table = "status"

    class Meta(SiteMapping.Meta):
        ordering = ["plant__code", "domain", "plant_code", "valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["plant", "domain", "plant_code", "valid_from"],
                name="statusmapping_key_from_unique",
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=models.F("valid_from")),
                name="statusmapping_valid_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.domain}: {self.plant_code} → {self.canonical_status}"

    def clean(self) -> None:
        super().clean()
        vocabulary = CANONICAL_STATUSES.get(self.domain)
        if vocabulary is not None and self.canonical_status not in vocabulary.values:
            raise ValidationError(
                {
                    "canonical_status": f"Must be one of {', '.join(vocabulary.values)} for {self.domain}."
                }
            )


MAPPING_MODELS: dict[str, type[SiteMapping]] = {
    m.table: m for m in (ItemMapping, WorkCenterMapping, UomMapping, StatusMapping)
}
