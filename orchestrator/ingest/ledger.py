"""The ledger of business keys: how an event's key is made (configured per event type,
re-read as data), and the PostgreSQL statements that claim keys for a batch: advisory key
locks in one global order, the read of committed events, ids from the sequence, and the
one ``INSERT … ON CONFLICT DO NOTHING`` that writes a batch's new events with their final
values (``pipeline`` stage 3 explains the protocol)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from functools import cache
from typing import Any

import orjson
from django.db import connection

from ..models import Event, IdempotencyRule
from .bulksql import bound_cursor
from .bulksql import pg_insert as _pg_insert
from .specs import EventSpec

MAX_KEY_LENGTH = 500

_rules_cache: tuple[float, dict[str, IdempotencyRule]] | None = None


def idempotency_rules() -> dict[str, IdempotencyRule]:
    """Business-key configuration, re-read at most every few seconds (it is data)."""
    global _rules_cache
    now = time.monotonic()
    if _rules_cache is None or now - _rules_cache[0] > 5.0:
        _rules_cache = (now, {r.event_type: r for r in IdempotencyRule.objects.all()})
    return _rules_cache[1]


def forget_idempotency_rules() -> None:
    global _rules_cache
    _rules_cache = None


def _key_part(value: Any) -> str:
    if type(value) is int:  # json.dumps(int) is its decimal text, with nothing to escape
        return str(value)
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text.replace("\\", "\\\\").replace("|", "\\|")


def business_key(
    *, spec: EventSpec, envelope: dict, canonical: dict, occurred_at: dt.datetime
) -> str:
    rule = idempotency_rules().get(spec.event_type)
    fields = rule.fields if rule else spec.key
    bucket = rule.time_bucket_seconds if rule else spec.time_bucket_seconds
    parts = [spec.event_type]
    for name in fields:
        value = (
            envelope.get(name) if name in ("source", "plant", "type") else canonical.get(name, "")
        )
        parts.append(_key_part(value))
    if bucket:
        parts.append(str(int(occurred_at.timestamp()) // bucket * bucket))
    key = "|".join(parts)
    if len(key) > MAX_KEY_LENGTH:  # keep it readable *and* unique
        key = key[:400] + "#" + hashlib.sha256(key.encode()).hexdigest()
    return key


def payload_hash(canonical: dict) -> str:
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _existing(keys: set[str]) -> dict[str, tuple[int, str]]:
    """``{key: (event id, payload hash)}`` of the committed events holding ``keys``."""
    if connection.vendor == "postgresql":  # constant text: no queryset compiled per batch
        with bound_cursor() as cursor:
            cursor.execute(
                'SELECT "idempotency_key", "id", "payload_hash" FROM "orchestrator_event" '
                'WHERE "idempotency_key" IN (SELECT jsonb_array_elements_text(%s::jsonb))',
                [_json_list(keys)],
            )
            return {key: (pk, digest) for key, pk, digest in cursor.fetchall()}
    return {
        key: (pk, digest)
        for pk, key, digest in Event.objects.filter(idempotency_key__in=keys).values_list(
            "pk", "idempotency_key", "payload_hash"
        )
    }


_CLAIM_COLUMNS = (
    "plant_id",
    "system_id",
    "event_type",
    "occurred_at",
    "received_at",
    "correlation_id",
    "idempotency_key",
    "payload_hash",
    "payload",
    "status",
    "reasons",
    "waiting_for",
    "rule_pins",
    "explanation",
)


class _KeysTaken(Exception):
    """The claim lost ``keys`` to batches that committed them after this one began."""

    def __init__(self, keys: list[str]) -> None:
        super().__init__(f"{len(keys)} keys taken meanwhile")
        self.keys = keys


@cache
def _event_columns() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(columns, attnames)`` of every concrete field of :class:`Event`, id included."""
    fields = Event._meta.concrete_fields
    return tuple(f.column for f in fields), tuple(f.attname for f in fields)


_event_sequence: str | None = None


def _key_lock(key: str) -> int:
    """The advisory lock id of a business key (64 bits of its BLAKE2b digest)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), signed=True)


def _json_list(values) -> str:
    """A list parameter as one JSON text: psycopg quotes an array's elements one by one in
    Python (0.7 ms for 500 keys), orjson writes the document in C (0.04 ms)."""
    return orjson.dumps(list(values)).decode()


def _lock_keys(keys: list[str]) -> tuple[dict[str, tuple[int, str]], dict[str, int]]:
    """Lock ``keys`` until the transaction ends (advisory locks, taken in the order of their
    ids, so no two batches wait on each other's keys), then return ``(stored, new)``: the
    committed event of each key that has one (``{key: (id, payload hash)}``, read after the
    locks, so it sees a batch that held one of them and committed) and an id from the
    sequence for each other key (``{key: id}``, never handed out twice)."""
    global _event_sequence
    with bound_cursor() as cursor:
        if _event_sequence is None:
            cursor.execute(
                "SELECT pg_get_serial_sequence(%s, %s)",
                [Event._meta.db_table, Event._meta.pk.column],
            )
            _event_sequence = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(h::bigint)::text) "
            "FROM jsonb_array_elements_text(%s::jsonb) AS h",
            [_json_list(sorted({_key_lock(k) for k in keys}))],
        )
        cursor.execute(_READ_KEYS_SQL, [_event_sequence, _json_list(keys)])
        rows = cursor.fetchall()
    stored = {key: (pk, digest) for key, pk, digest, _ in rows if pk is not None}
    return stored, {key: new for key, pk, _, new in rows if pk is None}


_READ_KEYS_SQL = """
SELECT u.k, e.id, e.payload_hash, CASE WHEN e.id IS NULL THEN nextval(%s::regclass) END
FROM jsonb_array_elements_text(%s::jsonb) AS u(k)
LEFT JOIN "orchestrator_event" AS e ON e.idempotency_key = u.k
"""


def _claim(events: list[Event]) -> set[str]:
    """Insert ``events`` with their final values, in key order (PostgreSQL); return the keys
    this call won. A key held by a concurrent uncommitted batch waits for its commit."""
    columns, attnames = _event_columns()
    events = sorted(events, key=lambda e: e.idempotency_key)
    values = [[getattr(e, name) for e in events] for name in attnames]
    returned = _pg_insert(
        Event,
        columns,
        values,
        'ON CONFLICT ("idempotency_key") DO NOTHING RETURNING "idempotency_key"',
    )
    return {key for (key,) in returned}
