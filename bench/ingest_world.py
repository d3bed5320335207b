"""The benchmark's plant world: the P1 world of ``tests/ingest/conftest.py``, plus open
orders and lots for the benchmark's events to land on. Written with the ORM and services
into the (fresh) benchmark database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from bench.ingest_load import LOTS, ORDERS, lot_number, order_number

DAY = dt.date(2026, 1, 1)


def seed() -> str:
    """Create the world; return the raw API key of MES-P1."""
    from orchestrator.models import Lot
    from plants.choices import StatusDomain
    from plants.models import (
        ConnectedSystem,
        Item,
        ItemMapping,
        ItemRevision,
        Plant,
        StatusMapping,
        UnitOfMeasure,
        UomMapping,
        WorkCenter,
        WorkCenterMapping,
    )
    from plants.services.apikeys import api_key_issue

    p1 = Plant.objects.create(
        code="P1", name="Plant 1", profile="high_volume", timezone="Europe/Berlin"
    )
    Plant.objects.create(code="P2", name="Plant 2", profile="high_volume", timezone="Europe/Berlin")
    ea = UnitOfMeasure.objects.create(code="EA", name="each", dimension="count")
    kg = UnitOfMeasure.objects.create(code="KG", name="kilogram", dimension="mass")
    fg = Item.objects.create(
        code="FG-1000", description="Finished good", item_type="finished", base_uom=ea
    )
    ItemRevision.objects.create(item=fg, revision="A")
    steel = Item.objects.create(
        code="STEEL-2MM", description="Steel 2 mm", item_type="raw", base_uom=kg
    )
    ItemMapping.objects.create(plant=p1, plant_code="000000000000001000", item=fg, valid_from=DAY)
    ItemMapping.objects.create(
        plant=p1, plant_code="000000000000002000", item=steel, valid_from=DAY
    )
    for code, uom, factor, places in (
        ("ST", ea, Decimal(1), 0),
        ("BX12", ea, Decimal(12), 0),
        ("LB", kg, Decimal("0.45359237"), 3),
    ):
        UomMapping.objects.create(
            plant=p1, plant_code=code, uom=uom, factor=factor, decimal_places=places, valid_from=DAY
        )
    for plant_code, code in (("LINE_A", "P1-ASSY1"), ("LINE_B", "P1-PACK1")):
        wc = WorkCenter.objects.create(plant=p1, code=code, name=code)
        WorkCenterMapping.objects.create(
            plant=p1, plant_code=plant_code, work_center=wc, valid_from=DAY
        )
    for domain, pairs in (
        (
            StatusDomain.LOT_STATUS,
            (("UNRE", "available"), ("QUAL", "inspection"), ("BLOC", "blocked")),
        ),
        (
            StatusDomain.INSPECTION_OUTCOME,
            (("A", "passed"), ("R", "failed"), ("C", "conditionally_released")),
        ),
    ):
        for code, status in pairs:
            StatusMapping.objects.create(
                plant=p1, domain=domain, plant_code=code, canonical_status=status, valid_from=DAY
            )
    for index in range(LOTS):
        Lot.objects.create(
            plant=p1,
            number=lot_number(index),
            item=steel,
            qty=Decimal(1_000_000),
            uom=kg,
            expires_on=dt.date(2030, 12, 31),
        )
    mes = ConnectedSystem.objects.create(code="MES-P1", name="MES of P1", kind="mes")
    mes.plants.set([p1])
    _, raw = api_key_issue(system=mes, name="bench")
    return raw


def order_events() -> list[dict]:
    """Release and acknowledge every benchmark order (sent through the API, not timed)."""
    events = []
    for index in range(ORDERS):
        order = order_number(index)
        events.append(
            {
                "source": "MES-P1",
                "plant": "P1",
                "type": "production_order.released",
                "occurred_at": "2026-05-10T05:00:00+00:00",
                "payload": {
                    "order": order,
                    "item": "000000000000001000",
                    "routing_revision": "R1",
                    "bom_revision": "B1",
                    "qty": 1_000_000,
                    "uom": "ST",
                    "due_date": "2026-06-01",
                    "operations": [
                        {"operation": "0010", "work_center": "LINE_A", "qty": 1_000_000},
                        {"operation": "0020", "work_center": "LINE_B", "qty": 1_000_000},
                    ],
                    "components": [{"item": "000000000000002000", "qty": 500_000, "uom": "LB"}],
                },
            }
        )
    for index in range(ORDERS):
        events.append(
            {
                "source": "MES-P1",
                "plant": "P1",
                "type": "production_order.acknowledged",
                "occurred_at": "2026-05-10T05:01:00+00:00",
                "payload": {
                    "order": order_number(index),
                    "routing_revision": "R1",
                    "bom_revision": "B1",
                },
            }
        )
    return events
