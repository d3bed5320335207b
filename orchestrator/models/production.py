"""What MES reports back while an order runs: confirmations, material issues, scrap."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils import timezone

from .base import OrderBound, ledger_reference, qty_field


class OperationConfirmation(models.Model):
    """A (partial or final) yield confirmation of one operation, as MES posted it.

    ``confirmation_number`` is MES's own key; with the operation it identifies the posting,
    so a resent confirmation is recognised rather than counted twice.
    """

    operation = ledger_reference(
        "orchestrator.Operation",
        on_delete=models.CASCADE,
        related_name="confirmations",
    )
    confirmation_number = models.CharField(max_length=40)
    good_qty = qty_field(default=Decimal("0"))
    scrap_qty = qty_field(default=Decimal("0"))
    final = models.BooleanField(default=False, help_text="The operation is complete.")
    confirmed_at = models.DateTimeField(default=timezone.now)
    correlation_id = models.CharField(max_length=100, blank=True)

    plant_lookup = "operation__order__plant"

    class Meta:
        ordering = ["operation", "confirmed_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["operation", "confirmation_number"], name="confirmation_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.operation} conf {self.confirmation_number}: {self.good_qty.normalize()}"

    def scope_plant_ids(self) -> set[int]:
        return {self.operation.order.plant_id}


class MaterialIssue(OrderBound, models.Model):
    """Material from a lot consumed by an order (and operation): what lot genealogy and
    ERP inventory are built from. Only valid lots (existing, not expired, not blocked)
    get here; the rest are quarantined by ingest."""

    order = ledger_reference(
        "orchestrator.ProductionOrder",
        on_delete=models.CASCADE,
        related_name="material_issues",
    )
    operation = ledger_reference(
        "orchestrator.Operation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="material_issues",
    )
    lot = ledger_reference(
        "orchestrator.Lot",
        on_delete=models.PROTECT,
        related_name="issues",
    )
    item = ledger_reference(
        "plants.Item",
        on_delete=models.PROTECT,
        related_name="+",
    )
    qty = qty_field()
    uom = ledger_reference(
        "plants.UnitOfMeasure",
        on_delete=models.PROTECT,
        related_name="+",
    )
    issued_at = models.DateTimeField(default=timezone.now)
    correlation_id = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["order", "issued_at", "id"]

    def __str__(self) -> str:
        return f"{self.order.number}: {self.qty.normalize()} {self.uom.code} from {self.lot.number}"


class ScrapDeclaration(OrderBound, models.Model):
    """Quantity scrapped on an order (and operation), with the plant's reason code: the
    input of scrap-spike rules and of the order's ``scrapped_qty``."""

    order = models.ForeignKey(
        "orchestrator.ProductionOrder", on_delete=models.CASCADE, related_name="scrap_declarations"
    )
    operation = models.ForeignKey(
        "orchestrator.Operation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="scrap_declarations",
    )
    lot = models.ForeignKey(
        "orchestrator.Lot", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    #: The line (the operation's work center) and the item scrapped (the component the
    #: declaration names, else the order's product): the key of the scrap-spike window.
    work_center = models.ForeignKey(
        "plants.WorkCenter", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    item = models.ForeignKey(
        "plants.Item", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    qty = qty_field()
    uom = models.ForeignKey("plants.UnitOfMeasure", on_delete=models.PROTECT, related_name="+")
    reason_code = models.CharField(max_length=40, blank=True)
    declared_at = models.DateTimeField(default=timezone.now)
    correlation_id = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["order", "declared_at", "id"]
        indexes = [
            # The sliding window per line and item (handlers.production._scrap_window).
            models.Index(fields=["work_center", "item", "declared_at"], name="scrap_window_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.order.number}: scrap {self.qty.normalize()} {self.uom.code}"


class MachineDowntime(models.Model):
    """A stoppage of a work center (or one machine of it) as MES reported it: the input of
    line-stoppage rules (scenario 8). Open while ``ended_at`` is empty."""

    plant = models.ForeignKey("plants.Plant", on_delete=models.PROTECT, related_name="+")
    work_center = models.ForeignKey(
        "plants.WorkCenter", on_delete=models.PROTECT, related_name="downtimes"
    )
    equipment = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=100, blank=True)
    correlation_id = models.CharField(max_length=100, blank=True)

    plant_lookup = "plant"

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["work_center", "equipment", "started_at"], name="downtime_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.work_center.code} down since {self.started_at:%Y-%m-%d %H:%M}"

    def scope_plant_ids(self) -> set[int]:
        return {self.plant_id}
