"""The ingest pipeline: every message stored, every event decided exactly once.

``ingest_batch`` runs two transactions:

1. **Raw store** (its own commit): one ``InboundMessage`` per envelope, valid or not, so
   nothing a client sends is lost even if the next step dies. Envelope and scope problems
   are decided here already (``rejected``).
2. **Decision** (one transaction for the batch): structural validation against the
   canonical schema, site mapping, the business key, then the **idempotency claim**. On
   PostgreSQL each event row is written once, with its final values: the batch first locks
   its new keys (advisory locks, in one global order), then reads which of them committed
   events hold already (repeats: ``duplicate`` for the same payload hash, ``conflict`` for
   another); the handlers decide the others in memory; one ``INSERT … ON CONFLICT
   (idempotency_key) DO NOTHING`` writes them at the end. Of 50 concurrent submissions of
   one event exactly one is decided as new; the others wait on the key's lock and read the
   committed event. The unique constraint stays the last word: a batch whose insert finds
   a key committed meanwhile is rolled back and decided again with that item a repeat. Every
   message's outcome is written back set-wise (SQLite claims first and updates after).

If the decision transaction fails unexpectedly, it is retried item by item so one bad
item cannot hold the others hostage; an item that still fails is quarantined with an
``internal_error`` reason (its raw message is safe from step 1). Messages left
``received`` by a crash are picked up again by ``recovery.reprocess_received``.

A *transient* database error (connection lost, backend terminated, deadlock) is not the
message's fault: ``ServiceUnavailable`` is raised (the API answers 503 with
``Retry-After``), the undecided messages stay ``received`` for the recovery sweeper, and
what committed before stays decided, so the client's retry is answered ``duplicate`` with
the original event ids.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from jsonschema import Draft202012Validator, FormatChecker

from interlock.errors import ServiceUnavailable, is_transient_db_error
from plants.models import Plant

from ..models import Event, EventStatus, IdempotencyRule, InboundMessage, MessageStatus
from .bulksql import bulk_update as _bulk_update
from .bulksql import pg_insert as _pg_insert
from .bulksql import pg_update as _pg_update
from .context import EVENT_OUTCOME_FIELDS, BatchContext
from .handlers import apply_events
from .intake import Refused
from .normalize import Reason, map_payload, schema_reasons
from .schemacheck import Check, compile_check
from .specs import SPECS, EventSpec

logger = logging.getLogger(__name__)

ENVELOPE_SCHEMA = Path(__file__).resolve().parent / "schemas" / "envelope.v1.json"
MAX_KEY_LENGTH = 500
CLAIM_CHUNK = 500


@cache
def envelope_validator() -> Draft202012Validator:
    return Draft202012Validator(
        json.loads(ENVELOPE_SCHEMA.read_text()), format_checker=FormatChecker()
    )


@cache
def envelope_check() -> Check | None:
    return compile_check(json.loads(ENVELOPE_SCHEMA.read_text()))


def _parse_occurred_at(text: str) -> dt.datetime | None:
    # The envelope schema has checked RFC 3339 already; fromisoformat reads every common
    # form of it ten times faster than the regex of parse_datetime, which stays the fallback.
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        value = parse_datetime(text)
    # In UTC: RFC 3339 allows offsets up to ±23:59, PostgreSQL only ±15:59.
    return value.astimezone(dt.UTC) if value is not None and value.tzinfo else value


# --- results --------------------------------------------------------------------------
@dataclass
class ItemResult:
    """What the client is told about one envelope."""

    position: int
    status: str
    message_id: int | None
    event_id: int | None
    correlation_id: str
    idempotency_key: str | None
    reasons: list[dict[str, Any]]
    forbidden: bool = False
    #: What a ``parked`` event waits for (e.g. ``order-acknowledged:P1:WO-1001``).
    waiting_for: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data = {
            "event_id": self.event_id,
            "message_id": self.message_id,
            "status": self.status,
            "correlation_id": self.correlation_id,
            "idempotency_key": self.idempotency_key,
            "reasons": self.reasons,
        }
        if self.waiting_for:
            data["waiting_for"] = self.waiting_for
        return data


@dataclass
class _Item:
    position: int
    envelope: Any
    correlation_id: str
    status: str | None = None  # decided message status; None while still undecided
    reasons: list[Reason] = field(default_factory=list)
    forbidden: bool = False
    plant: Plant | None = None
    spec: EventSpec | None = None
    occurred_at: dt.datetime | None = None
    canonical: dict[str, Any] | None = None
    key: str | None = None
    payload_hash: str | None = None
    #: The event this item created (claimed ones: a full instance, handed to the handlers).
    event: Event | None = None
    #: The event it created or duplicated.
    event_id: int | None = None
    message_pk: int | None = None
    #: Mapping, schema, key and hash are done (``canonical``/``key`` or quarantine reasons).
    normalized: bool = False
    #: Its stored message still says ``received``: the decision transaction must write it.
    undecided_in_db: bool = False
    #: The HTTP request it came in, when a coalesced batch holds several (else the batch's).
    request_id: uuid.UUID | None = None
    #: Its index within that request, when it differs from ``position`` (coalesced singles).
    stored_position: int | None = None

    def result(self) -> ItemResult:
        reasons = [r.as_dict() for r in self.reasons]
        status = self.status or MessageStatus.RECEIVED
        waiting_for = None
        if self.event is not None and self.status == MessageStatus.ACCEPTED:
            reasons = reasons or list(self.event.reasons)
            if self.event.status == EventStatus.PARKED:
                # Stored and deduplicated, but not applied yet: the client is told so, and
                # what it waits for (the stored message stays ``accepted``).
                status, waiting_for = EventStatus.PARKED.value, self.event.waiting_for
        return ItemResult(
            position=self.position,
            status=status,
            waiting_for=waiting_for,
            message_id=self.message_pk,
            event_id=self.event_id,
            correlation_id=self.correlation_id,
            idempotency_key=self.key,
            reasons=reasons,
            forbidden=self.forbidden,
        )


# --- stage 0: envelope and scope --------------------------------------------------------
def _envelope_reasons(envelope: Any) -> list[Reason]:
    if isinstance(envelope, Refused):  # screened out by the adapter (intake.screen)
        return list(envelope.reasons)
    if not isinstance(envelope, dict):
        return [
            Reason(
                code="schema.type",
                path="",
                message="an event envelope must be a JSON object",
                expected="object",
                found=type(envelope).__name__,
            )
        ]
    check = envelope_check()
    if check is not None and check(envelope):
        return []  # valid: jsonschema is only needed to list the problems
    reasons = []
    for error in envelope_validator().iter_errors(envelope):
        path = ".".join(str(p) for p in error.absolute_path)
        if error.validator == "required":
            path = error.message.split("'")[1]
        elif error.validator == "additionalProperties":
            extra = sorted(set(error.instance) - set(error.schema["properties"]))
            path = extra[0] if len(extra) == 1 else path
        reasons.append(
            Reason(
                code=f"schema.{error.validator}",
                path=path,
                message=error.message,
                found=error.instance if not isinstance(error.instance, (dict, list)) else None,
            )
        )
    return sorted(reasons, key=lambda r: (r.path, r.code))


def _prepare(position: int, envelope: Any, principal, plants_by_code: dict[str, Plant]) -> _Item:
    correlation_id = ""
    if isinstance(envelope, dict) and isinstance(envelope.get("correlation_id"), str):
        correlation_id = envelope["correlation_id"][:100]
    item = _Item(
        position=position, envelope=envelope, correlation_id=correlation_id or str(uuid.uuid4())
    )
    reasons = _envelope_reasons(envelope)
    if reasons:
        item.status, item.reasons = MessageStatus.REJECTED, reasons
        return item
    if envelope["source"] != principal.system.code:
        item.status, item.forbidden = MessageStatus.REJECTED, True
        item.reasons = [
            Reason(
                code="forbidden_source",
                path="source",
                message=f"this API key belongs to {principal.system.code}",
                expected=principal.system.code,
                found=envelope["source"],
            )
        ]
        return item
    plant = plants_by_code.get(envelope["plant"])
    if plant is None or plant.pk not in principal.system_plant_ids:
        item.status, item.forbidden = MessageStatus.REJECTED, True
        item.reasons = [
            Reason(
                code="forbidden_plant",
                path="plant",
                message=f"{principal.system.code} does not serve plant {envelope['plant']}",
                expected=sorted(principal.plant_codes),
                found=envelope["plant"],
            )
        ]
        return item
    item.plant = plant
    item.spec = SPECS[envelope["type"]]
    item.occurred_at = _parse_occurred_at(envelope["occurred_at"])
    return item


# --- stage 1: the raw store ----------------------------------------------------------------
_MESSAGE_COLUMNS = (
    "received_at",
    "request_id",
    "position",
    "system_id",
    "plant_id",
    "source",
    "plant_code",
    "event_type",
    "message_id",
    "correlation_id",
    "body",
    "status",
    "reasons",
    "processed_at",
    "replay_of_id",
    "handled_by_id",
    "handled_reason",
    "event_id",
)


def _store_raw(
    items: list[_Item],
    principal,
    request_id: uuid.UUID,
    now: dt.datetime,
    *,
    replay_of: InboundMessage | None = None,
    handled_by=None,
) -> None:
    handled_by_id = handled_by.pk if getattr(handled_by, "pk", None) else None
    replay_of_id = replay_of.pk if replay_of is not None else None
    if connection.vendor != "postgresql":
        _store_raw_orm(items, principal, request_id, now, replay_of_id, handled_by_id)
        return
    n = len(items)
    columns: list[list[Any]] = [[] for _ in _MESSAGE_COLUMNS]
    (received, request, position, system, plant, source, plant_code, event_type, message_id,
     correlation, body, status, reasons, processed, replay, handled, handled_reason,
     event) = columns  # fmt: skip
    for item in items:
        env = item.envelope if isinstance(item.envelope, dict) else {}
        position.append(item.position if item.stored_position is None else item.stored_position)
        request.append(item.request_id or request_id)
        plant.append(item.plant.pk if item.plant is not None else None)
        source.append(str(env.get("source", ""))[:100])
        plant_code.append(str(env.get("plant", ""))[:100])
        event_type.append(str(env.get("type", ""))[:100])
        message_id.append(str(env.get("message_id", ""))[:200])
        correlation.append(item.correlation_id)
        body.append(_stored_body(item.envelope))
        decided = _stored_status(item)
        status.append(decided)
        reasons.append([] if item.undecided_in_db else [r.as_dict() for r in item.reasons])
        processed.append(None if item.undecided_in_db else now)
        event.append(None if item.undecided_in_db else item.event_id)
    received.extend([now] * n)
    system.extend([principal.system.pk] * n)
    replay.extend([replay_of_id] * n)
    handled.extend([handled_by_id] * n)
    handled_reason.extend([""] * n)
    # One statement in autocommit: atomic on its own, and committed before the decision.
    returned = _pg_insert(
        InboundMessage, _MESSAGE_COLUMNS, columns, 'RETURNING "id", "request_id", "position"'
    )
    by_place = {(req, pos): pk for pk, req, pos in returned}
    for item, req, pos in zip(items, request, position, strict=True):
        item.message_pk = by_place[(req, pos)]


def _stored_body(envelope: Any) -> Any:
    # A refused envelope is stored as its bounded, storable text (intake.Refused.body).
    return envelope.body if isinstance(envelope, Refused) else envelope


#: Decisions the raw store may write at once; anything else is decided in the transaction.
_DECIDED_AT_STORE = (MessageStatus.REJECTED, MessageStatus.DUPLICATE, MessageStatus.CONFLICT)


def _stored_status(item: _Item) -> str:
    """The status the raw store writes for ``item`` (and mark what is left to decide)."""
    if item.status in _DECIDED_AT_STORE:
        item.undecided_in_db = False
        return item.status
    item.undecided_in_db = True
    return MessageStatus.RECEIVED


def _store_raw_orm(items, principal, request_id, now, replay_of_id, handled_by_id) -> None:
    messages = []
    for item in items:
        env = item.envelope if isinstance(item.envelope, dict) else {}
        decided = _stored_status(item)
        messages.append(
            InboundMessage(
                received_at=now,
                request_id=item.request_id or request_id,
                position=item.position if item.stored_position is None else item.stored_position,
                system=principal.system,
                plant=item.plant,
                source=str(env.get("source", ""))[:100],
                plant_code=str(env.get("plant", ""))[:100],
                event_type=str(env.get("type", ""))[:100],
                message_id=str(env.get("message_id", ""))[:200],
                correlation_id=item.correlation_id,
                body=_stored_body(item.envelope),
                status=decided,
                reasons=[] if item.undecided_in_db else [r.as_dict() for r in item.reasons],
                processed_at=None if item.undecided_in_db else now,
                event_id=None if item.undecided_in_db else item.event_id,
                replay_of_id=replay_of_id,
                handled_by_id=handled_by_id,
            )
        )
    with transaction.atomic():
        InboundMessage.objects.bulk_create(messages)
    if any(m.pk is None for m in messages):  # pragma: no cover
        raise RuntimeError("bulk_create did not return primary keys")
    for item, message in zip(items, messages, strict=True):
        item.message_pk = message.pk


# --- stage 2: validation, mapping, key -------------------------------------------------
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


def _normalize(item: _Item) -> None:
    payload = item.envelope["payload"]
    reasons = schema_reasons(item.spec, payload)
    if not reasons:
        day = item.occurred_at.astimezone(item.plant.tz).date()
        canonical, reasons = map_payload(spec=item.spec, plant=item.plant, payload=payload, day=day)
    item.normalized = True
    if reasons:
        item.status, item.reasons = MessageStatus.QUARANTINED, reasons
        return
    item.canonical = canonical
    item.key = business_key(
        spec=item.spec, envelope=item.envelope, canonical=canonical, occurred_at=item.occurred_at
    )
    item.payload_hash = payload_hash(canonical)


def _repeat_of(item: _Item, original_pk: int, original_hash: str) -> None:
    """Decide ``item`` against the committed event that holds its key already."""
    item.event_id = original_pk
    if original_hash == item.payload_hash:
        item.status = MessageStatus.DUPLICATE
        item.reasons = [
            Reason(
                code="duplicate",
                path="",
                message=f"duplicate of event {original_pk}",
                found=original_pk,
            )
        ]
    else:
        item.status = MessageStatus.CONFLICT
        item.reasons = [
            Reason(
                code="idempotency_conflict",
                path="payload",
                message=f"event {original_pk} has the same business key with a different payload",
                expected=original_hash,
                found=item.payload_hash,
            )
        ]


def _existing(keys: set[str]) -> dict[str, tuple[int, str]]:
    """``{key: (event id, payload hash)}`` of the committed events holding ``keys``."""
    if connection.vendor == "postgresql":  # constant text: no queryset compiled per batch
        with connection.cursor() as cursor:
            cursor.execute(
                'SELECT "idempotency_key", "id", "payload_hash" FROM "orchestrator_event" '
                'WHERE "idempotency_key" = ANY(%s)',
                [list(keys)],
            )
            return {key: (pk, digest) for key, pk, digest in cursor.fetchall()}
    return {
        key: (pk, digest)
        for pk, key, digest in Event.objects.filter(idempotency_key__in=keys).values_list(
            "pk", "idempotency_key", "payload_hash"
        )
    }


def _known_repeats(items: list[_Item]) -> None:
    """Decide, before the raw store, the items whose key a *committed* event holds already
    (a re-sent batch, a duplicate storm): they are stored decided, and never reach the claim
    or the decision transaction. Reading is safe here: a committed key never goes away and
    never changes its event; keys not found are claimed through the unique constraint."""
    keyed = [i for i in items if i.status is None and i.key is not None]
    if not keyed:
        return
    existing = _existing({i.key for i in keyed})
    for item in keyed:
        if item.key in existing:
            _repeat_of(item, *existing[item.key])


# --- stage 3: the claim ------------------------------------------------------------------
# On PostgreSQL an event row is written once, with its final values. The decision starts
# by locking its new keys (a transaction advisory lock per key, in one global order) and
# then reads which keys committed events hold already, drawing ids from the sequence for
# the others (:func:`_lock_keys`); the handlers decide in memory; one ``INSERT … ON
# CONFLICT DO NOTHING`` at the end writes the new events (:func:`_claim`). Two batches with
# a key in common are serialised by its lock before either touches a business row: the
# second reads the first's event after the wait and answers a repeat, and their handlers
# never race (creating the same order twice would deadlock or fail on its unique
# constraint). Deadlock-free by lock order: key locks first, sorted, in one statement; row
# locks after. Should the insert still find a key committed meanwhile (a writer that does
# not take the lock), the decision rolls back (:class:`_KeysTaken`) and is redone with that
# item a repeat (:func:`_decide_atomically`). SQLite (one writer at a time) claims first
# and writes the outcome after.
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


def _lock_keys(keys: list[str]) -> tuple[dict[str, tuple[int, str]], dict[str, int]]:
    """Lock ``keys`` until the transaction ends (advisory locks, taken in the order of their
    ids, so no two batches wait on each other's keys), then return ``(stored, new)``: the
    committed event of each key that has one (``{key: (id, payload hash)}``, read after the
    locks, so it sees a batch that held one of them and committed) and an id from the
    sequence for each other key (``{key: id}``, never handed out twice)."""
    global _event_sequence
    with connection.cursor() as cursor:
        if _event_sequence is None:
            cursor.execute(
                "SELECT pg_get_serial_sequence(%s, %s)",
                [Event._meta.db_table, Event._meta.pk.column],
            )
            _event_sequence = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(h)::text) FROM unnest(%s::bigint[]) AS h",
            [sorted({_key_lock(k) for k in keys})],
        )
        cursor.execute(_READ_KEYS_SQL, [_event_sequence, keys])
        rows = cursor.fetchall()
    stored = {key: (pk, digest) for key, pk, digest, _ in rows if pk is not None}
    return stored, {key: new for key, pk, _, new in rows if pk is None}


_READ_KEYS_SQL = """
SELECT u.k, e.id, e.payload_hash, CASE WHEN e.id IS NULL THEN nextval(%s::regclass) END
FROM unnest(%s::text[]) AS u(k)
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


def _claim_first(items: list[_Item], system_id: int, now: dt.datetime) -> dict[str, int]:
    """SQLite: insert an ``accepted`` event per item before the decision; return
    ``{key: new event id}`` for the keys this call won (the outcome is updated after)."""
    table = connection.ops.quote_name(Event._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in _CLAIM_COLUMNS)
    ops = connection.ops
    won: dict[str, int] = {}
    for start in range(0, len(items), CLAIM_CHUNK):
        chunk = items[start : start + CLAIM_CHUNK]
        params: list[Any] = []
        for item in chunk:
            params.extend(
                (
                    item.plant.pk,
                    system_id,
                    item.spec.event_type,
                    ops.adapt_datetimefield_value(item.occurred_at),
                    ops.adapt_datetimefield_value(now),
                    item.correlation_id,
                    item.key,
                    item.payload_hash,
                    json.dumps(item.canonical),
                    EventStatus.ACCEPTED,
                    "[]",
                    "",
                    "{}",
                    "{}",
                )
            )
        row = "(" + ", ".join(["%s"] * len(_CLAIM_COLUMNS)) + ")"
        # Only quoted identifiers and placeholders are interpolated; values are parameters.
        sql = (
            f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * len(chunk))} "  # noqa: S608
            f"ON CONFLICT ({ops.quote_name('idempotency_key')}) DO NOTHING "
            f"RETURNING {ops.quote_name('id')}, {ops.quote_name('idempotency_key')}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            won.update({key: pk for pk, key in cursor.fetchall()})
    return won


