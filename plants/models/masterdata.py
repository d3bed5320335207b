"""Canonical master data: the global vocabulary that plant codes are mapped onto.

Items, units of measure, work centers and suppliers are canonical (one code across the
company); plant systems use their own codes, translated by the site mappings.
"""

from __future__ import annotations

from django.db import models
from simple_history.models import HistoricalRecords

from ..choices import ItemType, UomDimension
from .base import code_validator


class UnitOfMeasure(models.Model):
    """A canonical unit (EA, KG, M, L, H). Plant units convert into these by factor."""

    code = models.CharField(max_length=10, unique=True, validators=[code_validator])
    name = models.CharField(max_length=60)
    dimension = models.CharField(max_length=10, choices=UomDimension.choices)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        verbose_name = "unit of measure"
        verbose_name_plural = "units of measure"

    def __str__(self) -> str:
        return self.code


class Item(models.Model):
    """A canonical material: finished good, component or raw material."""

    code = models.CharField(max_length=40, unique=True, validators=[code_validator])
    description = models.CharField(max_length=200)
    item_type = models.CharField(max_length=20, choices=ItemType.choices)
    base_uom = models.ForeignKey(UnitOfMeasure, on_delete=models.PROTECT, related_name="+")
    shelf_life_days = models.PositiveIntegerField(null=True, blank=True)
    critical = models.BooleanField(
        default=False, help_text="Critical component: supply delays put orders at risk."
    )
    need_lead_days = models.PositiveSmallIntegerField(
        default=0,
        help_text="Days before an order's due date this component must be on hand: the "
        "order's need date of it (a delayed supply arriving later puts the order at risk).",
    )
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} · {self.description}"


class ItemRevision(models.Model):
    """An engineering revision of an item (drawing/BOM/routing level)."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="revisions")
    revision = models.CharField(max_length=10)
    released = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["item__code", "revision"]
        constraints = [
            models.UniqueConstraint(fields=["item", "revision"], name="item_revision_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.item.code} rev {self.revision}"


class WorkCenter(models.Model):
    """A canonical work center (line, cell, machine group) at one plant."""

    plant = models.ForeignKey("plants.Plant", on_delete=models.PROTECT, related_name="work_centers")
    code = models.CharField(max_length=40, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    constrained = models.BooleanField(
        default=False, help_text="A bottleneck: downtime here puts orders at risk."
    )
    capacity_per_hour = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    plant_lookup = "plant"

    class Meta:
        ordering = ["plant__code", "code"]

    def __str__(self) -> str:
        return f"{self.code} · {self.name}"

    def scope_plant_ids(self) -> set[int]:
        return {self.plant_id}


class Supplier(models.Model):
    """A canonical supplier (vendor) shared by every plant."""

    code = models.CharField(max_length=40, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} · {self.name}"


class AlternateRouting(models.Model):
    """Where an item's operations at a (constrained) work center can run instead, at the
    same plant (another line) or at another plant: what scenario 8 proposes when the work
    center stops. ``item`` empty: any item of the work center. Lower ``priority`` first."""

    work_center = models.ForeignKey(
        WorkCenter, on_delete=models.CASCADE, related_name="alternate_routings"
    )
    item = models.ForeignKey(
        Item, null=True, blank=True, on_delete=models.CASCADE, related_name="alternate_routings"
    )
    alternate = models.ForeignKey(
        WorkCenter,
        on_delete=models.PROTECT,
        related_name="alternate_for",
        help_text="The work center that can take the operations (any plant).",
    )
    priority = models.PositiveSmallIntegerField(default=10)
    capacity_pct = models.DecimalField(
        max_digits=5,
        decimal_places=1,
        default=100,
        help_text="Share of the alternate's capacity available to take the load.",
    )
    note = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    plant_lookup = "work_center__plant"

    class Meta:
        ordering = ["work_center__code", "priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(alternate=models.F("work_center")),
                name="alternate_routing_not_itself",
            ),
        ]

    def __str__(self) -> str:
        what = self.item.code if self.item_id else "any item"
        return f"{self.work_center.code} → {self.alternate.code} ({what})"

    def scope_plant_ids(self) -> set[int]:
        return {self.work_center.plant_id, self.alternate.plant_id}
