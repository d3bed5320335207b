"""Exposures: what one supply delay (scenario 7) or one line stoppage (scenario 8) puts at
risk, across plants, in one record a planner and customer service read together.

An exposure is written once, by the rule action that found it (``record_supply_exposure``
or ``record_line_stoppage``) in the batch of the event, and never edited: a later delay
or stoppage is another event and another exposure. Its lines are the orders at risk, each
with the proposal Interlock makes (borrow stock from another plant; run on an alternate
work center or at another plant) for planning to approve.
"""

from __future__ import annotations

from django.db import models

from .base import PlantBound, qty_field


class ExposureKind(models.TextChoices):
    SUPPLY_DELAY = "supply_delay", "Supply delay (ASN)"
    LINE_STOPPAGE = "line_stoppage", "Line stoppage"


class ProposalKind(models.TextChoices):
    NONE = "none", "No proposal (nothing available)"
    REALLOCATION = "reallocation", "Inter-plant reallocation of stock"
    ALTERNATE_ROUTING = "alternate_routing", "Alternate routing (same plant)"
    ALTERNATE_PLANT = "alternate_plant", "Another plant"


class Exposure(PlantBound, models.Model):
    """One delay or stoppage and everything it puts at risk (the consolidated view)."""

    plant = models.ForeignKey("plants.Plant", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=ExposureKind.choices)
    title = models.CharField(max_length=300)
    asn = models.ForeignKey(
        "orchestrator.AdvanceShippingNotice",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="exposures",
    )
    work_center = models.ForeignKey(
        "plants.WorkCenter", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    since = models.DateTimeField(help_text="Stoppage start, or the ASN's original arrival.")
    until = models.DateTimeField(
        null=True, blank=True, help_text="Stoppage end, or the ASN's new arrival (None: open)."
    )
    lost_hours = models.FloatField(default=0, help_text="Capacity hours lost (stoppage).")
    plants_at_risk = models.JSONField(default=list, blank=True)
    event = models.ForeignKey(
        "orchestrator.Event", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rule = models.CharField(max_length=200, blank=True)
    correlation_id = models.CharField(max_length=100, db_index=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title


class ExposureLine(models.Model):
    """One order at risk, why, and what Interlock proposes."""

    exposure = models.ForeignKey(Exposure, on_delete=models.CASCADE, related_name="lines")
    plant = models.ForeignKey("plants.Plant", on_delete=models.PROTECT, related_name="+")
    order = models.ForeignKey(
        "orchestrator.ProductionOrder", on_delete=models.PROTECT, related_name="exposure_lines"
    )
    item = models.ForeignKey(
        "plants.Item",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The delayed component (supply delay).",
    )
    need_date = models.DateField(null=True, blank=True)
    due_date = models.DateField()
    open_qty = qty_field(default=0)
    proposal = models.CharField(
        max_length=20, choices=ProposalKind.choices, default=ProposalKind.NONE
    )
    from_plant = models.ForeignKey(
        "plants.Plant", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    alternate = models.ForeignKey(
        "plants.WorkCenter", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    proposal_qty = qty_field(default=0)
    proposal_text = models.CharField(max_length=300, blank=True)

    plant_lookup = "plant"

    class Meta:
        ordering = ["exposure", "due_date", "id"]

    def __str__(self) -> str:
        return f"{self.order.number} ({self.plant.code}): {self.get_proposal_display()}"

    def scope_plant_ids(self) -> set[int]:
        return {self.plant_id, self.exposure.plant_id}