_EVENT_FIELDS: tuple[str, ...] | None = None


def _event_from(item: _Item, pk: int, system, now: dt.datetime) -> Event:
    # Event.from_db with every field in order takes Model.__init__'s positional fast path.
    global _EVENT_FIELDS
    if _EVENT_FIELDS is None:
        _EVENT_FIELDS = tuple(f.attname for f in Event._meta.concrete_fields)
    values = {
        "id": pk,
        "plant_id": item.plant.pk,
        "system_id": system.pk,
        "event_type": item.spec.event_type,
        "occurred_at": item.occurred_at,
        "received_at": now,
        "correlation_id": item.correlation_id,
        "idempotency_key": item.key,
        "payload_hash": item.payload_hash,
        "payload": item.canonical,
        "status": EventStatus.ACCEPTED,
        "reasons": [],
        "waiting_for": "",
        "parked_at": None,
        "applied_at": None,
        "rule_pins": {},
        "explanation": {},
    }
    if not set(_EVENT_FIELDS) <= values.keys():  # a field added to Event: stay correct
        event = Event(**{k: v for k, v in values.items() if k in _EVENT_FIELDS})
    else:
        event = Event.from_db("default", _EVENT_FIELDS, [values[f] for f in _EVENT_FIELDS])
        event._state.adding = False
    event.plant = item.plant
    event.system = system
    return event


