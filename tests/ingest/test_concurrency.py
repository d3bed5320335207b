"""Concurrent submissions on real PostgreSQL: the unique constraint decides, exactly once.

Each thread has its own database connection (Django's are per thread) and its own API
client or pipeline call; a barrier releases them together so the inserts really race.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connections
from rest_framework.test import APIClient

from orchestrator.ingest.pipeline import ingest_batch, principal_for
from orchestrator.models import Event, InboundMessage
from tests.ingest.conftest import envelope, release

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

N = 50


def race(n: int, submit: Callable[[int], dict]) -> list[dict]:
    """Run ``submit(i)`` in ``n`` threads released together; return answers in index order."""
    barrier = threading.Barrier(n)
    answers: list[dict | None] = [None] * n
    errors: list[str] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            answers[i] = submit(i)
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            errors.append(f"{i}: {exc!r}")
        finally:
            connections.close_all()  # this thread's connection

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a submission hung"
    assert errors == []
    return answers  # type: ignore[return-value]


def _via_api(key: str, body: dict) -> dict:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    response = client.post("/api/v1/events", body, format="json")
    assert response.status_code in (202, 409), response.content
    return response.json()


def _via_pipeline(system, body: dict) -> dict:
    return ingest_batch(principal=principal_for(system), envelopes=[body])[0].as_dict()


@pytest.mark.parametrize("channel", ["api", "pipeline"])
def test_fifty_concurrent_copies_make_one_event_and_fifty_identical_answers(world, channel):
    body = envelope("production_order.released", release(), source="ERP")
    if channel == "api":
        answers = race(N, lambda i: _via_api(world["erp_key"], body))
    else:
        answers = race(N, lambda i: _via_pipeline(world["erp"], body))

    assert Counter(a["status"] for a in answers) == {"accepted": 1, "duplicate": N - 1}
    event = Event.objects.get()  # exactly one stored event
    assert {a["event_id"] for a in answers} == {event.pk}
    assert {a["idempotency_key"] for a in answers} == {event.idempotency_key}
    # Every copy is stored as received and points at the one event.
    assert InboundMessage.objects.count() == N
    assert Counter(InboundMessage.objects.values_list("status", flat=True)) == {
        "accepted": 1,
        "duplicate": N - 1,
    }
    assert set(InboundMessage.objects.values_list("event_id", flat=True)) == {event.pk}
    assert len({a["message_id"] for a in answers}) == N
    duplicates = [a for a in answers if a["status"] == "duplicate"]
    assert all(a["reasons"][0]["found"] == event.pk for a in duplicates)


def test_same_key_other_payload_concurrently_is_one_event_and_recorded_conflicts(world):
    payloads = [release(qty=100), release(qty=90)]  # same order → same business key
    bodies = [envelope("production_order.released", p, source="ERP") for p in payloads]
    answers = race(10, lambda i: _via_pipeline(world["erp"], bodies[i % 2]))

    event = Event.objects.get()
    winner_qty = event.payload["qty"]
    assert winner_qty in (100, 90)
    assert {a["event_id"] for a in answers} == {event.pk}
    statuses = Counter(a["status"] for a in answers)
    assert statuses == {"accepted": 1, "duplicate": 4, "conflict": 5}
    # Who conflicted is exactly who sent the other payload, and it is recorded as such.
    for i, answer in enumerate(answers):
        same = bodies[i % 2]["payload"]["qty"] == winner_qty
        assert answer["status"] in (("accepted", "duplicate") if same else ("conflict",))
    conflicts = InboundMessage.objects.filter(status="conflict")
    assert conflicts.count() == 5
    for message in conflicts:
        assert message.event_id == event.pk
        assert message.reasons[0]["code"] == "idempotency_conflict"
        assert message.body["payload"]["qty"] != winner_qty  # kept as received
