"""A small plant world for ingest tests: P1 with its codes, an MES key, a P2 next door."""

import datetime as dt
from decimal import Decimal

import pytest

from plants.choices import StatusDomain
from plants.models import StatusMapping
from tests.factories import (
    ItemFactory,
    ItemMappingFactory,
    ItemRevisionFactory,
    PlantFactory,
    UomFactory,
    UomMappingFactory,
    WorkCenterFactory,
    WorkCenterMappingFactory,
)

DAY = dt.date(2026, 1, 1)


@pytest.fixture
def world(db, system_with_key):
    p1 = PlantFactory(code="P1")
    p2 = PlantFactory(code="P2")
    ea, kg = UomFactory(code="EA"), UomFactory(code="KG", dimension="mass")
    fg = ItemFactory(code="FG-1000", base_uom=ea)
    ItemRevisionFactory(item=fg, revision="A")
    steel = ItemFactory(code="STEEL-2MM", base_uom=kg, item_type="raw")
    ItemMappingFactory(plant=p1, plant_code="000000000000001000", item=fg, valid_from=DAY)
    ItemMappingFactory(plant=p1, plant_code="000000000000002000", item=steel, valid_from=DAY)
    UomMappingFactory(
        plant=p1, plant_code="ST", uom=ea, factor=Decimal(1), decimal_places=0, valid_from=DAY
    )
    UomMappingFactory(
        plant=p1, plant_code="BX12", uom=ea, factor=Decimal(12), decimal_places=0, valid_from=DAY
    )
    UomMappingFactory(
        plant=p1,
        plant_code="LB",
        uom=kg,
        factor=Decimal("0.45359237"),
        decimal_places=3,
        valid_from=DAY,
    )
    WorkCenterMappingFactory(
        plant=p1,
        plant_code="LINE_A",
        work_center=WorkCenterFactory(plant=p1, code="P1-ASSY1"),
        valid_from=DAY,
    )
    WorkCenterMappingFactory(
        plant=p1,
        plant_code="LINE_B",
        work_center=WorkCenterFactory(plant=p1, code="P1-PACK1"),
        valid_from=DAY,
    )
    for code, status in (("UNRE", "available"), ("QUAL", "inspection"), ("BLOC", "blocked")):
        StatusMapping.objects.create(
            plant=p1,
            domain=StatusDomain.LOT_STATUS,
            plant_code=code,
            canonical_status=status,
            valid_from=DAY,
        )
    for code, status in (("A", "passed"), ("R", "failed"), ("C", "conditionally_released")):
        StatusMapping.objects.create(
            plant=p1,
            domain=StatusDomain.INSPECTION_OUTCOME,
            plant_code=code,
            canonical_status=status,
            valid_from=DAY,
        )
    mes, mes_key = system_with_key(p1, code="MES-P1")
    erp, erp_key = system_with_key(p1, p2, kind="erp", code="ERP")
    return {"p1": p1, "p2": p2, "mes": mes, "mes_key": mes_key, "erp": erp, "erp_key": erp_key}


def envelope(
    type_, payload, *, source="MES-P1", plant="P1", occurred_at="2026-05-10T08:15:00Z", **extra
):
    return {
        "source": source,
        "plant": plant,
        "type": type_,
        "occurred_at": occurred_at,
        "payload": payload,
        **extra,
    }


def release(order="WO-1001", **overrides):
    payload = {
        "order": order,
        "item": "000000000000001000",
        "routing_revision": "R1",
        "bom_revision": "B1",
        "qty": 100,
        "uom": "ST",
        "due_date": "2026-06-01",
        "operations": [
            {"operation": "0010", "work_center": "LINE_A", "qty": 100},
            {"operation": "0020", "work_center": "LINE_B", "qty": 100},
        ],
        "components": [{"item": "000000000000002000", "qty": 50, "uom": "LB"}],
    }
    payload.update(overrides)
    return payload


@pytest.fixture
def post(api_client):
    """``post(key, body, bulk=False)`` → response."""

    def send(key, body, *, bulk=False):
        api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        url = "/api/v1/events/bulk" if bulk else "/api/v1/events"
        return api_client.post(url, body, format="json")

    return send


@pytest.fixture(autouse=True, scope="session")
def _close_group_commit_connection(django_db_setup):
    """The group commit decides on a thread of its own, with its own connection: close it
    before pytest-django drops the test database."""
    yield
    from orchestrator.ingest.coalesce import close_connections

    close_connections()