def _write_messages(items: list[_Item], now: dt.datetime) -> None:
    if connection.vendor != "postgresql":
        for item in items:
            InboundMessage.objects.filter(pk=item.message_pk).update(
                status=item.status,
                reasons=[r.as_dict() for r in item.reasons],
                event_id=item.event_id,
                processed_at=now,
            )
        return
    _pg_update(
        InboundMessage,
        [i.message_pk for i in items],
        {
            "status": [i.status for i in items],
            "reasons": [[r.as_dict() for r in i.reasons] for i in items],
            "event_id": [i.event_id for i in items],
            "processed_at": [now] * len(items),
        },
    )


def _accept(item: _Item, pk: int, system, now: dt.datetime) -> Event:
    item.event = _event_from(item, pk, system, now)
    item.event_id = pk
    item.status = MessageStatus.ACCEPTED
    return item.event


def _decide(items: list[_Item], principal, now: dt.datetime) -> None:
    pending = [i for i in items if i.undecided_in_db]
    for item in pending:
        if not item.normalized:
            _normalize(item)
    candidates = [i for i in pending if i.status is None]

    # Within the batch the first occurrence of a key claims it; repeats are decided below
    # against it exactly like repeats from another request.
    first: dict[str, _Item] = {}
    for item in candidates:
        first.setdefault(item.key, item)
    system = principal.system
    write_once = connection.vendor == "postgresql"
    claimed: list[Event] = []
    if write_once:
        stored, ids = _lock_keys(list(first)) if first else ({}, {})
        for key, item in first.items():
            if key in stored:  # committed before this batch: a repeat
                _repeat_of(item, *stored[key])
            else:
                claimed.append(_accept(item, ids[key], system, now))
        for item in candidates:
            if item.status is None:  # a repeat of the batch's first item with its key
                winner = first[item.key]
                _repeat_of(item, *stored.get(item.key, (winner.event_id, winner.payload_hash)))
    else:
        won = _claim_first(list(first.values()), system.pk, now) if first else {}
        claimed = [_accept(i, won[k], system, now) for k, i in first.items() if k in won]
        losers = [i for i in candidates if i.status is None]
        if losers:
            # Fresh statement, fresh snapshot: it sees the winners committed meanwhile.
            existing = _existing({i.key for i in losers})
            for item in losers:
                _repeat_of(item, *existing[item.key])

    ctx = BatchContext(actor_label=f"system:{system.code}", now=now)
    apply_events(ctx, claimed)
    if write_once:
        new = {event.pk for event in claimed}
        released = [e for pk, e in ctx.touched.items() if pk not in new]
        if released:  # stored events this batch took out of parking
            _bulk_update(released, EVENT_OUTCOME_FIELDS)
        if claimed:
            won_keys = _claim(claimed)
            if len(won_keys) < len(claimed):
                taken = [e.idempotency_key for e in claimed if e.idempotency_key not in won_keys]
                raise _KeysTaken(taken)
    else:
        ctx.save_outcomes()
    # A handler may quarantine a claimed event (expired lot, revision mismatch, a rule):
    # the client and the stored message must say so, not "accepted".
    for item in pending:
        event = item.event
        if (
            item.status == MessageStatus.ACCEPTED
            and event is not None
            and event.status == EventStatus.QUARANTINED
        ):
            item.status = MessageStatus.QUARANTINED
            item.reasons = [_as_reason(r) for r in event.reasons]
    if pending:
        _write_messages(pending, now)


