"""B2MML material lots and documents of other releases."""

from __future__ import annotations

import datetime as dt

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


def test_a_v0700_document_is_refused_by_namespace():
    doc = b2mml.parse(
        b'<ProductionSchedule xmlns="http://www.mesa.org/xml/B2MML"/>', name="x", received_at=NOW
    )
    assert doc.problems[0].code == "b2mml.namespace"
    assert doc.problems[0].found == "http://www.mesa.org/xml/B2MML"
