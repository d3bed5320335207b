"""Lots (batches) with their inventory status, genealogy and links to orders."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django_fsm import FSMField, transition
from simple_history.models import HistoricalRecords

from plants.choices import LotStatus
from plants.models.base import code_validator

from ..choices import LotOrderRelation
from .base import PERM_HANDLE_EXCEPTIONS, LifecycleModel, OrderBound, PlantBound, qty_field

L = LotStatus
#: Changing a lot's status is a quality decision (quality leads hold ``change_lot``).
PERM_CHANGE_LOT = "orchestrator.change_lot"


def _not_expired(lot: Lot) -> bool:
    # An expired lot must never become usable again, whatever a plant system reports.
    return not lot.is_expired()


def _past_expiry(lot: Lot) -> bool:
    return lot.is_expired()


class Lot(PlantBound, LifecycleModel):
    """A lot / batch of one item at one plant: quantity, expiry, where it came from
    (supplier or producing order) and its inventory status (``plants.choices.LotStatus``,
    the vocabulary plant status codes are mapped onto)."""

    plant = models.ForeignKey("plants.Plant", on_delete=models.PROTECT, related_name="lots")
    number = models.CharField(max_length=60, validators=[code_validator])
    item = models.ForeignKey("plants.Item", on_delete=models.PROTECT, related_name="lots")
    qty = qty_field()
    uom = models.ForeignKey("plants.UnitOfMeasure", on_delete=models.PROTECT, related_name="+")
    expires_on = models.DateField(null=True, blank=True)
    supplier = models.ForeignKey(
        "plants.Supplier", null=True, blank=True, on_delete=models.PROTECT, related_name="lots"
    )
    supplier_lot = models.CharField(max_length=60, blank=True)
    producing_order = models.ForeignKey(
        "orchestrator.ProductionOrder",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="produced_lots",
    )
    status = FSMField(default=L.AVAILABLE, choices=L.choices, protected=True, db_index=True)
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["plant__code", "number"]
        constraints = [
            models.UniqueConstraint(fields=["plant", "number"], name="lot_number_unique_per_plant"),
        ]
        indexes = [models.Index(fields=["plant", "status"], name="lot_plant_status_idx")]

    def __str__(self) -> str:
        return f"{self.plant.code}/{self.number}"

    def is_expired(self, on=None) -> bool:
        on = on or timezone.localdate()
        return self.expires_on is not None and self.expires_on <= on

    # --- lifecycle ------------------------------------------------------------------------
    @transition(
        field=status,
        source=[L.AVAILABLE, L.REWORK, L.IN_TRANSIT, L.BLOCKED],
        target=L.INSPECTION,
        permission=PERM_CHANGE_LOT,
    )
    def send_to_inspection(self) -> None:
        """Quality must inspect the lot before it can be used."""

    @transition(
        field=status,
        source=[L.INSPECTION, L.BLOCKED],
        target=L.AVAILABLE,
        conditions=[_not_expired],
        permission=PERM_CHANGE_LOT,
    )
    def release(self) -> None:
        """Unrestricted use (inspection passed, block lifted)."""

    @transition(
        field=status,
        source=[L.AVAILABLE, L.INSPECTION, L.REWORK, L.IN_TRANSIT, L.CONSIGNED, L.EXPIRED],
        target=L.BLOCKED,
        permission=PERM_CHANGE_LOT,
    )
    def block(self) -> None:
        """Quarantine: nothing may be issued from the lot."""

    @transition(
        field=status, source=[L.INSPECTION, L.BLOCKED], target=L.REWORK, permission=PERM_CHANGE_LOT
    )
    def send_to_rework(self) -> None:
        """The lot goes to rework (a nonconformance disposition)."""

    @transition(
        field=status, source=L.AVAILABLE, target=L.IN_TRANSIT, permission=PERM_HANDLE_EXCEPTIONS
    )
    def dispatch(self) -> None:
        """Shipped to another plant or location."""

    @transition(
        field=status,
        source=L.IN_TRANSIT,
        target=L.AVAILABLE,
        conditions=[_not_expired],
        permission=PERM_HANDLE_EXCEPTIONS,
    )
    def receive(self) -> None:
        """Arrived; unrestricted unless sent to inspection instead."""

    @transition(
        field=status, source=L.AVAILABLE, target=L.CONSIGNED, permission=PERM_HANDLE_EXCEPTIONS
    )
    def consign(self) -> None:
        """Moved to consignment stock (still ours, held elsewhere)."""

    @transition(
        field=status,
        source=L.CONSIGNED,
        target=L.AVAILABLE,
        conditions=[_not_expired],
        permission=PERM_HANDLE_EXCEPTIONS,
    )
    def return_from_consignment(self) -> None:
        """Back from consignment into unrestricted stock."""

    @transition(
        field=status,
        source=[L.AVAILABLE, L.INSPECTION, L.BLOCKED, L.CONSIGNED],
        target=L.EXPIRED,
        conditions=[_past_expiry],
        permission=PERM_CHANGE_LOT,
    )
    def expire(self) -> None:
        """The shelf life ran out (only on or after ``expires_on``)."""

    @transition(
        field=status,
        source=[L.INSPECTION, L.BLOCKED, L.REWORK, L.EXPIRED],
        target=L.SCRAPPED,
        permission=PERM_CHANGE_LOT,
    )
    def scrap(self) -> None:
        """Destroyed; the lot's end."""


class LotGenealogy(models.Model):
    """Lot ``parent`` (a component lot) went into lot ``child`` with quantity ``qty``,
    optionally through ``order``: the genealogy containment and recalls walk."""

    parent = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="child_links")
    child = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="parent_links")
    qty = qty_field()
    order = models.ForeignKey(
        "orchestrator.ProductionOrder",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="genealogy_links",
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    plant_lookup = "child__plant"

    class Meta:
        ordering = ["child", "parent"]
        verbose_name_plural = "lot genealogy"
        constraints = [
            models.UniqueConstraint(
                fields=["parent", "child", "order"],
                name="lot_genealogy_unique",
                nulls_distinct=False,
            ),
            models.CheckConstraint(condition=~Q(parent=F("child")), name="lot_genealogy_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.parent.number} → {self.child.number} ({self.qty.normalize()})"

    def scope_plant_ids(self) -> set[int]:
        # A lot moved between plants is visible to both plants' people.
        return {self.child.plant_id, self.parent.plant_id}


class LotOrderLink(OrderBound, models.Model):
    """A lot produced or consumed by a production order, with the quantity."""

    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="order_links")
    order = models.ForeignKey(
        "orchestrator.ProductionOrder", on_delete=models.CASCADE, related_name="lot_links"
    )
    relation = models.CharField(max_length=10, choices=LotOrderRelation.choices)
    qty = qty_field(default=Decimal("0"))

    class Meta:
        ordering = ["order", "relation", "lot"]
        constraints = [
            models.UniqueConstraint(
                fields=["lot", "order", "relation"], name="lot_order_link_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lot.number} {self.relation} by {self.order.number}"