def _decide_atomically(items: list[_Item], principal, now: dt.datetime) -> None:
    """:func:`_decide` in one transaction (a savepoint inside the caller's), redone while
    the final insert loses keys that concurrent batches committed meanwhile: those items
    are then decided as repeats of the committed events and the rest is decided again
    (every round decides at least one item as a repeat, so it ends)."""
    while True:
        undecided = [i for i in items if i.undecided_in_db and i.status is None]
        try:
            with transaction.atomic():
                _decide(items, principal, now)
            return
        except _KeysTaken as lost:
            logger.info("ingest decision redone: %s", lost)
            keys = set(lost.keys)
        # Committed (the insert waited for their batches): a fresh statement sees them.
        existing = _existing(keys)
        if not existing:  # pragma: no cover - the insert only skips committed keys
            raise RuntimeError(f"claimed keys neither won nor stored: {sorted(keys)}")
        for item in undecided:
            if item.key is None:  # quarantined by its mapping or schema: stays so
                continue
            item.status, item.reasons, item.event, item.event_id = None, [], None, None
            if item.key in existing:
                _repeat_of(item, *existing[item.key])


def _as_reason(data: dict[str, Any]) -> Reason:
    return Reason(
        code=str(data.get("code", "")),
        path=str(data.get("path", "")),
        message=str(data.get("message", "")),
        expected=data.get("expected"),
        found=data.get("found"),
    )


