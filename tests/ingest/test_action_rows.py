"""``actions.records._new_row``: the positional fast path builds the same row as keywords."""

from __future__ import annotations

import datetime as dt

import pytest

from orchestrator.actions.records import _new_row
from orchestrator.models import Event, OutboxMessage
from plants.models import Plant

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def _values(row):
    return {f.attname: getattr(row, f.attname) for f in OutboxMessage._meta.concrete_fields}


def test_a_row_built_positionally_equals_one_built_with_keywords():
    plant, event = Plant(id=7, code="P7"), Event(id=42)
    common = {
        "target_system": "erp",
        "system_id": 3,
        "next_attempt_at": NOW,
        "message_type": "production.confirmation",
        "payload": {"qty": 5},
        "idempotency_key": "k|rule|erp",
        "rule": "post_confirmation",
        "correlation_id": "c-1",
        "created_at": NOW,
    }
    fast = _new_row(OutboxMessage, plant_id=plant.pk, event_id=event.pk, **common)
    for name, related in (("plant", plant), ("event", event)):
        OutboxMessage._meta.get_field(name).set_cached_value(fast, related)
    slow = OutboxMessage(plant=plant, event=event, **common)
    assert _values(fast) == _values(slow)
    assert (fast.status, fast.attempts, fast.last_error) == ("pending", 0, "")
    assert fast.plant is plant
    assert fast.event is event
    assert fast._state.adding
    assert fast.pk is None


def test_callable_defaults_are_called_per_row_and_unknown_fields_refused():
    first = _new_row(OutboxMessage, created_at=NOW)
    second = _new_row(OutboxMessage, created_at=NOW)
    assert first.payload == {}
    assert first.payload is not second.payload
    with pytest.raises(TypeError, match="no field bogus"):
        _new_row(OutboxMessage, bogus=1)
