"""Event rows written once, on real PostgreSQL: decided in memory, claimed at the end.

The decision locks its keys, reads which committed events hold them, draws ids from the
sequence for the others, lets the handlers decide, and inserts each new event once with
its final values (``INSERT … ON CONFLICT DO NOTHING``). A batch waiting for a key answers
a repeat without deciding it; a key committed by a writer that bypasses the lock rolls the
decision back, and it is redone with that item a repeat. These tests make both races
happen on purpose, and race overlapping batches in opposite orders to show that the lock
order cannot deadlock (without the key locks, two batches creating the same orders in
opposite orders did).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

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


class _Paused:
    """Wrap ``pipeline._lock_keys`` so that in the thread named ``name`` it waits, after
    taking the locks and reading the keys, until ``go`` is set."""

    def __init__(self, monkeypatch, name: str) -> None:
        self.name, self.locked, self.go = name, threading.Event(), threading.Event()
        self.keys: list[str] = []
        real = pipeline._lock_keys

        def lock_keys(keys):
            result = real(keys)
            if threading.current_thread().name == self.name and not self.locked.is_set():
                self.keys = list(keys)
                self.locked.set()
                assert self.go.wait(60)
            return result

        monkeypatch.setattr(pipeline, "_lock_keys", lock_keys)


def _rounds(monkeypatch, thread_name: str) -> list[list[str]]:
    """The orders of the events the handlers get, per decision round of ``thread_name``."""
    rounds: list[list[str]] = []
    real = pipeline.apply_events

    def apply_events(ctx, events):
        if threading.current_thread().name == thread_name:
            rounds.append(sorted(e.payload["order"] for e in events))
        return real(ctx, events)

    monkeypatch.setattr(pipeline, "apply_events", apply_events)
    return rounds


def _start(name: str, principal, orders: tuple[str, ...], answers: dict) -> threading.Thread:
    def target() -> None:
        try:
            answers[name] = ingest_batch(principal=principal, envelopes=_releases(*orders))
        finally:
            connections.close_all()

    thread = threading.Thread(target=target, name=name)
    thread.start()
    return thread


def _join(*threads: threading.Thread) -> None:
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a batch hung"


def test_a_batch_waiting_for_a_key_answers_a_repeat_without_deciding_it(world, monkeypatch):
    """The fast batch holds WO-2's lock; the slow batch (WO-1, WO-2) waits for it, then
    reads the committed event and decides only WO-1: no handler ever sees WO-2 twice."""
    principal = principal_for(world["erp"])
    paused = _Paused(monkeypatch, "fast")
    rounds = _rounds(monkeypatch, "slow")
    answers: dict[str, list] = {}
    fast = _start("fast", principal, ("WO-2",), answers)
    slow = None
    try:
        assert paused.locked.wait(60), "the fast batch never took its lock"
        slow = _start("slow", principal, ("WO-1", "WO-2"), answers)
        deadline = time.monotonic() + 60
        while not _waiting_for_a_key_lock():
            assert time.monotonic() < deadline, "the slow batch never waited for the key"
            time.sleep(0.01)
    finally:
        paused.go.set()
    _join(fast, *([slow] if slow else []))

    assert rounds == [["WO-1"]]
    fast_results, slow_results = answers["fast"], answers["slow"]
    assert [r.status for r in fast_results] == ["accepted"]
    assert [r.status for r in slow_results] == ["accepted", "duplicate"]
    assert slow_results[1].event_id == fast_results[0].event_id
    assert Event.objects.count() == 2
    wo2 = ProductionOrder.objects.get(number="WO-2")
    transitions = AuditRecord.objects.for_object(wo2).values_list("transition", flat=True)
    assert Counter(transitions) == {"create": 1, "release": 1}


def test_a_key_committed_outside_the_lock_redoes_the_decision_with_that_item_a_repeat(
    world, monkeypatch
):
    """A writer that does not take the key lock commits WO-2's key while the slow batch
    decides it: the final insert loses it, the decision rolls back (nothing of the first
    round stays) and is redone with WO-2 answered ``conflict`` (another payload)."""
    principal = principal_for(world["erp"])
    paused = _Paused(monkeypatch, "slow")
    rounds = _rounds(monkeypatch, "slow")
    answers: dict[str, list] = {}
    slow = _start("slow", principal, ("WO-1", "WO-2"), answers)
    try:
        assert paused.locked.wait(60), "the slow batch never took its locks"
        [key] = [k for k in paused.keys if "WO-2" in k]
        other = Event.objects.create(
            plant=world["p1"],
            system=world["erp"],
            event_type="production_order.released",
            occurred_at=timezone.now(),
            received_at=timezone.now(),
            correlation_id="outside",
            idempotency_key=key,
            payload_hash="0" * 64,
            payload={"order": "WO-2"},
            status="applied",
        )
    finally:
        paused.go.set()
    _join(slow)

    assert rounds == [["WO-1", "WO-2"], ["WO-1"]]  # decided, lost WO-2, redone without it
    results = answers["slow"]
    assert [r.status for r in results] == ["accepted", "conflict"]
    assert results[1].event_id == other.pk
    assert results[1].reasons[0]["code"] == "idempotency_conflict"
    assert Event.objects.count() == 2
    # The rolled-back round left nothing behind: WO-2 was never created.
    assert list(ProductionOrder.objects.values_list("number", flat=True)) == ["WO-1"]
    message = InboundMessage.objects.get(pk=results[1].message_id)
    assert (message.status, message.event_id) == ("conflict", other.pk)


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


def test_overlapping_batches_in_opposite_orders_decide_every_key_once_without_deadlock(
    world, caplog
):
    orders = ["WO-1", "WO-2", "WO-3", "WO-4"]
    principal = principal_for(world["erp"])

    def submit(i: int) -> list:
        rotated = orders[i % 4 :] + orders[: i % 4]
        batch = rotated if i % 2 else list(reversed(rotated))
        results = ingest_batch(principal=principal, envelopes=_releases(*batch))
        return [(r.idempotency_key, r.status, r.event_id) for r in results]

    # A deadlock would raise (ServiceUnavailable) and fail ``race``.
    with caplog.at_level(logging.INFO, logger="orchestrator.ingest.pipeline"):
        answers = race(8, submit)
    assert "redone" not in caplog.text  # the losers waited for the keys, nothing redone

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
