"""factory-boy factories for the orchestrator app (plants' own live in tests.factories)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory

from orchestrator import models as om
from orchestrator.choices import InspectionKind
from tests.factories import (
    ItemFactory,
    PlantFactory,
    SupplierFactory,
    UomFactory,
    WorkCenterFactory,
)


class ProductionOrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = om.ProductionOrder

    plant = factory.SubFactory(PlantFactory)
    number = factory.Sequence(lambda n: f"WO-{1000 + n}")
    item = factory.SubFactory(ItemFactory)
    routing_revision = "A"
    bom_revision = "A"
    target_qty = Decimal("100")
    uom = factory.SubFactory(UomFactory)
    due_date = dt.date(2026, 6, 30)


class OperationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = om.Operation

    order = factory.SubFactory(ProductionOrderFactory)
    sequence = factory.Sequence(lambda n: f"{(n % 99 + 1) * 10:04d}")
    work_center = factory.SubFactory(
        WorkCenterFactory, plant=factory.SelfAttribute("..order.plant")
    )
    planned_qty = Decimal("100")


class LotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = om.Lot

    plant = factory.SubFactory(PlantFactory)
    number = factory.Sequence(lambda n: f"LOT-{n:05d}")
    item = factory.SubFactory(ItemFactory)
    qty = Decimal("50")
    uom = factory.SubFactory(UomFactory)
    expires_on = None


class InspectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = om.Inspection

    plant = factory.SubFactory(PlantFactory)
    number = factory.Sequence(lambda n: f"INSP-{n:05d}")
    kind = InspectionKind.INCOMING
    lot = factory.SubFactory(LotFactory, plant=factory.SelfAttribute("..plant"))


class InspectionResultFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = om.InspectionResult

    inspection = factory.SubFactory(InspectionFactory)
    characteristic = factory.Sequence(lambda n: f"dimension-{n}")
    measured_value = Decimal("10")
    conforming = True


class NonconformanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = om.Nonconformance

    plant = factory.SubFactory(PlantFactory)
    number = factory.Sequence(lambda n: f"NC-{n:05d}")
    title = "Dimension out of tolerance"


class GoodsReceiptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = om.GoodsReceipt

    plant = factory.SubFactory(PlantFactory)
    number = factory.Sequence(lambda n: f"GR-{n:05d}")
    item = factory.SubFactory(ItemFactory)
    qty = Decimal("100")
    uom = factory.SubFactory(UomFactory)


class CycleCountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = om.CycleCount

    plant = factory.SubFactory(PlantFactory)
    number = factory.Sequence(lambda n: f"CC-{n:05d}")
    item = factory.SubFactory(ItemFactory)
    book_qty = Decimal("100")
    counted_qty = Decimal("97")
    uom = factory.SubFactory(UomFactory)


class AsnFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = om.AdvanceShippingNotice

    plant = factory.SubFactory(PlantFactory)
    number = factory.Sequence(lambda n: f"ASN-{n:05d}")
    supplier = factory.SubFactory(SupplierFactory)
    expected_at = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)


class AsnLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = om.AsnLine

    asn = factory.SubFactory(AsnFactory)
    line_no = factory.Sequence(lambda n: n + 1)
    item = factory.SubFactory(ItemFactory)
    qty = Decimal("10")
    uom = factory.SubFactory(UomFactory)


def lot_genealogy(parent: om.Lot, child: om.Lot, qty: str = "1") -> om.LotGenealogy:
    return om.LotGenealogy.objects.create(parent=parent, child=child, qty=Decimal(qty))