def ingest_batch(
    *,
    principal,
    envelopes: list[Any],
    request_id: uuid.UUID | None = None,
    replay_of: InboundMessage | None = None,
    handled_by=None,
) -> list[ItemResult]:
    """Store, decide and apply a batch of envelopes from one connected system.

    Returns one :class:`ItemResult` per envelope, in order. Never raises for bad input.
    ``replay_of`` (with ``handled_by``, the person replaying) links a replayed message to
    the one it replays.
    """
    request_id = request_id or uuid.uuid4()
    items = _prepare_all(principal, envelopes)
    return _ingest(items, principal, request_id, replay_of=replay_of, handled_by=handled_by)


def ingest_requests(
    *, principal, envelopes: list[Any], request_ids: list[uuid.UUID]
) -> list[ItemResult]:
    """Like :func:`ingest_batch`, for envelopes that came in *separate* single-event requests
    of one connected system (``request_ids[i]`` brought ``envelopes[i]``): one raw store,
    one decision transaction and one commit for all of them, each message stored as its own
    request's item 0. The group commit of ``coalesce.py`` calls it."""
    items = _prepare_all(principal, envelopes)
    for item, request_id in zip(items, request_ids, strict=True):
        item.request_id, item.stored_position = request_id, 0
    return _ingest(items, principal, request_ids[0])


