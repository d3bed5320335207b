"""Inventory postings Interlock controls: goods receipts, cycle counts and supplier ASNs."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils import timezone
from django_fsm import FSMField, transition

from plants.models.base import code_validator

from ..choices import AsnState, CycleCountState, GoodsReceiptState
from .base import PERM_HANDLE_EXCEPTIONS, LifecycleModel, PlantBound, qty_field

G = GoodsReceiptState
C = CycleCountState
A = AsnState
#: Approving a count variance is a supervisor's call; no role grants it yet (see README).
PERM_APPROVE_CYCLECOUNT = "orchestrator.approve_cyclecount"


class GoodsReceipt(PlantBound, LifecycleModel):
    """A receipt of finished goods (from an order) or purchased material into stock, to be
    posted in the ERP: pending → posted, and posted → reversed when it is taken back."""

    plant = models.ForeignKey(
        "plants.Plant", on_delete=models.PROTECT, related_name="goods_receipts"
    )
    number = models.CharField(max_length=40, validators=[code_validator])
    order = models.ForeignKey(
        "orchestrator.ProductionOrder",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="goods_receipts",
    )
    lot = models.ForeignKey(
        "orchestrator.Lot", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    item = models.ForeignKey("plants.Item", on_delete=models.PROTECT, related_name="+")
    qty = qty_field()
    uom = models.ForeignKey("plants.UnitOfMeasure", on_delete=models.PROTECT, related_name="+")
    erp_document = models.CharField(max_length=60, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    state = FSMField(default=G.PENDING, choices=G.choices, protected=True, db_index=True)

    class Meta:
        ordering = ["plant__code", "-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["plant", "number"], name="goods_receipt_number_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.plant.code}/GR {self.number}"

    @transition(field=state, source=G.PENDING, target=G.POSTED, permission=PERM_HANDLE_EXCEPTIONS)
    def post(self) -> None:
        """The ERP booked the receipt."""

    @transition(field=state, source=G.POSTED, target=G.REVERSED, permission=PERM_HANDLE_EXCEPTIONS)
    def reverse(self) -> None:
        """The ERP cancelled the booking."""


def _no_variance_or_approved(count: CycleCount) -> bool:
    # A count that matches the books posts at once; any variance needs approval first.
    return count.state == C.APPROVED or count.variance_qty == 0


class CycleCount(PlantBound, LifecycleModel):
    """A physical count of an item (lot) at a location compared with the book quantity:
    recorded → approval pending → approved → posted (or rejected). A variance over the
    plant's tolerance pauses picks until a supervisor decides."""

    plant = models.ForeignKey("plants.Plant", on_delete=models.PROTECT, related_name="cycle_counts")
    number = models.CharField(max_length=40, validators=[code_validator])
    item = models.ForeignKey("plants.Item", on_delete=models.PROTECT, related_name="+")
    lot = models.ForeignKey(
        "orchestrator.Lot", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    location = models.CharField(max_length=60, blank=True)
    book_qty = qty_field()
    counted_qty = qty_field()
    uom = models.ForeignKey("plants.UnitOfMeasure", on_delete=models.PROTECT, related_name="+")
    counted_at = models.DateTimeField(default=timezone.now)
    state = FSMField(default=C.RECORDED, choices=C.choices, protected=True, db_index=True)

    class Meta:
        ordering = ["plant__code", "-counted_at"]
        constraints = [
            models.UniqueConstraint(fields=["plant", "number"], name="cycle_count_number_unique"),
        ]
        permissions = [("approve_cyclecount", "Can approve or reject a cycle count variance")]

    def __str__(self) -> str:
        return f"{self.plant.code}/CC {self.number}"

    @property
    def variance_qty(self) -> Decimal:
        return (self.counted_qty or Decimal(0)) - (self.book_qty or Decimal(0))

    @transition(
        field=state, source=C.RECORDED, target=C.APPROVAL_PENDING, permission=PERM_HANDLE_EXCEPTIONS
    )
    def request_approval(self) -> None:
        """The variance needs a supervisor's approval."""

    @transition(
        field=state,
        source=C.APPROVAL_PENDING,
        target=C.APPROVED,
        permission=PERM_APPROVE_CYCLECOUNT,
    )
    def approve(self) -> None:
        """A supervisor accepted the count."""

    @transition(
        field=state, source=C.RECORDED, target=C.APPROVED, permission=PERM_APPROVE_CYCLECOUNT
    )
    def accept_within_tolerance(self) -> None:
        """The variance is within the plant's tolerance: a rule accepts it (scenario 5)."""

    @transition(
        field=state,
        source=C.APPROVAL_PENDING,
        target=C.REJECTED,
        permission=PERM_APPROVE_CYCLECOUNT,
    )
    def reject(self) -> None:
        """A supervisor refused the count (recount)."""

    @transition(
        field=state,
        source=[C.RECORDED, C.APPROVED],
        target=C.POSTED,
        conditions=[_no_variance_or_approved],
        permission=PERM_HANDLE_EXCEPTIONS,
    )
    def post(self) -> None:
        """The ERP adjustment was posted."""


class AdvanceShippingNotice(PlantBound, LifecycleModel):
    """A supplier's announcement of a shipment to a plant: announced → delayed → received
    (or cancelled). A delay of a critical component puts orders at risk."""

    plant = models.ForeignKey("plants.Plant", on_delete=models.PROTECT, related_name="asns")
    number = models.CharField(max_length=60, validators=[code_validator])
    supplier = models.ForeignKey("plants.Supplier", on_delete=models.PROTECT, related_name="asns")
    expected_at = models.DateTimeField()
    revised_expected_at = models.DateTimeField(null=True, blank=True)
    state = FSMField(default=A.ANNOUNCED, choices=A.choices, protected=True, db_index=True)

    class Meta:
        ordering = ["plant__code", "expected_at"]
        verbose_name = "advance shipping notice"
        constraints = [
            models.UniqueConstraint(fields=["plant", "number"], name="asn_number_unique_per_plant"),
        ]

    def __str__(self) -> str:
        return f"{self.plant.code}/ASN {self.number}"

    @transition(
        field=state,
        source=[A.ANNOUNCED, A.DELAYED],
        target=A.DELAYED,
        permission=PERM_HANDLE_EXCEPTIONS,
    )
    def delay(self) -> None:
        """The supplier announced a later arrival (again)."""

    @transition(
        field=state,
        source=[A.ANNOUNCED, A.DELAYED],
        target=A.RECEIVED,
        permission=PERM_HANDLE_EXCEPTIONS,
    )
    def receive(self) -> None:
        """The shipment arrived."""

    @transition(
        field=state,
        source=[A.ANNOUNCED, A.DELAYED],
        target=A.CANCELLED,
        permission=PERM_HANDLE_EXCEPTIONS,
    )
    def cancel(self) -> None:
        """The supplier withdrew the shipment."""


class AsnLine(models.Model):
    """One item of an ASN with its quantity (and the supplier's lot, when known)."""

    asn = models.ForeignKey(AdvanceShippingNotice, on_delete=models.CASCADE, related_name="lines")
    line_no = models.PositiveSmallIntegerField()
    item = models.ForeignKey("plants.Item", on_delete=models.PROTECT, related_name="+")
    qty = qty_field()
    uom = models.ForeignKey("plants.UnitOfMeasure", on_delete=models.PROTECT, related_name="+")
    supplier_lot = models.CharField(max_length=60, blank=True)

    plant_lookup = "asn__plant"

    class Meta:
        ordering = ["asn", "line_no"]
        verbose_name = "ASN line"
        constraints = [
            models.UniqueConstraint(fields=["asn", "line_no"], name="asn_line_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.asn.number}/{self.line_no}: {self.item.code} {self.qty.normalize()}"

    def scope_plant_ids(self) -> set[int]:
        return {self.asn.plant_id}
