"""Issue 11, findings 5 to 8: hostile bodies are answered by path and code, and stored.

Each test names the finding it pins down; each failed on the code before the fix (a 500,
a lost body, a silent duplicate, or an echo of the whole input).
"""

import hashlib
import io
import json

import pytest
from django.test import override_settings

from orchestrator.models import Event, InboundMessage
from tests.ingest.conftest import envelope

pytestmark = pytest.mark.django_db


def confirmation(sequence=1, **overrides):
    payload = {"order": "WO-1", "operation": "0010", "sequence": sequence, "qty": 5, "uom": "ST"}
    payload.update(overrides)
    return envelope("operation.confirmed", payload)


def send_raw(api_client, key, raw: bytes, *, bulk=False, **extra):
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    url = "/api/v1/events/bulk" if bulk else "/api/v1/events"
    return api_client.generic("POST", url, raw, content_type="application/json", **extra)


def dumps(doc) -> bytes:
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('"WO-\\u0000"', "payload.order"),  # NUL
        ('"WO-\\ud800"', "payload.order"),  # a lone surrogate
    ],
)
def test_finding5_unstorable_strings_are_refused_by_path_and_stored(world, api_client, text, path):
    raw = dumps(confirmation()).replace(b'"WO-1"', text.encode())
    response = send_raw(api_client, world["mes_key"], raw)
    assert response.status_code == 400, response.content
    body = response.json()
    assert [(d["path"], d["code"]) for d in body["details"]] == [(path, "string_unstorable")]
    message = InboundMessage.objects.get(pk=body["message_id"])
    assert message.status == "rejected"
    assert "\\u" in message.body["raw"]  # the escape is kept as text, storable
    assert message.body["sha256"]


def test_finding5_unstorable_key_is_refused(world, api_client):
    raw = dumps(confirmation()).replace(b'"order"', b'"or\\u0000der"')
    response = send_raw(api_client, world["mes_key"], raw)
    assert response.status_code == 400
    assert response.json()["details"][0]["code"] == "string_unstorable"


def test_finding5_deep_nesting_has_its_own_code_and_no_recursion_error(world, api_client):
    for depth in (40, 5000):
        raw = b'{"source": "MES-P1", "x": ' + b"[" * depth + b"]" * depth + b"}"
        response = send_raw(api_client, world["mes_key"], raw)
        assert response.status_code == 400, (depth, response.content[:300])
        body = response.json()
        assert {d["code"] for d in body["details"]} == {"nesting_too_deep"}, body
        assert InboundMessage.objects.filter(pk=body["message_id"]).exists()


def test_finding5_a_body_of_null_is_refused_and_stored(world, api_client):
    response = send_raw(api_client, world["mes_key"], b"null")
    assert response.status_code == 400
    body = response.json()
    assert body["details"][0]["code"] == "schema.type"
    assert InboundMessage.objects.get(pk=body["message_id"]).body == {"raw": "null"}


def test_finding5_a_null_bulk_item_does_not_cost_the_valid_ones(world, post):
    response = post(world["mes_key"], {"events": [None, confirmation(1)]}, bulk=True)
    assert response.status_code == 200, response.content
    first, second = response.json()["results"]
    assert first["status"] == "rejected"
    assert first["reasons"][0]["code"] == "schema.type"
    assert second["status"] != "rejected"  # decided on its merits (parked: no order yet)
    assert InboundMessage.objects.count() == 2


def test_finding5_unstorable_bulk_item_is_rejected_alone(world, api_client):
    good = dumps(confirmation(1))
    bad = dumps(confirmation(2)).replace(b'"WO-1"', b'"WO-\\u0000"')
    response = send_raw(
        api_client, world["mes_key"], b'{"events": [' + good + b"," + bad + b"]}", bulk=True
    )
    assert response.status_code == 200
    first, second = response.json()["results"]
    assert first["status"] != "rejected"
    assert second["status"] == "rejected"
    assert second["reasons"][0]["path"] == "payload.order"
    assert InboundMessage.objects.get(pk=second["message_id"]).body["raw"].count("\\u0000") == 1


def test_finding6_a_chunked_body_is_read(world, api_client):
    # gunicorn de-chunks on wsgi.input and sends no Content-Length: Django's request.body
    # was empty, and a valid event was answered "invalid JSON".
    raw = dumps(confirmation())
    response = send_raw(
        api_client,
        world["mes_key"],
        raw,
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": io.BytesIO(raw)},  # what gunicorn hands over: the de-chunked bytes
    )
    assert response.status_code == 202, response.content
    message = InboundMessage.objects.get(pk=response.json()["message_id"])
    assert message.body["payload"]["order"] == "WO-1"


def test_finding7_wrong_bulk_shape_is_stored(world, post):
    response = post(world["mes_key"], {"events": confirmation()}, bulk=True)
    assert response.status_code == 400
    body = response.json()
    assert body["details"][0]["path"] == "events"
    message = InboundMessage.objects.get(pk=body["message_id"])
    assert message.status == "rejected"
    assert json.loads(message.body["raw"])["events"]["type"] == "operation.confirmed"