def _prepare_all(principal, envelopes: list[Any]) -> list[_Item]:
    # The principal brings its system's plants (read with its key); only those may post.
    plants = getattr(principal, "plants", None)
    if not plants:
        codes = {
            e.get("plant")
            for e in envelopes
            if isinstance(e, dict) and isinstance(e.get("plant"), str)
        }
        plants = {p.code: p for p in Plant.objects.filter(code__in=codes)}
    return [_prepare(i, envelope, principal, plants) for i, envelope in enumerate(envelopes)]


def _ingest(
    items: list[_Item], principal, request_id: uuid.UUID, *, replay_of=None, handled_by=None
) -> list[ItemResult]:
    now = timezone.now()
    for item in items:
        if item.status is None:
            _normalize_early(item)
    if len(items) > 1:  # one round trip more pays off only for batches (re-sent ones above all)
        _known_repeats(items)
    _store_raw(items, principal, request_id, now, replay_of=replay_of, handled_by=handled_by)
    _decide_safely(items, principal, now)
    return [item.result() for item in items]


def _normalize_early(item: _Item) -> None:
    """Normalise before the raw store (mapping results are needed to recognise repeats);
    a quarantine found here is still *written* by the decision, after the raw store."""
    try:
        _normalize(item)
    except Exception as exc:  # a bug must not cost the raw message: the decision retries it
        if is_transient_db_error(exc):
            raise _unavailable(exc) from exc  # nothing stored yet: the client retries
        logger.exception("normalisation failed before the raw store; left to the decision")
        _reset(item)


