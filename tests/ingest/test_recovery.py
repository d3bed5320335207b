"""Nothing lost, nothing half-done, nothing done twice when the server dies mid-request.

A death is simulated in process with a ``BaseException`` (``SystemExit``), which no
``except Exception`` in the pipeline catches, exactly where a real crash would stop the
request. On PostgreSQL the decision and the messages commit together: a death inside that
transaction (in process, or a real subprocess killed with ``os._exit``) leaves nothing
stored and nothing acknowledged, and the client's resend is decided as if it were the
first. After a failed decision the messages are stored on their own, ``received``, and
decided item by item: a death there leaves ``received`` rows that ``reprocess_received``
decides, exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections

from orchestrator.ingest import pipeline
from orchestrator.ingest.recovery import reprocess_received
from orchestrator.models import Event, InboundMessage
from tests.ingest.conftest import envelope, release

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(settings.BASE_DIR) if hasattr(settings, "BASE_DIR") else Path.cwd()


def bulk_with_bad_items():
    """Good, unmapped, good, duplicate of the first, bad envelope, other plant."""
    return [
        envelope("production_order.released", release("WO-1"), source="ERP"),
        envelope("production_order.released", release("WO-2", item="NOPE"), source="ERP"),
        envelope("production_order.released", release("WO-3"), source="ERP"),
        envelope("production_order.released", release("WO-1"), source="ERP"),
        {"source": "ERP", "plant": "P1", "type": "production_order.released"},
        envelope("production_order.released", release("WO-4"), source="ERP", plant="P2"),
    ]


EXPECTED = ["accepted", "quarantined", "accepted", "duplicate", "rejected", "quarantined"]


def _die(*args, **kwargs):
    raise SystemExit("the server died here")


def _die_after_the_raw_store(monkeypatch) -> None:
    """The batch decision fails for a bug (its messages are then stored on their own,
    ``received`` where undecided) and the server dies before deciding them one by one."""

    def bug(*args, **kwargs):
        raise RuntimeError("a bug in the batch decision")

    monkeypatch.setattr(pipeline, "_decide_atomically", bug)
    monkeypatch.setattr(pipeline, "_decide_items", _die)


def _statuses() -> list[str]:
    return list(InboundMessage.objects.order_by("position").values_list("status", flat=True))


def test_death_between_raw_store_and_decision_leaves_received_rows_and_no_events(
    world, monkeypatch
):
    _die_after_the_raw_store(monkeypatch)
    with pytest.raises(SystemExit):
        pipeline.ingest_batch(
            principal=pipeline.principal_for(world["erp"]), envelopes=bulk_with_bad_items()
        )
    monkeypatch.undo()

    # Every item is stored as received; only those the envelope alone decides are decided.
    assert _statuses() == ["received", "received", "received", "received", "rejected", "received"]
    assert Event.objects.count() == 0

    assert reprocess_received(older_than_seconds=0) == 5
    assert _statuses() == EXPECTED
    first, _, third, dup, *_ = InboundMessage.objects.order_by("position")
    assert dup.event_id == first.event_id != third.event_id
    assert Event.objects.count() == 2
    quarantined = InboundMessage.objects.get(position=1)
    assert quarantined.reasons[0]["code"] == "mapping_missing"

    # Exactly once: a second sweep finds nothing, changes nothing.
    assert reprocess_received(older_than_seconds=0) == 0
    assert Event.objects.count() == 2
    assert _statuses() == EXPECTED


def test_death_inside_the_decision_transaction_leaves_nothing_half_written(world, monkeypatch):
    real_claim = pipeline._claim

    def claim_then_die(*args, **kwargs):
        won = real_claim(*args, **kwargs)
        assert won  # the event rows were inserted in this transaction...
        raise SystemExit("died after the claim")  # ...and the process dies before commit

    monkeypatch.setattr(pipeline, "_claim", claim_then_die)
    with pytest.raises(SystemExit):
        pipeline.ingest_batch(
            principal=pipeline.principal_for(world["erp"]), envelopes=bulk_with_bad_items()
        )
    monkeypatch.undo()

    # The claim rolled back with the rest, the messages with it: nothing was acknowledged.
    assert Event.objects.count() == 0
    assert InboundMessage.objects.count() == 0
    assert reprocess_received(older_than_seconds=0) == 0

    # The client sends again (it had no answer) and gets every decision once.
    _resend_and_expect(world)


def _resend_and_expect(world) -> None:
    results = pipeline.ingest_batch(
        principal=pipeline.principal_for(world["erp"]), envelopes=bulk_with_bad_items()
    )
    assert [r.status for r in results] == EXPECTED
    assert _statuses() == EXPECTED
    assert Event.objects.count() == 2
    assert reprocess_received(older_than_seconds=0) == 0


def test_young_received_rows_are_left_to_their_live_request(world, monkeypatch):
    _die_after_the_raw_store(monkeypatch)
    with pytest.raises(SystemExit):
        pipeline.ingest_batch(
            principal=pipeline.principal_for(world["erp"]),
            envelopes=[envelope("production_order.released", release(), source="ERP")],
        )
    monkeypatch.undo()
    assert reprocess_received(older_than_seconds=3600) == 0
    assert InboundMessage.objects.get().status == "received"
    assert reprocess_received(older_than_seconds=0, limit=1) == 1
    assert InboundMessage.objects.get().status == "accepted"


def test_two_sweepers_never_take_the_same_rows(world, monkeypatch):
    envelopes = [
        envelope("production_order.released", release(f"WO-{i}"), source="ERP") for i in range(40)
    ]
    _die_after_the_raw_store(monkeypatch)
    with pytest.raises(SystemExit):
        pipeline.ingest_batch(principal=pipeline.principal_for(world["erp"]), envelopes=envelopes)
    monkeypatch.undo()

    # Hold each sweeper inside its decision until both have locked their rows.
    real = pipeline.decide_stored
    barrier = threading.Barrier(2)
    taken: list[list[int]] = []
    blocked: list[str] = []

    def slow_decide(*, messages):
        taken.append([m.pk for m in messages])
        try:
            barrier.wait(timeout=10)
        except threading.BrokenBarrierError:  # the other sweeper waited on our locks
            blocked.append("a sweeper waited instead of skipping locked rows")
        return real(messages=messages)

    monkeypatch.setattr(pipeline, "decide_stored", slow_decide)
    counts: list[int] = []

    def sweep():
        try:
            counts.append(reprocess_received(older_than_seconds=0, limit=25))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert blocked == []  # both held their rows at the same time: SKIP LOCKED, not a wait
    # Two scans racing over the same rows may split them in any proportion; what matters
    # is that every row is taken once and no sweeper exceeds its limit.
    assert sum(counts) == 40
    assert max(counts) <= 25
    assert len(taken) == 2
    assert not set(taken[0]) & set(taken[1])
    assert Counter(_statuses()) == {"accepted": 40}
    assert Event.objects.count() == 40


def test_a_handler_bug_on_one_item_quarantines_only_that_item(world, monkeypatch):
    """The bulk request's good items are stored and accepted; the failing one is
    quarantined with an ``internal_error`` reason and its raw body kept for replay."""
    real_apply = pipeline.apply_events

    def apply_or_fail(ctx, events):
        if any(e.payload.get("order") == "WO-3" for e in events):
            raise RuntimeError("handler bug")
        return real_apply(ctx, events)

    monkeypatch.setattr(pipeline, "apply_events", apply_or_fail)
    results = pipeline.ingest_batch(
        principal=pipeline.principal_for(world["erp"]), envelopes=bulk_with_bad_items()
    )
    statuses = [r.status for r in results]
    assert statuses == [
        "accepted",
        "quarantined",
        "quarantined",
        "duplicate",
        "rejected",
        "quarantined",
    ]
    assert results[2].reasons[0]["code"] == "internal_error"
    assert "handler bug" in results[2].reasons[0]["message"]
    assert not Event.objects.filter(payload__order="WO-3").exists()  # nothing half-written
    assert Event.objects.filter(payload__order="WO-1").count() == 1
    assert results[1].reasons
    assert all(r["code"] == "mapping_missing" for r in results[1].reasons)
    assert {r["path"] for r in results[4].reasons} == {"occurred_at", "payload"}
    assert results[5].reasons[0]["code"] == "mapping_missing"
    assert _statuses() == statuses


_CHILD = textwrap.dedent(
    """
    import os, sys, json
    import django
    django.setup()
    from orchestrator.ingest import pipeline
    from plants.models import ConnectedSystem

    real_claim = pipeline._claim

    def claim_then_crash(*args, **kwargs):
        real_claim(*args, **kwargs)
        os._exit(17)  # no cleanup, no rollback by Python: the connection just drops

    pipeline._claim = claim_then_crash
    system = ConnectedSystem.objects.get(code="ERP")
    pipeline.ingest_batch(
        principal=pipeline.principal_for(system), envelopes=json.loads(sys.stdin.read())
    )
    """
)


def test_a_killed_process_leaves_nothing_and_the_resend_is_decided_exactly_once(world):
    db = connection.settings_dict
    user = f"{db['USER']}:{db['PASSWORD']}@" if db.get("PASSWORD") else f"{db['USER']}@"
    url = f"postgres://{user}{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "interlock.settings"}
    child = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=json.dumps(bulk_with_bad_items()),
        capture_output=True,
        text=True,
        env=env,
        cwd=str(ROOT),
        timeout=120,
        check=False,
    )
    assert child.returncode == 17, child.stderr[-2000:]

    assert Event.objects.count() == 0
    assert InboundMessage.objects.count() == 0  # rolled back by PostgreSQL with the claim
    _resend_and_expect(world)
