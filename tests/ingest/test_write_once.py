"""Event rows written once, on real PostgreSQL: decided in memory, claimed at the end.

The decision draws event ids from the sequence, lets the handlers decide, and inserts each
new event once with its final values (``INSERT … ON CONFLICT DO NOTHING``). A key that a
concurrent batch commits meanwhile rolls the decision back, and it is redone with that
item as a duplicate. These tests make that race happen on purpose, and race overlapping
batches in opposite orders to show that the lock order cannot deadlock.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from orchestrator.ingest import pipeline
from orchestrator.ingest.pipeline import ingest_batch, principal_for
from orchestrator.models import AuditRecord, Event, InboundMessage, ProductionOrder
from tests.ingest.conftest import envelope, release
from tests.ingest.test_concurrency import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _releases(*orders: str) -> list[dict]:
    return [envelope("production_order.released", release(o), source="ERP") for o in orders]


def test_an_event_row_is_inserted_once_with_its_final_values(world):
    with CaptureQueriesContext(connection) as queries:
        [result] = ingest_batch(principal=principal_for(world["erp"]), envelopes=_releases("WO-1"))
    assert result.status == "accepted"
    event_writes = [
        q["sql"].split("(")[0].strip()
        for q in queries.captured_queries
        if '"orchestrator_event"' in q["sql"].split("FROM")[0]
        and q["sql"].lstrip().startswith(("INSERT", "UPDATE"))
    ]
    assert event_writes == ['INSERT INTO "orchestrator_event"']
    event = Event.objects.get()
    assert event.pk == result.event_id
    assert event.status == "applied"  # the final value, not "accepted" then an update
    assert event.applied_at is not None
    message = InboundMessage.objects.get()
    assert (message.status, message.event_id) == ("accepted", event.pk)


def _waiting_for_a_key_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return cursor.fetchone()[0] > 0


def test_a_key_committed_while_waiting_for_its_lock_redoes_the_decision(world, monkeypatch):
    """The slow batch's lock statement waits for the fast batch, which then commits WO-2:
    that statement's snapshot still shows WO-2 as new, so the slow batch decides it, loses
    it at the final insert, rolls back and decides it again as a duplicate."""
    principal = principal_for(world["erp"])
    real_lock, real_apply = pipeline._lock_keys, pipeline.apply_events
    locked, go = threading.Event(), threading.Event()
    rounds: list[list[str]] = []

    def lock_keys(keys):
        result = real_lock(keys)
        if threading.current_thread().name == "fast":
            locked.set()
            assert go.wait(60)
        return result

    def apply_events(ctx, events):
        if threading.current_thread().name == "slow":
            rounds.append(sorted(e.payload["order"] for e in events))
        return real_apply(ctx, events)

    monkeypatch.setattr(pipeline, "_lock_keys", lock_keys)
    monkeypatch.setattr(pipeline, "apply_events", apply_events)
    answers: dict[str, list] = {}

    def run(name: str, orders: tuple[str, ...]) -> threading.Thread:
        def target() -> None:
            try:
                answers[name] = ingest_batch(principal=principal, envelopes=_releases(*orders))
            finally:
                connections.close_all()

        thread = threading.Thread(target=target, name=name)
        thread.start()
        return thread

    fast = run("fast", ("WO-2",))
    try:
        assert locked.wait(60), "the fast batch never took its lock"
        slow = run("slow", ("WO-1", "WO-2"))
        deadline = time.monotonic() + 60
        while not _waiting_for_a_key_lock():
            assert time.monotonic() < deadline, "the slow batch never waited for the key"
            time.sleep(0.01)
    finally:
        go.set()
    for thread in (fast, slow):
        thread.join(timeout=120)
        assert not thread.is_alive(), "a batch hung"

    assert rounds == [["WO-1", "WO-2"], ["WO-1"]]  # decided, lost WO-2, redone without it
    fast_results, slow_results = answers["fast"], answers["slow"]
    assert [r.status for r in fast_results] == ["accepted"]
    assert [r.status for r in slow_results] == ["accepted", "duplicate"]
    assert slow_results[1].event_id == fast_results[0].event_id
    assert slow_results[1].reasons[0]["code"] == "duplicate"
    assert Event.objects.count() == 2
    assert sorted(ProductionOrder.objects.values_list("number", flat=True)) == ["WO-1", "WO-2"]
    # The rolled-back round left nothing behind: WO-2 was created and released once.
    wo2 = ProductionOrder.objects.get(number="WO-2")
    transitions = AuditRecord.objects.for_object(wo2).values_list("transition", flat=True)
    assert Counter(transitions) == {"create": 1, "release": 1}
    message = InboundMessage.objects.get(pk=slow_results[1].message_id)
    assert (message.status, message.event_id) == ("duplicate", fast_results[0].event_id)


def test_a_repeat_of_a_committed_event_never_reaches_the_handlers(world, monkeypatch):
    principal = principal_for(world["erp"])
    [first] = ingest_batch(principal=principal, envelopes=_releases("WO-1"))
    handled: list = []
    real_apply = pipeline.apply_events

    def apply_events(ctx, events):
        handled.extend(events)
        return real_apply(ctx, events)

    monkeypatch.setattr(pipeline, "apply_events", apply_events)
    [again] = ingest_batch(principal=principal, envelopes=_releases("WO-1"))
    assert (again.status, again.event_id) == ("duplicate", first.event_id)
    assert handled == []


def test_overlapping_batches_in_opposite_orders_decide_every_key_once_without_deadlock(world):
    orders = ["WO-1", "WO-2", "WO-3", "WO-4"]
    principal = principal_for(world["erp"])

    def submit(i: int) -> list:
        rotated = orders[i % 4 :] + orders[: i % 4]
        batch = rotated if i % 2 else list(reversed(rotated))
        results = ingest_batch(principal=principal, envelopes=_releases(*batch))
        return [(r.idempotency_key, r.status, r.event_id) for r in results]

    # A deadlock or a lost race would raise (ServiceUnavailable) and fail ``race``.
    answers = race(8, submit)

    assert Event.objects.count() == 4
    by_key = {e.idempotency_key: e.pk for e in Event.objects.all()}
    statuses = Counter()
    for answer in answers:
        for key, status, event_id in answer:
            assert event_id == by_key[key]
            statuses[status] += 1
    assert statuses == {"accepted": 4, "duplicate": 28}
    assert ProductionOrder.objects.count() == 4
    assert not InboundMessage.objects.exclude(status__in=["accepted", "duplicate"]).exists()