def decide_stored(*, messages: list[InboundMessage]) -> list[ItemResult]:
    """Decide messages that were stored but never decided (status ``received``), e.g. after
    the process died between the raw store and the decision. Safe to run twice: only rows
    still ``received`` are taken, and the claim deduplicates."""
    results: list[ItemResult] = []
    by_system: dict[int, list[InboundMessage]] = {}
    for message in messages:
        if message.status == MessageStatus.RECEIVED and message.system_id:
            by_system.setdefault(message.system_id, []).append(message)
    for batch in by_system.values():
        principal = principal_for(batch[0].system)
        codes = {m.body.get("plant") for m in batch if isinstance(m.body, dict)}
        plants = {p.code: p for p in Plant.objects.filter(code__in=codes)}
        items = []
        for message in batch:
            item = _prepare(message.position, message.body, principal, plants)
            item.correlation_id = message.correlation_id
            item.message_pk = message.pk
            item.undecided_in_db = item.status is None
            if item.status is not None:  # decided by the envelope alone
                InboundMessage.objects.filter(pk=message.pk).update(
                    status=item.status,
                    reasons=[r.as_dict() for r in item.reasons],
                    processed_at=timezone.now(),
                )
            items.append(item)
        _decide_safely(items, principal, batch[0].received_at)
        results.extend(item.result() for item in items)
    return results


