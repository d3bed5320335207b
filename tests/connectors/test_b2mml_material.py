"""B2MML material lots, and documents of the three releases (V0401, V0600, V0700)."""

from __future__ import annotations

import datetime as dt

import pytest

from connectors.inbound.files import b2mml

NOW = dt.datetime(2026, 5, 10, 8, 0, tzinfo=dt.UTC)


def test_material_lots_become_lot_status_changes():
    doc = b2mml.parse(
        b'<MaterialInformation xmlns="http://www.mesa.org/xml/B2MML-V0600">'
        b"<PublishedDate>2026-05-10T07:00:00Z</PublishedDate>"
        b"<MaterialLot><ID>LOT-1</ID><Status>BLOC</Status></MaterialLot>"
        b"<MaterialLot><ID>LOT-2</ID><Status>UNRE</Status><Bogus/></MaterialLot>"
        b"</MaterialInformation>",
        name="lots.xml",
        received_at=NOW,
    )
    assert doc.problems == []
    good, bad = doc.units
    assert good.event_type == "lot.status_changed"
    assert good.payload == {"lot": "LOT-1", "status": "BLOC"}
    assert good.occurred_at == "2026-05-10T07:00:00+00:00"
    assert bad.xpath == "/MaterialInformation/MaterialLot[2]"
    assert bad.problems[0].code == "b2mml.schema"


@pytest.mark.parametrize(
    ("namespace", "extra"),
    [
        ("http://www.wbf.org/xml/B2MML-V0401", b""),
        ("http://www.mesa.org/xml/B2MML", b"<Disposition>Hold</Disposition>"),
    ],
    ids=["V0401", "V0700"],
)
def test_material_lots_of_the_other_releases_are_read_and_validated(namespace, extra):
    doc = b2mml.parse(
        f'<MaterialInformation xmlns="{namespace}">'.encode()
        + b"<PublishedDate>2026-05-10T07:00:00Z</PublishedDate>"
        b"<MaterialLot><ID>LOT-1</ID><Status>BLOC</Status></MaterialLot>"
        b"<MaterialLot><ID>LOT-2</ID><Bogus/></MaterialLot>"
        b"</MaterialInformation>",
        name="lots.xml",
        received_at=NOW,
    )
    assert doc.problems == []
    good, bad = doc.units
    assert good.payload == {"lot": "LOT-1", "status": "BLOC"}
    assert bad.xpath == "/MaterialInformation/MaterialLot[2]"
    assert bad.problems[0].code == "b2mml.schema"
    assert bad.problems[0].path == "/MaterialInformation/MaterialLot[2]"
    assert "Bogus" in bad.problems[0].message


def test_a_document_of_no_b2mml_release_is_refused_by_namespace():
    doc = b2mml.parse(
        b'<ProductionSchedule xmlns="http://example.com/not-b2mml"/>', name="x", received_at=NOW
    )
    assert doc.problems[0].code == "b2mml.namespace"
    assert doc.problems[0].found == "http://example.com/not-b2mml"
    assert "http://www.mesa.org/xml/B2MML" in doc.problems[0].expected


def test_a_v0700_performance_confirms_with_material_use():
    doc = b2mml.parse(
        b'<OperationsPerformance xmlns="http://www.mesa.org/xml/B2MML"><ID>P1</ID>'
        b"<OperationsResponse><ID>R1</ID><OperationsRequestID>WO-1001</OperationsRequestID>"
        b"<SegmentResponse><ID>S1</ID><ProcessSegmentID>0010</ProcessSegmentID>"
        b"<SegmentState>Completed</SegmentState>"
        b"<EquipmentActual><ID>E</ID><EquipmentID>LINE_A</EquipmentID></EquipmentActual>"
        b"<MaterialActual><ID>M</ID><MaterialDefinitionID>000000000000001000</MaterialDefinitionID>"
        b"<MaterialUse>Produced</MaterialUse>"
        b"<Quantity><QuantityString>40</QuantityString><UnitOfMeasure>ST</UnitOfMeasure>"
        b"</Quantity></MaterialActual>"
        b"</SegmentResponse></OperationsResponse></OperationsPerformance>",
        name="perf.xml",
        received_at=NOW,
    )
    assert doc.problems == []
    [unit] = doc.units
    assert unit.problems == [], unit.problems
    assert unit.payload == {
        "order": "WO-1001",
        "operation": "0010",
        "sequence": 1,
        "work_center": "LINE_A",
        "qty": 40,
        "uom": "ST",
        "final": True,
    }
