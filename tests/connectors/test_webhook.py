"""Signed webhooks, from the wire to the event outcome."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest

from connectors.inbound import webhook as webhook_module
from connectors.inbound.webhook import sign
from connectors.services import webhook_secret_issue, webhook_secret_revoke
from interlock.errors import Conflict
from orchestrator.models import Event, InboundMessage
from tests.ingest.conftest import envelope, release

URL = "/api/v1/webhooks/ERP"


@pytest.fixture
def secret(world):
    return webhook_secret_issue(system=world["erp"], name="ERP cloud")


@pytest.fixture
def send(api_client):
    def send(body: bytes, *, secret=None, timestamp=None, signature=None, url=URL, headers=None):
        timestamp = int(time.time()) if timestamp is None else timestamp
        extra = {"HTTP_X_INTERLOCK_TIMESTAMP": str(timestamp)}
        if secret is not None or signature is not None:
            extra["HTTP_X_INTERLOCK_SIGNATURE"] = signature or sign(secret, timestamp, body)
        extra.update(headers or {})
        return api_client.generic("POST", url, body, content_type="application/json", **extra)

    return send


def _release(**overrides) -> bytes:
    return json.dumps(
        envelope("production_order.released", release(**overrides), source="ERP")
    ).encode()


def test_a_signed_release_is_ingested_like_a_posted_one(world, secret, send):
    _, raw = secret
    response = send(_release(), secret=raw)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "accepted"
    event = Event.objects.get(pk=body["event_id"])
    assert event.payload["item"] == "FG-1000"  # mapped by the same pipeline
    stored = InboundMessage.objects.get(pk=body["message_id"])
    assert stored.system == world["erp"]
    assert stored.body["payload"]["order"] == "WO-1001"

    # The same event signed anew is a duplicate (idempotency), not a second order.
    again = send(_release(), secret=raw, timestamp=int(time.time()) + 1).json()
    assert again["status"] == "duplicate"
    assert again["event_id"] == body["event_id"]


def test_a_bad_signature_is_a_401_naming_the_check_and_nothing_is_stored(world, secret, send):
    _, raw = secret
    body = _release()
    response = send(body, signature=sign(raw, int(time.time()), body + b" "))
    assert response.status_code == 401
    assert response.json()["code"] == "bad_signature"
    assert response.json()["details"][0]["path"] == "X-Interlock-Signature"
    assert "WWW-Authenticate" in response
    assert InboundMessage.objects.count() == 0

    wrong_secret = send(body, secret="whsec_not-the-secret")
    assert wrong_secret.json()["code"] == "bad_signature"


@pytest.mark.parametrize(
    ("headers", "code"),
    [({"HTTP_X_INTERLOCK_TIMESTAMP": ""}, "missing_timestamp"), ({}, "missing_signature")],
)
def test_missing_headers_are_named(world, secret, send, headers, code):
    response = send(_release(), headers=headers, secret=secret[1] if headers else None)
    assert response.status_code == 401
    assert response.json()["code"] == code


def test_a_stale_timestamp_is_refused_even_with_a_valid_signature(
    world, secret, send, settings, monkeypatch
):
    settings.INTERLOCK_WEBHOOK_TOLERANCE_SECONDS = 300
    # The server's clock is pinned: a real one may tick past a second boundary mid-request.
    now = float(int(time.time()))
    monkeypatch.setattr(webhook_module, "time", SimpleNamespace(time=lambda: now))
    stale = int(now) - 301
    response = send(_release(), secret=secret[1], timestamp=stale)
    assert response.status_code == 401
    detail = response.json()["details"][0]
    assert response.json()["code"] == "stale_timestamp"
    assert detail["found"] == stale
    assert "301 s ago" in response.json()["message"]
    assert send(_release(), secret=secret[1], timestamp="yesterday").json()["code"] == (
        "bad_timestamp"
    )


def test_the_same_signed_request_twice_is_a_replay(world, secret, send):
    body, now = _release(), int(time.time())
    signature = sign(secret[1], now, body)
    assert send(body, signature=signature, timestamp=now).status_code == 202
    replay = send(body, signature=signature, timestamp=now)
    assert replay.status_code == 401
    assert replay.json()["code"] == "replayed_signature"


def test_two_secrets_are_active_during_a_rotation(world, secret, send):
    old, old_raw = secret
    _new, new_raw = webhook_secret_issue(system=world["erp"], name="ERP cloud 2026")
    with pytest.raises(Conflict) as exc:
        webhook_secret_issue(system=world["erp"], name="a third")
    assert exc.value.code == "too_many_webhook_secrets"

    assert send(_release(order="WO-1"), secret=old_raw).status_code == 202
    assert send(_release(order="WO-2"), secret=new_raw).status_code == 202
    # The sender may sign with both while switching over.
    body, now = _release(order="WO-3"), int(time.time())
    both = f"{sign('whsec_unknown', now, body)},{sign(new_raw, now, body)}"
    assert send(body, signature=both, timestamp=now).status_code == 202

    webhook_secret_revoke(secret=old)
    refused = send(_release(order="WO-4"), secret=old_raw)
    assert refused.status_code == 401
    assert refused.json()["code"] == "bad_signature"
    assert send(_release(order="WO-5"), secret=new_raw).status_code == 202
    assert old_raw != new_raw
    assert old_raw.startswith("whsec_")


def test_a_secret_survives_a_secret_key_rotation_through_the_fallbacks(
    world, secret, settings, send
):
    _, raw = secret
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-for-the-rotation-test-0123456789"
    assert send(_release(), secret=raw).status_code == 202


def test_unknown_system_and_no_secret(world, send):
    assert send(_release(), secret="x", url="/api/v1/webhooks/NOPE").json()["code"] == (
        "unknown_system"
    )
    assert send(_release(), secret="x").json()["code"] == "no_active_secret"


def test_a_signed_body_that_is_not_json_is_stored_and_named(world, secret, send):
    response = send(b'{"source": "ERP",\n  oops}', secret=secret[1])
    assert response.status_code == 400
    detail = response.json()["details"][0]
    assert detail["line"] == 2
    assert detail["code"] == "invalid_json"
    assert InboundMessage.objects.get(pk=detail["message_id"]).status == "rejected"


def test_an_envelope_problem_in_a_batch_is_rejected_with_its_path(world, secret, send):
    bad = envelope("production_order.released", release(order="WO-9"), source="ERP")
    del bad["occurred_at"]
    body = json.dumps([json.loads(_release()), bad]).encode()
    response = send(body, secret=secret[1])
    assert response.status_code == 200
    first, second = response.json()["results"]
    assert first["status"] == "accepted"
    assert second["status"] == "rejected"
    assert second["reasons"][0]["path"] == "occurred_at"