def principal_for(system):
    """The principal a stored message is decided as (its system and that system's plants)."""
    from plants.api.authentication import SystemPrincipal

    plants = list(system.plants.all())
    return SystemPrincipal(
        system=system,
        api_key=None,
        system_plant_ids=frozenset(p.pk for p in plants),
        plant_codes=frozenset(p.code for p in plants),
        plants={p.code: p for p in plants},
    )


def _decide_safely(items: list[_Item], principal, now: dt.datetime) -> None:
    # Chosen before the attempt: a failed attempt may have changed statuses in memory.
    undecided = [i for i in items if i.undecided_in_db]
    if not undecided:  # all decided at the raw store (rejected, known repeats)
        return
    try:
        _decide_atomically(items, principal, now)
        return
    except Exception as exc:
        if is_transient_db_error(exc):
            raise _unavailable(exc) from exc
        logger.exception("batch decision failed; retrying item by item")
    for item in undecided:
        _reset(item)
        try:
            _decide_atomically([item], principal, now)
        except Exception as exc:
            if is_transient_db_error(exc):
                raise _unavailable(exc) from exc  # the items decided so far stay decided
            logger.exception("ingest of message %s failed", item.message_pk)
            _reset(item)
            item.status = MessageStatus.QUARANTINED
            item.reasons = [
                Reason(code="internal_error", path="", message=f"{type(exc).__name__}: {exc}")
            ]
            InboundMessage.objects.filter(pk=item.message_pk).update(
                status=item.status, reasons=[r.as_dict() for r in item.reasons], processed_at=now
            )


def _unavailable(exc: Exception) -> ServiceUnavailable:
    """The database failed under us: leave what is undecided to ``recovery`` (one log line)."""
    logger.warning("ingest decision deferred, database unavailable: %s", exc)
    return ServiceUnavailable("The database is unavailable for a moment; retry later.")


def _reset(item: _Item) -> None:
    item.status, item.reasons, item.event, item.event_id = None, [], None, None
    item.normalized = False
    item.canonical = item.key = item.payload_hash = None
