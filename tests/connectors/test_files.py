"""File drop, from the wire to the event outcome: CSV layouts, B2MML and X12 856, through
the upload endpoint and the watched directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.inbound.files.watch import scan_file_drop
from connectors.models import CsvLayout
from orchestrator.models import Event, InboundMessage
from tests.factories import SupplierFactory
from tests.ingest.conftest import envelope, release

DATA = Path(__file__).parent / "data"


@pytest.fixture
def upload(api_client):
    def upload(key, name, data: bytes, **params):
        api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return api_client.generic(
            "POST", f"/api/v1/files/{name}?{query}", data, content_type="application/octet-stream"
        )

    return upload


@pytest.fixture
def released(world, post):
    """WO-1001 released by the ERP (through REST), so MES reports have an order."""
    response = post(
        world["erp_key"], envelope("production_order.released", release(), source="ERP")
    )
    assert response.json()["status"] == "accepted"


@pytest.fixture
def post(api_client):
    def send(key, body):
        api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        return api_client.post("/api/v1/events", body, format="json")

    return send


def _quarantined(outcome) -> list[InboundMessage]:
    return list(InboundMessage.objects.filter(pk__in=outcome["quarantined_message_ids"]))


# --- B2MML ---------------------------------------------------------------------------
def test_a_production_schedule_releases_orders_and_quarantines_the_bad_request(world, upload):
    data = (DATA / "schedule.xml").read_bytes()
    response = upload(world["erp_key"], "schedule.xml", data, plant="P1")
    assert response.status_code == 200, response.content
    outcome = response.json()
    assert outcome["format"] == "b2mml"
    assert [r["status"] for r in outcome["results"]] == ["accepted", "accepted"]
    orders = {
        e.payload["order"]: e for e in Event.objects.filter(event_type="production_order.released")
    }
    assert set(orders) == {"WO-2001", "WO-2003"}
    # plant codes mapped by the pipeline: 24 BX12 are 288 EA
    assert orders["WO-2003"].payload["qty"] == 288
    assert orders["WO-2003"].payload["uom"] == "EA"
    assert orders["WO-2001"].payload["operations"][1]["work_center"] == "P1-PACK1"

    (bad,) = _quarantined(outcome)
    assert bad.status == "quarantined"
    reason = bad.reasons[0]
    assert reason["path"] == "/ProductionSchedule/ProductionRequest[2]/StartTime"
    assert reason["line"] == 34
    assert "yesterday morning" in reason["message"]
    assert "<ID>WO-2002</ID>" in bad.body["raw"]
    assert bad.plant == world["p1"]


def test_a_v0700_operations_schedule_releases_and_quarantines_the_bad_request(world, upload):
    data = (DATA / "schedule-v0700.xml").read_bytes()
    outcome = upload(world["erp_key"], "schedule-v0700.xml", data, plant="P1").json()
    assert [r["status"] for r in outcome["results"]] == ["accepted"]
    event = Event.objects.get(event_type="production_order.released")
    assert event.payload["order"] == "WO-3001"
    assert event.payload["components"][0]["item"] == "STEEL-2MM"  # MaterialUse Consumed
    assert event.payload["operations"][1]["work_center"] == "P1-PACK1"
    (bad,) = _quarantined(outcome)
    reason = bad.reasons[0]
    assert (
        reason["path"]
        == "/OperationsSchedule/OperationsRequest[2]/SegmentRequirement/MaterialRequirement/MaterialUse"
    )
    assert reason["line"] == 50
    assert "<ID>WO-3002</ID>" in bad.body["raw"]


def test_a_v0401_performance_confirms_and_quarantines_the_bad_segment(world, released, upload):
    data = (DATA / "performance-v0401.xml").read_bytes()
    outcome = upload(world["mes_key"], "performance-v0401.xml", data, plant="P1").json()
    # read and mapped; it waits for the MES acknowledgment of WO-1001 like any confirmation
    assert [r["status"] for r in outcome["results"]] == ["parked"]
    event = Event.objects.get(event_type="operation.confirmed")
    assert (event.payload["operation"], event.payload["qty"]) == ("0010", 60)
    (bad,) = _quarantined(outcome)
    assert bad.reasons[0]["path"] == (
        "/ProductionPerformance/ProductionResponse/SegmentResponse[2]/ActualEndTime"
    )
    assert bad.reasons[0]["line"] == 22


def test_a_broken_xml_document_is_quarantined_whole_with_its_line(world, upload):
    data = b'<?xml version="1.0"?>\n<ProductionSchedule>\n  <ID>x</Id>\n</ProductionSchedule>'
    outcome = upload(world["erp_key"], "broken.xml", data, plant="P1").json()
    assert outcome["results"] == []
    (bad,) = _quarantined(outcome)
    assert bad.reasons[0]["code"] == "xml.not_well_formed"
    assert bad.reasons[0]["line"] == 3


def test_production_performance_confirms_an_operation_and_quarantines_the_bad_segment(
    world, released, upload
):
    data = (DATA / "performance.xml").read_bytes()
    outcome = upload(world["mes_key"], "perf.xml", data).json()
    (result,) = outcome["results"]
    # Parked until the MES acknowledges the release (answered as over REST).
    assert result["status"] == "parked"
    assert result["waiting_for"]
    assert result["reasons"][0]["code"] == "waiting"
    event = Event.objects.get(pk=result["event_id"])
    message = InboundMessage.objects.get(pk=result["message_id"])
    assert message.body["payload"] == {
        "order": "WO-1001",
        "operation": "0010",
        "sequence": 1,
        "work_center": "LINE_A",
        "qty": 40,
        "uom": "ST",
        "final": False,
    }
    assert event.payload["work_center"] == "P1-ASSY1"
    (bad,) = _quarantined(outcome)
    assert bad.reasons[0]["path"] == (
        "/ProductionPerformance/ProductionResponse/SegmentResponse[2]"
    )
    assert bad.reasons[0]["line"] == 19


# --- CSV -----------------------------------------------------------------------------
@pytest.fixture
def layout(world):
    layout = CsvLayout(
        system=world["mes"],
        plant=world["p1"],
        name="confirmations",
        filename_pattern="confirmations_*.csv",
        event_type="operation.confirmed",
        delimiter=";",
        columns={
            "occurred_at": "Posted at",
            "message_id": "Line",
            "payload": {
                "order": "Order",
                "operation": "Op",
                "sequence": {"column": "Seq", "type": "integer"},
                "qty": {"column": "Yield", "type": "number"},
                "uom": "Unit",
                "work_center": {"column": "Line center", "optional": True},
            },
        },
    )
    layout.full_clean()
    layout.save()
    return layout


CSV = (
    "Line;Posted at;Order;Op;Seq;Yield;Unit;Line center\n"
    "L-1;2026-05-10T09:00:00Z;WO-1001;0010;1;40;ST;LINE_A\n"
    "L-2;2026-05-10T09:30:00Z;WO-1001;0010;2;forty;ST;LINE_A\n"
    "L-3;2026-05-10T10:00:00Z;WO-1001;0010;3;10;ST;\n"
)


def test_a_csv_file_goes_through_the_plant_layout_and_a_bad_row_is_quarantined(
    world, released, layout, upload
):
    outcome = upload(world["mes_key"], "confirmations_0510.csv", CSV.encode()).json()
    assert outcome["format"] == "csv"
    assert len(outcome["results"]) == 2
    first = InboundMessage.objects.get(pk=outcome["results"][0]["message_id"])
    assert first.message_id == "L-1"
    assert first.body["payload"]["qty"] == 40
    assert first.body["payload"]["sequence"] == 1
    third = InboundMessage.objects.get(pk=outcome["results"][1]["message_id"])
    assert "work_center" not in third.body["payload"]  # optional and empty: left out
    (bad,) = _quarantined(outcome)
    assert bad.reasons[0]["path"] == "row 2, column 'Yield'"
    assert bad.reasons[0]["line"] == 3
    assert bad.reasons[0]["found"] == "forty"
    assert bad.body["raw"].startswith("L-2;")

    # The same file again: every good row is a duplicate, nothing is applied twice.
    again = upload(world["mes_key"], "confirmations_0510.csv", CSV.encode()).json()
    assert [r["status"] for r in again["results"]] == ["duplicate", "duplicate"]


def test_a_csv_without_a_column_of_the_layout_is_quarantined_whole(world, layout, upload):
    data = b"Line;Posted at;Order\nL-1;2026-05-10T09:00:00Z;WO-1\n"
    outcome = upload(world["mes_key"], "confirmations_x.csv", data).json()
    (bad,) = _quarantined(outcome)
    assert bad.reasons[0]["code"] == "csv.missing_column"
    assert "'Yield'" in bad.reasons[0]["message"]


def test_a_csv_no_layout_matches_is_quarantined_and_named(world, layout, upload):
    outcome = upload(world["mes_key"], "other.csv", CSV.encode()).json()
    (bad,) = _quarantined(outcome)
    assert bad.reasons[0]["code"] == "csv.no_layout"


def test_a_layout_with_a_broken_column_spec_is_refused(world):
    layout = CsvLayout(
        system=world["mes"],
        plant=world["p1"],
        name="x",
        event_type="operation.confirmed",
        columns={"payload": {"qty": {"column": "Q", "type": "decimal"}}},
    )
    with pytest.raises(Exception, match="occurred_at"):
        layout.full_clean()


def test_the_watched_directory_reads_claims_and_files_away(world, released, layout, tmp_path):
    inbox = tmp_path / "MES-P1"
    inbox.mkdir()
    (inbox / "confirmations_1.csv").write_text(CSV)
    (inbox / "confirmations_2.csv.part").write_text(CSV)  # still being written: left alone
    (tmp_path / "NOBODY").mkdir()
    (tmp_path / "NOBODY" / "x.csv").write_text(CSV)

    summaries = scan_file_drop(tmp_path)
    by_file = {s["file"]: s for s in summaries}
    assert by_file["confirmations_1.csv"]["counts"]["quarantined"] == 1
    assert by_file["x.csv"]["error"] == "no active system NOBODY"
    assert len(list((inbox / "done").iterdir())) == 1
    assert (inbox / "confirmations_2.csv.part").exists()
    assert list((inbox / "processing").iterdir()) == []
    assert len(list((tmp_path / "NOBODY" / "failed").iterdir())) == 1
    assert (
        InboundMessage.objects.filter(event_type="operation.confirmed", status="accepted").count()
        == 2
    )
    assert Event.objects.filter(event_type="operation.confirmed").count() == 2
    assert scan_file_drop(tmp_path) == []  # nothing left to read


# --- X12 856 -------------------------------------------------------------------------
@pytest.fixture
def supplier_portal(world, system_with_key):
    SupplierFactory(code="SUP-77")
    return system_with_key(world["p1"], kind="supplier_portal", code="SUP-PORTAL")


def test_an_856_announces_delays_and_quarantines_the_broken_set(world, supplier_portal, upload):
    _, key = supplier_portal
    outcome = upload(key, "asn.edi", (DATA / "asn.edi").read_bytes()).json()
    assert outcome["format"] == "x12"
    received, delayed = outcome["results"]
    assert received["status"] == "accepted", received
    assert delayed["status"] == "accepted", delayed
    event = Event.objects.get(pk=received["event_id"])
    assert event.event_type == "asn.received"
    assert event.payload["asn"] == "ASN-5001"
    assert event.payload["supplier"] == "SUP-77"
    assert event.payload["expected_at"] == "2026-05-12T14:00:00+00:00"
    line = event.payload["lines"][0]
    assert (line["item"], line["lot"], line["uom"]) == ("STEEL-2MM", "SUPLOT-9", "KG")
    later = Event.objects.get(pk=delayed["event_id"])
    assert later.event_type == "asn.delayed"
    assert later.payload["expected_at"] == "2026-05-15T10:00:00+00:00"

    (bad,) = _quarantined(outcome)
    reason = bad.reasons[0]
    assert reason["path"] == "segment 20 (SN1) element 02 (SN102)"
    assert reason["code"] == "x12.bad_number"
    assert reason["found"] == "ten"
    assert reason["line"] == 20
    assert bad.body["raw"].startswith("ST*856*0002")


def test_an_856_with_a_wrong_segment_count_or_envelope_is_quarantined(
    world, supplier_portal, upload
):
    _, key = supplier_portal
    text = (DATA / "asn.edi").read_text()
    outcome = upload(key, "a.edi", text.replace("SE*11*0001", "SE*10*0001").encode()).json()
    assert len(outcome["results"]) == 1  # the third set still goes through
    reasons = [m.reasons[0] for m in _quarantined(outcome)]
    assert {r["path"] for r in reasons} == {
        "segment 13 (SE) element 01 (SE01)",
        "segment 20 (SN1) element 02 (SN102)",
    }
    broken = upload(key, "b.edi", text.replace("IEA*1*", "IEA*2*").encode()).json()
    assert broken["results"] == []
    (whole,) = _quarantined(broken)
    assert whole.reasons[0]["path"] == "segment 29 (IEA) element 01 (IEA01)"


def test_a_binary_file_is_quarantined_with_nul_bytes_escaped_not_a_500(world, upload):
    # Schemathesis sent a PNG: its NUL bytes could not be stored in jsonb (a 500).
    data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x08\x00"
    response = upload(world["mes_key"], "0", data)
    assert response.status_code == 200, response.content
    (bad,) = _quarantined(response.json())
    assert "\x00" not in bad.body["raw"]
    assert "\\u0000" in bad.body["raw"]
