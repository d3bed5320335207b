"""The inbound event API: store first, map, validate, claim the business key once."""

import pytest

from orchestrator.models import Event, InboundMessage
from tests.ingest.conftest import envelope, release

pytestmark = pytest.mark.django_db


def test_release_is_stored_mapped_and_accepted(world, post):
    response = post(
        world["erp_key"], envelope("production_order.released", release(), source="ERP")
    )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "accepted"
    event = Event.objects.get(pk=body["event_id"])
    # plant codes became canonical ones, units were converted (50 LB → 22.68 KG)
    assert event.payload["item"] == "FG-1000"
    assert event.payload["uom"] == "EA"
    assert [op["work_center"] for op in event.payload["operations"]] == ["P1-ASSY1", "P1-PACK1"]
    assert event.payload["components"] == [{"item": "STEEL-2MM", "qty": 22.68, "uom": "KG"}]
    assert body["idempotency_key"] == "production_order.released|P1|WO-1001"
    message = InboundMessage.objects.get(pk=body["message_id"])
    assert message.body["payload"]["item"] == "000000000000001000"  # stored as received
    assert message.status == "accepted"
    assert message.event_id == event.pk


def test_same_event_twice_is_a_duplicate_of_the_first(world, post):
    first = post(
        world["erp_key"], envelope("production_order.released", release(), source="ERP")
    ).json()
    second = post(
        world["erp_key"], envelope("production_order.released", release(), source="ERP")
    ).json()
    assert second["status"] == "duplicate"
    assert second["event_id"] == first["event_id"]
    assert Event.objects.count() == 1
    assert InboundMessage.objects.count() == 2


def test_same_key_with_another_payload_is_a_recorded_conflict(world, post):
    post(world["erp_key"], envelope("production_order.released", release(), source="ERP"))
    response = post(
        world["erp_key"], envelope("production_order.released", release(qty=90), source="ERP")
    )
    assert response.status_code == 409
    assert response.json()["status"] == "conflict"
    assert response.json()["reasons"][0]["code"] == "idempotency_conflict"
    assert InboundMessage.objects.filter(status="conflict").count() == 1
    assert Event.objects.get().payload["qty"] == 100


def test_unmapped_codes_are_quarantined_with_every_reason(world, post):
    payload = release(item="NOPE", uom="XX")
    payload["operations"][1]["work_center"] = "LINE_Z"
    response = post(world["erp_key"], envelope("production_order.released", payload, source="ERP"))
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "quarantined"
    assert body["event_id"] is None
    paths = {(r["code"], r["path"], r["found"]) for r in body["reasons"]}
    assert paths == {
        ("mapping_missing", "payload.item", "NOPE"),
        ("mapping_missing", "payload.uom", "XX"),
        ("mapping_missing", "payload.operations[1].work_center", "LINE_Z"),
    }
    assert InboundMessage.objects.get().status == "quarantined"


def test_schema_errors_list_every_path(world, post):
    payload = release(qty="many")
    del payload["order"]
    payload["operations"][0]["extra"] = 1
    body = post(
        world["erp_key"], envelope("production_order.released", payload, source="ERP")
    ).json()
    assert body["status"] == "quarantined"
    assert {r["path"] for r in body["reasons"]} == {
        "payload.order",
        "payload.qty",
        "payload.operations[0].extra",
    }


def test_bad_envelope_is_400_listing_every_path_and_still_stored(world, post):
    response = post(
        world["mes_key"],
        {"source": "MES-P1", "plant": "P1", "type": "nope", "occurred_at": "yesterday"},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert {d["path"] for d in body["details"]} == {"type", "occurred_at", "payload"}
    assert InboundMessage.objects.get(pk=body["message_id"]).status == "rejected"


def test_invalid_json_is_400_with_position_and_stored(world, api_client):
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {world['mes_key']}")
    response = api_client.post(
        "/api/v1/events", data='{"source": "MES-P1",\n "plant": }', content_type="application/json"
    )
    assert response.status_code == 400
    detail = response.json()["details"][0]
    assert (detail["line"], detail["column"]) == (2, 11)
    assert InboundMessage.objects.get(pk=detail["message_id"]).body["raw"].startswith('{"source"')


def test_key_of_p1_posting_for_p2_is_403(world, post):
    response = post(
        world["mes_key"],
        envelope("operation.started", {"order": "WO-1", "operation": "0010"}, plant="P2"),
    )
    assert response.status_code == 403
    assert response.json()["details"][0]["code"] == "forbidden_plant"


def test_key_of_another_system_is_403(world, post):
    response = post(
        world["mes_key"],
        envelope("operation.started", {"order": "WO-1", "operation": "0010"}, source="ERP"),
    )
    assert response.status_code == 403
    assert response.json()["details"][0]["code"] == "forbidden_source"


def test_people_cannot_post_events(world, api_client, member):
    api_client.force_authenticate(member("auditor"))
    assert api_client.post("/api/v1/events", {}, format="json").status_code in {401, 403}


def test_oversized_request_is_413(world, post, settings):
    settings.INTERLOCK_MAX_REQUEST_BYTES = 2048
    body = envelope("production_order.released", release(erp_reference="x" * 4000), source="ERP")
    assert post(world["erp_key"], body).status_code == 413


def test_bulk_answers_each_item_in_order(world, post, settings):
    settings.INTERLOCK_BULK_MAX_ITEMS = 10
    items = [
        envelope("production_order.released", release("WO-1"), source="ERP"),
        envelope("production_order.released", release("WO-2", item="NOPE"), source="ERP"),
        envelope("production_order.released", release("WO-1"), source="ERP"),
        {"not": "an envelope"},
        envelope("production_order.released", release("WO-3"), source="ERP", plant="P2"),
    ]
    response = post(world["erp_key"], {"events": items}, bulk=True)
    assert response.status_code == 200
    statuses = [r["status"] for r in response.json()["results"]]
    assert statuses == ["accepted", "quarantined", "duplicate", "rejected", "quarantined"]
    results = response.json()["results"]
    assert results[2]["event_id"] == results[0]["event_id"]
    assert InboundMessage.objects.count() == 5
    too_many = post(world["erp_key"], {"events": items * 3}, bulk=True)
    assert too_many.status_code == 413
