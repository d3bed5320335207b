"""Genealogy after a demo-like flow through the API (issue 8, item 7): ingest writes the
links, the queries answer "where did lot X go" and "what went into lot Y", and the
auditor's pages link them."""

from __future__ import annotations

import pytest

from orchestrator.models import Disposition, Inspection, Lot, ProductionOrder
from orchestrator.selectors_auditor import (
    lot_ingredients,
    lot_orders,
    lot_quality,
    lot_where_used,
    order_timeline,
)
from orchestrator.services.quality import disposition_record
from plants.choices import Role
from tests.ingest.flow import run, steel_lot

pytestmark = pytest.mark.django_db


@pytest.fixture
def flows(world, post):
    """WO-1001 runs to the end on L-77; WO-1002 (also from L-77) fails its inspection and
    quality scraps it."""
    steel_lot(world)
    for key, body in run():
        assert post(world[key], body).status_code == 202
    for key, body in run(order="WO-1002", result="R")[:9]:
        assert post(world[key], body).status_code == 202


def test_ingest_writes_the_genealogy_and_the_queries_follow_it(world, flows, member):
    steel, fg1, fg2 = (Lot.objects.get(number=n) for n in ("L-77", "FG-WO-1001", "FG-WO-1002"))
    # What went into lot Y: the steel lot, through its order, with the consumed quantity.
    [link] = lot_ingredients(lot=fg1).links
    assert (link.parent, link.child, link.order_number) == (steel, fg1, "WO-1001")
    assert link.qty > 0
    # Where did lot X go: into both finished lots.
    assert {lot.number for lot in lot_where_used(lot=steel).lots} == {"FG-WO-1001", "FG-WO-1002"}
    assert lot_where_used(lot=fg1).lots == []
    # Lot ↔ order.
    assert {(link.order.number, link.relation) for link in lot_orders(lot=steel)} == {
        ("WO-1001", "consumed"),
        ("WO-1002", "consumed"),
    }
    assert [(link.order.number, link.relation) for link in lot_orders(lot=fg1)] == [
        ("WO-1001", "produced")
    ]
    # Inspection ↔ lot, and disposition ↔ nonconformance.
    assert [i.number for i in lot_quality(lot=fg1)["inspections"]] == ["INS-WO-1001"]
    inspection = Inspection.objects.get(number="INS-WO-1002")
    assert inspection.lot == fg2
    disposition_record(
        inspection=inspection,
        disposition="scrap",
        actor=member(Role.QUALITY_LEAD, world["p1"]),
        reason="cracked",
    )
    quality = lot_quality(lot=fg2)
    [nc] = quality["nonconformances"]
    [d] = quality["dispositions"]
    assert d.nonconformance == nc
    assert Disposition.objects.get().nonconformance.order.number == "WO-1002"


def test_the_timeline_holds_system_and_human_steps(world, flows, member):
    lead = member(Role.QUALITY_LEAD, world["p1"])
    disposition_record(
        inspection=Inspection.objects.get(number="INS-WO-1002"),
        disposition="rework",
        actor=lead,
        reason="regrind",
    )
    rows = order_timeline(order=ProductionOrder.objects.get(number="WO-1002"))
    whats = [r.what for r in rows]
    assert "release" in whats
    assert "event production_order.released" in whats
    assert "disposition: rework" in whats
    assert "rework" in whats  # the order's transition back to in process
    human = [r for r in rows if r.human]
    assert human
    assert all(r.who == lead.username for r in human)
    assert [r.at for r in rows] == sorted(r.at for r in rows)


def test_the_auditor_follows_an_order_to_its_lots_and_the_genealogy(world, flows, member, client):
    client.force_login(member(Role.AUDITOR))
    order = ProductionOrder.objects.get(number="WO-1001")
    page = client.get(f"/admin/orchestrator/productionorder/{order.pk}/change/").content.decode()
    fg1 = Lot.objects.get(number="FG-WO-1001")
    steel = Lot.objects.get(number="L-77")
    inspection = Inspection.objects.get(number="INS-WO-1001")
    for obj, kind in ((fg1, "lot"), (steel, "lot"), (inspection, "inspection")):
        assert f"/admin/orchestrator/{kind}/{obj.pk}/change/" in page
    assert f"/admin/orchestrator/productionorder/{order.pk}/timeline/" in page
    timeline = client.get(f"/admin/orchestrator/productionorder/{order.pk}/timeline/")
    assert timeline.status_code == 200
    assert b'<details class="payload"><summary>payload</summary>' in timeline.content  # folded
    assert b"<details open" not in timeline.content
    genealogy = client.get(f"/admin/orchestrator/lot/{fg1.pk}/genealogy/")
    assert genealogy.status_code == 200
    body = genealogy.content.decode()
    assert "<svg" in body
    assert "L-77" in body
    assert f"/admin/orchestrator/lot/{steel.pk}/change/" in body  # boxes link their pages
