"""The ingest pipeline: every message stored, every event decided exactly once.

On PostgreSQL ``ingest_batch`` runs **one transaction** (:func:`_decide_and_store`): the
decision, then one ``InboundMessage`` per envelope (valid or not) written once, with its
outcome. Nothing is acknowledged before that commit, so nothing acknowledged is lost; a
server that dies before it has answered nothing and the client sends again.

The decision: structural validation against the canonical schema, site mapping, the
business key, then the **idempotency claim**. Each event row is written once, with its
final values: the batch first locks its new keys (advisory locks, in one global order),
then reads which of them committed events hold already (repeats: ``duplicate`` for the
same payload hash, ``conflict`` for another); the handlers decide the others in memory;
one ``INSERT … ON CONFLICT (idempotency_key) DO NOTHING`` writes them at the end. Of 50
concurrent submissions of one event exactly one is decided as new; the others wait on the
key's lock and read the committed event. The unique constraint stays the last word: a
batch whose insert finds a key committed meanwhile is rolled back and decided again with
that item a repeat.

If the decision fails unexpectedly, the messages are stored on their own (their own
commit, ``received`` where undecided) and decided item by item, so one bad item cannot
hold the others hostage; an item that still fails is quarantined with an
``internal_error`` reason (its raw message is safe). SQLite (the embedded default) always
takes these two steps: the raw store commits first, the decision claims its keys and
writes the messages' outcomes after. Messages left ``received`` by a crash between them
are picked up again by ``recovery.reprocess_received``.

A *transient* database error (connection lost, backend terminated, deadlock) is not the
message's fault: ``ServiceUnavailable`` is raised (the API answers 503 with
``Retry-After``), the undecided messages are stored ``received`` for the recovery sweeper
if the database still answers, and what committed before stays decided, so the client's
retry is answered ``duplicate`` with the original event ids.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from interlock.errors import ServiceUnavailable, is_transient_db_error
from plants.models import Plant

from ..models import Event, EventStatus, InboundMessage, MessageStatus
from .bulksql import bulk_update as _bulk_update
from .bulksql import pg_update as _pg_update
from .context import EVENT_OUTCOME_FIELDS, BatchContext
from .envelope import normalize_item, prepare_item
from .handlers import apply_events
from .items import ItemResult, _event_from, _Item
from .ledger import (
    _CLAIM_COLUMNS,
    _claim,
    _existing,
    _KeysTaken,
    _lock_keys,
)
from .normalize import BatchMappings, Reason
from .rawstore import _DECIDED_AT_STORE, _store_raw

logger = logging.getLogger(__name__)

CLAIM_CHUNK = 500


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


def _known_repeats(items: list[_Item]) -> None:
    """Decide, before anything is locked, the items whose key a *committed* event holds
    already (a re-sent batch, a duplicate storm): they are stored decided, and never reach
    the claim (a batch of nothing else is one insert of its messages). Reading is safe
    here: a committed key never goes away and never changes its event; keys not found are
    claimed through the unique constraint."""
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


def _decide(
    items: list[_Item], principal, now: dt.datetime, *, write_messages: bool = True
) -> None:
    pending = [i for i in items if i.undecided_in_db]
    mappings = BatchMappings()
    for item in pending:
        if not item.normalized:
            normalize_item(item, mappings)
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
    if pending and write_messages:
        _write_messages(pending, now)


def _decide_atomically(
    items: list[_Item], principal, now: dt.datetime, *, then: Callable[[], None] | None = None
) -> None:
    """:func:`_decide` in one transaction (a savepoint inside the caller's), followed in it
    by ``then`` (the messages' insert: their outcomes are then not written by
    ``_decide``), redone while the final insert loses keys that concurrent batches
    committed meanwhile: those items are then decided as repeats of the committed events
    and the rest is decided again (every round decides at least one item as a repeat, so
    it ends)."""
    while True:
        undecided = [i for i in items if i.undecided_in_db and i.status is None]
        try:
            with transaction.atomic():
                _decide(items, principal, now, write_messages=then is None)
                if then is not None:  # in the same transaction (the messages, written once)
                    then()
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
    of one connected system (``request_ids[i]`` brought ``envelopes[i]``): one decision
    transaction with the messages' insert and one commit for all of them, each message
    stored as its own request's item 0. The group commit of ``coalesce.py`` calls it."""
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
    return [prepare_item(i, envelope, principal, plants) for i, envelope in enumerate(envelopes)]


def _ingest(
    items: list[_Item], principal, request_id: uuid.UUID, *, replay_of=None, handled_by=None
) -> list[ItemResult]:
    now = timezone.now()
    mappings = BatchMappings()
    for item in items:
        if item.status is None:
            _normalize_early(item, mappings)
    if len(items) > 1:  # one round trip more pays off only for batches (re-sent ones above all)
        _known_repeats(items)
    store = {"replay_of": replay_of, "handled_by": handled_by}
    if connection.vendor == "postgresql":
        undecided = _decide_and_store(items, principal, request_id, now, store)
        if undecided:
            _decide_items(undecided, principal, now)
    else:
        _store_raw(items, principal, request_id, now, **store)
        _decide_safely(items, principal, now)
    return [item.result() for item in items]


def _decide_and_store(
    items: list[_Item], principal, request_id: uuid.UUID, now: dt.datetime, store: dict
) -> list[_Item]:
    """PostgreSQL: decide the batch and store its messages in one transaction, each message
    row written once, with its outcome (no ``received`` row updated after the decision).

    Nothing is acknowledged before this commits, so nothing acknowledged can be lost. Should
    the decision fail, the messages are stored on their own (their own commit, ``received``
    where undecided, as the two-step path does) and the undecided items are returned for
    the caller to decide one by one; should the database fail, they are stored that way if
    it still answers and the client is told to retry (503)."""
    for item in items:
        item.undecided_in_db = item.status not in _DECIDED_AT_STORE
    undecided = [i for i in items if i.undecided_in_db]

    def store_decided() -> None:
        _store_raw(items, principal, request_id, now, decided=True, **store)

    try:
        if undecided:  # one transaction (no savepoint): the decision, then the messages
            _decide_atomically(items, principal, now, then=store_decided)
        else:  # all decided already (rejected, known repeats): one statement
            store_decided()
        return []
    except Exception as exc:
        failure = exc
    for item in undecided:
        _reset(item)
    if is_transient_db_error(failure):
        try:
            _store_raw(items, principal, request_id, now, **store)
        except Exception as again:  # the database is away: nothing stored, nothing answered
            logger.warning("raw store failed too: %s", again)
        raise _unavailable(failure) from failure
    logger.error("batch decision failed; retrying item by item", exc_info=failure)
    _store_raw(items, principal, request_id, now, **store)
    return undecided


def _normalize_early(item: _Item, mappings: BatchMappings) -> None:
    """Normalise before anything is stored (mapping results are needed to recognise
    repeats); a quarantine found here is written with the message's outcome by the
    decision."""
    try:
        normalize_item(item, mappings)
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
            item = prepare_item(message.position, message.body, principal, plants)
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
    _decide_items(undecided, principal, now)


def _decide_items(undecided: list[_Item], principal, now: dt.datetime) -> None:
    """Decide stored, undecided items one by one (a failed batch's): an item that fails is
    quarantined with ``internal_error``; a database failure stops it (503)."""
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