@override_settings(INTERLOCK_BULK_MAX_ITEMS=2)
def test_finding7_too_many_items_is_stored(world, post):
    response = post(world["mes_key"], [confirmation(i) for i in range(3)], bulk=True)
    assert response.status_code == 413
    body = response.json()
    assert body["code"] == "too_many_items"
    assert InboundMessage.objects.get(pk=body["message_id"]).body["size"] > 0


@override_settings(INTERLOCK_MAX_REQUEST_BYTES=4096, DATA_UPLOAD_MAX_MEMORY_SIZE=4096)
def test_finding7_an_oversized_body_is_a_413_with_prefix_size_and_hash(world, api_client):
    raw = dumps(confirmation(note="x" * 10_000))
    response = send_raw(api_client, world["mes_key"], raw)
    assert response.status_code == 413
    body = response.json()
    assert body["code"] == "request_too_large"
    stored = InboundMessage.objects.get(pk=body["message_id"]).body
    assert stored["size"] == len(raw)
    assert stored["sha256"] == hashlib.sha256(raw).hexdigest()
    assert stored["truncated"] is True
    assert raw.decode().startswith(stored["raw"])


def test_finding8_huge_integers_are_refused_not_merged_into_one_key(world, api_client):
    # orjson reads integers past 64 bits as floats: 10**30 and 10**30 + 1 became one key,
    # and the second was answered "duplicate" (a silent loss).
    answers = []
    for sequence in (10**30, 10**30 + 1):
        raw = dumps(confirmation()).replace(b'"sequence": 1', f'"sequence": {sequence}'.encode())
        answers.append(send_raw(api_client, world["mes_key"], raw).json())
    for body in answers:
        assert body["status"] == "quarantined", body
        assert (body["reasons"][0]["path"], body["reasons"][0]["code"]) == (
            "payload.sequence",
            "schema.maximum",
        )
        assert body["idempotency_key"] is None
    assert not Event.objects.exists()
    assert InboundMessage.objects.filter(status="quarantined").count() == 2


def test_finding8_integers_past_64_bits_are_named_when_read_exactly(world, api_client):
    # json (not orjson) reads this body because of the NaN; the integer stays exact and is
    # refused for what it is.
    raw = dumps(confirmation()).replace(b'"sequence": 1', f'"sequence": {2**70}'.encode())
    raw = raw.replace(b'"qty": 5', b'"qty": NaN')
    response = send_raw(api_client, world["mes_key"], raw)
    assert response.status_code == 400
    codes = {(d["path"], d["code"]) for d in response.json()["details"]}
    assert codes == {
        ("payload.qty", "number_not_finite"),
        ("payload.sequence", "number_out_of_range"),
    }


def test_finding8_integers_outside_the_canonical_range_are_quarantined_by_path(world, post):
    response = post(world["mes_key"], confirmation(sequence=2**40))
    body = response.json()
    assert body["status"] == "quarantined"
    assert (body["reasons"][0]["path"], body["reasons"][0]["code"]) == (
        "payload.sequence",
        "schema.maximum",
    )


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_finding8_non_finite_numbers_are_refused_with_a_path(world, api_client, literal):
    raw = dumps(confirmation()).replace(b'"qty": 5', b'"qty": ' + literal)
    response = send_raw(api_client, world["mes_key"], raw)
    assert response.status_code == 400, response.content
    detail = response.json()["details"][0]
    assert (detail["path"], detail["code"]) == ("payload.qty", "number_not_finite")


def test_finding8_long_fields_are_not_echoed_whole(world, post):
    response = post(world["mes_key"], confirmation(order="W" * 200_000))
    assert len(response.content) < 5_000
    reason = response.json()["reasons"][0]
    assert reason["path"] == "payload.order"
    assert "200000 characters" in reason["found"]


def test_finding5_an_offset_postgres_cannot_hold_is_read_in_utc(world, post):
    # RFC 3339 allows +23:59; PostgreSQL's timestamptz refuses offsets past ±15:59.
    late = confirmation()
    late["occurred_at"] = "2026-05-10T23:15:00+23:59"
    body = post(world["mes_key"], late).json()
    assert "internal_error" not in {r["code"] for r in body["reasons"]}, body
    event = Event.objects.get(pk=body["event_id"])
    assert event.occurred_at.isoformat() == "2026-05-09T23:16:00+00:00"


def test_finding8_an_integer_too_long_to_read_is_a_400(world, api_client):
    raw = dumps(confirmation()).replace(b'"sequence": 1', b'"sequence": ' + b"9" * 5000)
    response = send_raw(api_client, world["mes_key"], raw)
    assert response.status_code == 400, response.content[:300]
    assert response.json()["code"] == "number_out_of_range"
    assert InboundMessage.objects.get(pk=response.json()["message_id"]).body["size"] == len(raw)
