"""Delivery of outbox rows: claim, send in batches per system, record, retry or dead-letter.

The Celery tasks in ``connectors.tasks`` call :func:`deliver_system` (one system, until
nothing is due or the task's time budget is spent) and :func:`sweep` (beat). Everything
here is safe to run twice and concurrently:

- **claim**: ``SELECT … FOR UPDATE SKIP LOCKED`` of due rows, then one ``UPDATE`` to
  ``in_flight`` with a lease (``locked_until``) and the attempt counted. Two workers never
  hold the same row; a worker killed mid-request leaves its rows ``in_flight`` until the
  lease runs out, then any worker claims them again (the receiver deduplicates the
  repeat by idempotency key, so the effect stays single).
- **record**: only rows still held under this claim's lease are written (a fencing check),
  all of one request's outcome in one transaction with its ``DeliveryAttempt`` rows.
- **poison isolation**: first attempts travel in batches; a row that failed once is retried
  alone, so one message that always breaks its batch cannot hold the others back.
- **order of effects**: acknowledgment handlers (``acks``) run *before* a row is marked
  delivered; they are idempotent (ingest deduplicates), so a crash in between only
  repeats them.
- **throttling** (429) is the receiver pacing us: it is retried (never sooner than
  ``Retry-After``) until ``INTERLOCK_OUTBOX_THROTTLE_BUDGET_SECONDS`` after the row was
  written, and does not use up ``max_attempts``, which counts real failures only.
- **gates** (``gated``: the receiver answered, but holds the message behind its own gate,
  such as Tryton's pending quality inspection) are *not done*: retried no sooner than the
  receiver's recheck interval until ``INTERLOCK_OUTBOX_GATE_BUDGET_SECONDS``, without using
  up attempts or opening the circuit (the system is healthy).
- **configuration errors** (no usable base URL, no connector, a missing or refused
  credential) cannot heal by waiting: every due row of the system is dead-lettered at once
  with the reason, logged as an ERROR, and replayed by an operator after the fix.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
import uuid
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Count, F, Min, Q
from django.utils import timezone

from orchestrator.ingest import bulksql
from orchestrator.models.outbox import AttemptOutcome, DeliveryAttempt, OutboxMessage, OutboxStatus
from orchestrator.services.outbox import outbox_attach_systems
from plants.models import ConnectedSystem

from . import acks, circuit, conf, ratelimit
from .base import GATED, Connector, ConnectorError, OutboundMessage, Receipt, connector_for
from .mapping import to_plant_codes

logger = logging.getLogger(__name__)

#: Rows retried alone per claim (each is one request, so this bounds the lease).
RETRY_CLAIM = 5


@dataclass
class RunResult:
    """What one delivery run did (returned by the task, shown in logs)."""

    requests: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    circuit_open_until: dt.datetime | None = None
    next_due: dt.datetime | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "requests": self.requests,
            "delivered": self.delivered,
            "retried": self.retried,
            "dead": self.dead,
            "circuit_open_until": self.circuit_open_until.isoformat()
            if self.circuit_open_until
            else None,
            "next_due": self.next_due.isoformat() if self.next_due else None,
        }


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Delay before attempt ``attempt + 1``: base·2^(attempt-1) with equal jitter (half
    fixed, half random, so delays grow from one attempt to the next yet spread out
    workers that failed together), never below the receiver's ``Retry-After``."""
    base = conf.get("INTERLOCK_OUTBOX_BACKOFF_SECONDS")
    cap = conf.get("INTERLOCK_OUTBOX_BACKOFF_MAX_SECONDS")
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not crypto
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, cap)


def _due(now: dt.datetime) -> Q:
    return Q(status=OutboxStatus.PENDING, next_attempt_at__lte=now) | Q(
        status=OutboxStatus.IN_FLIGHT, locked_until__lt=now
    )


def claim(
    system: ConnectedSystem, *, limit: int, retried: bool, lease_seconds: float
) -> tuple[list[OutboxMessage], dt.datetime]:
    """Take up to ``limit`` due rows of ``system`` (first attempts, or rows that failed
    before when ``retried``); returns them and the lease that fences their recording."""
    now = timezone.now()
    lease = now + dt.timedelta(seconds=lease_seconds)
    if connection.vendor == "postgresql":
        # One statement: pick (SKIP LOCKED), lease and return them with their former status.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                _CLAIM_SQL.format(attempts="> 0" if retried else "= 0"),
                [system.pk, now, now, limit, lease],
            )
            rows = cursor.fetchall()
            _log_lost(rows, system, now)
        return _claimed([pk for pk, _ in rows]), lease
    qs = OutboxMessage.objects.filter(_due(now), system=system)
    qs = qs.filter(attempts__gt=0) if retried else qs.filter(attempts=0)
    with transaction.atomic():
        rows = list(
            qs.order_by("next_attempt_at", "id")
            .select_for_update(skip_locked=True)
            .values_list("pk", "status")[:limit]
        )
        if not rows:
            return [], lease
        ids = [pk for pk, _ in rows]
        _log_lost(rows, system, now)
        OutboxMessage.objects.filter(pk__in=ids).update(
            status=OutboxStatus.IN_FLIGHT, locked_until=lease
        )
    return _claimed(ids), lease


_OUTBOX = OutboxMessage._meta.db_table
#: The claim on PostgreSQL (``_due`` and the partial ``outbox_due_idx``); ``{attempts}`` is
#: ``= 0`` (first attempts) or ``> 0`` (retries, sent alone).
_CLAIM_SQL = (
    f"WITH due AS (SELECT id, status FROM {_OUTBOX} "  # noqa: S608 - table name only
    "WHERE system_id = %s AND ((status = 'pending' AND next_attempt_at <= %s) "
    "OR (status = 'in_flight' AND locked_until < %s)) AND attempts {attempts} "
    "ORDER BY next_attempt_at, id LIMIT %s FOR UPDATE SKIP LOCKED) "
    f"UPDATE {_OUTBOX} AS o SET status = 'in_flight', locked_until = %s "
    "FROM due WHERE o.id = due.id RETURNING o.id, due.status"
)


def _log_lost(rows: list[tuple[int, str]], system: ConnectedSystem, now: dt.datetime) -> None:
    """Claimed rows that were in flight: the worker holding them died mid-delivery, so
    keep that attempt on record."""
    lost = [pk for pk, status in rows if status == OutboxStatus.IN_FLIGHT]
    if lost:
        _log_attempts(
            dict.fromkeys(lost),
            system=system,
            now=now,
            outcome=AttemptOutcome.TRANSIENT,
            error="worker lost: lease expired before the outcome was recorded",
        )


def _claimed(ids: list[int]) -> list[OutboxMessage]:
    if not ids:
        return []
    return list(OutboxMessage.objects.filter(pk__in=ids).select_related("plant").order_by("id"))


def _log_attempts(
    receipts: dict[int, Receipt | None],
    *,
    system: ConnectedSystem,
    now: dt.datetime,
    outcome: str | None = None,
    error: str = "",
    status_code: int | None = None,
    duration_ms: int = 0,
    batch: uuid.UUID | None = None,
) -> None:
    if not receipts:
        return
    counts = dict(
        DeliveryAttempt.objects.filter(message_id__in=list(receipts))
        .values("message_id")
        .annotate(n=Count("id"))
        .values_list("message_id", "n")
    )
    rows = []
    for pk, receipt in receipts.items():
        row_outcome = outcome
        row_error = error
        code = status_code
        if receipt is not None:
            row_outcome = _RECEIPT_OUTCOMES[receipt.status]
            row_error = receipt.error or ""
            code = receipt.status_code
        rows.append((pk, counts.get(pk, 0) + 1, row_outcome, code, (row_error or "")[:4000]))
    if bulksql.inserts_in_one(DeliveryAttempt):
        # One statement of plain values: a batch's attempts are the delivery's hottest write.
        n = len(rows)
        bulksql.pg_insert(
            DeliveryAttempt,
            _ATTEMPT_COLUMNS,
            [
                *(list(column) for column in zip(*rows, strict=True)),
                [system.pk] * n,
                [now.isoformat()] * n,
                [duration_ms] * n,
                [str(batch) if batch else None] * n,
            ],
            "",
        )
        return
    DeliveryAttempt.objects.bulk_create(
        DeliveryAttempt(
            message_id=pk,
            system=system,
            number=number,
            attempted_at=now,
            outcome=row_outcome,
            status_code=code,
            error=row_error,
            duration_ms=duration_ms,
            batch=batch,
        )
        for pk, number, row_outcome, code, row_error in rows
    )


_RECEIPT_OUTCOMES = {
    "applied": AttemptOutcome.DELIVERED,
    "duplicate": AttemptOutcome.DUPLICATE,
    "rejected": AttemptOutcome.REJECTED,
}
_ATTEMPT_COLUMNS = (
    "message_id",
    "number",
    "outcome",
    "status_code",
    "error",
    "system_id",
    "attempted_at",
    "duration_ms",
    "batch",
)


def _throttled_attempts(rows: list[OutboxMessage]) -> dict[int, int]:
    """Attempts of ``rows`` that were throttled (429) or gated by the receiver, which
    ``max_attempts`` does not count. Read only when a request failed, so the delivery fast
    path pays nothing."""
    return dict(
        DeliveryAttempt.objects.filter(
            Q(status_code=429) | Q(error__startswith=f"{GATED}:"),
            message_id__in=[r.pk for r in rows],
        )
        .values("message_id")
        .annotate(n=Count("id"))
        .values_list("message_id", "n")
    )


def dead_letter_due(system: ConnectedSystem, error: ConnectorError, result: RunResult) -> int:
    """Dead-letter every due row of ``system`` with ``error``'s reason, when no connector
    can even be built for it (no base URL, unknown transport). Rows held by another worker
    are skipped; they meet the same error there."""
    now = timezone.now()
    reason = f"{error.code}: {error}"[:4000]
    with transaction.atomic():
        ids = list(
            OutboxMessage.objects.filter(_due(now), system=system)
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)
        )
        if ids:
            _log_attempts(
                dict.fromkeys(ids),
                system=system,
                now=now,
                outcome=AttemptOutcome.PERMANENT,
                error=reason,
            )
            OutboxMessage.objects.filter(pk__in=ids).update(
                status=OutboxStatus.DEAD,
                locked_until=None,
                last_error=reason,
                attempts=F("attempts") + 1,
            )
    result.dead += len(ids)
    return len(ids)


def _wire(row: OutboxMessage) -> OutboundMessage:
    # The plant's own codes on the way out (outbound mapping, ``mapping.to_plant_codes``).
    return to_plant_codes(_canonical_wire(row), plant=row.plant)


def _canonical_wire(row: OutboxMessage) -> OutboundMessage:
    return OutboundMessage(
        id=row.pk,
        type=row.message_type,
        idempotency_key=row.idempotency_key,
        plant=row.plant.code,
        correlation_id=row.correlation_id,
        payload=row.payload,
    )


def _send(
    connector: Connector, system: ConnectedSystem, rows: list[OutboxMessage], lease, result
) -> bool:
    """One request for ``rows`` and its recording. Returns whether the system answered
    (False: a transient failure of the whole request)."""
    started_at = timezone.now()
    started = time.monotonic()
    batch = uuid.uuid4() if len(rows) > 1 else None
    error: ConnectorError | None = None
    receipts: list[Receipt] = []
    try:
        receipts = connector.send([_wire(r) for r in rows])
    except ConnectorError as exc:
        error = exc
    except Exception as exc:  # a connector bug must not lose rows: treat as transient
        logger.exception("connector %s failed", system.code)
        error = ConnectorError(f"connector error: {exc!r}", code="connector_bug")
    duration_ms = int((time.monotonic() - started) * 1000)
    result.requests += 1

    if error is None:
        by_key = {r.idempotency_key: r for r in receipts}
        for row in rows:
            receipt = by_key[row.idempotency_key]
            if receipt.ok:
                acks.run(message=row, receipt=receipt, system=system)
    with transaction.atomic():
        ours = set(
            OutboxMessage.objects.select_for_update()
            .filter(pk__in=[r.pk for r in rows], status=OutboxStatus.IN_FLIGHT, locked_until=lease)
            .values_list("pk", flat=True)
        )
        if len(ours) < len(rows):
            logger.warning(
                "%s: %d rows were claimed again before this request ended (lease too short?)",
                system.code,
                len(rows) - len(ours),
            )
        rows = [r for r in rows if r.pk in ours]
        now = timezone.now()
        changed: list[OutboxMessage] = []
        if error is None:
            by_key = {r.idempotency_key: r for r in receipts}
            _log_attempts(
                {r.pk: by_key[r.idempotency_key] for r in rows},
                system=system,
                now=started_at,
                duration_ms=duration_ms,
                batch=batch,
            )
            for row in rows:
                receipt = by_key[row.idempotency_key]
                row.attempts += 1
                row.locked_until = None
                if receipt.ok:
                    row.status = OutboxStatus.DELIVERED
                    row.delivered_at = now
                    row.reference = (receipt.reference or "")[:200]
                    row.last_error = ""
                    result.delivered += 1
                else:
                    row.status = OutboxStatus.DEAD
                    row.last_error = f"rejected: {receipt.error or 'no reason given'}"[:4000]
                    result.dead += 1
                changed.append(row)
        else:
            if error.configuration:
                logger.error("delivery to %s refused by configuration: %s", system.code, error)
            _log_attempts(
                {r.pk: None for r in rows},
                system=system,
                now=started_at,
                outcome=AttemptOutcome.PERMANENT if error.permanent else AttemptOutcome.TRANSIENT,
                error=f"{error.code}: {error}",
                status_code=error.status_code,
                duration_ms=duration_ms,
                batch=batch,
            )
            throttles = {} if error.permanent else _throttled_attempts(rows)
            budget = conf.get(
                "INTERLOCK_OUTBOX_GATE_BUDGET_SECONDS"
                if error.gated
                else "INTERLOCK_OUTBOX_THROTTLE_BUDGET_SECONDS"
            )
            for row in rows:
                row.attempts += 1
                row.locked_until = None
                row.last_error = f"{error.code}: {error}"[:4000]
                if error.throttled or error.gated:
                    # Paced or held by the receiver: the clock decides, not the attempts.
                    spent = (now - row.created_at).total_seconds() >= budget
                    if spent:
                        which = "GATE" if error.gated else "THROTTLE"
                        row.last_error = (
                            f"{error.code}: still {error.code} {budget:.0f} s after it was "
                            f"written (INTERLOCK_OUTBOX_{which}_BUDGET_SECONDS): {error}"
                        )[:4000]
                    failed_out = spent
                else:
                    failed_out = row.attempts - throttles.get(row.pk, 0) >= system.max_attempts
                if (
                    failed_out
                    or (error.permanent and len(rows) == 1)
                    or error.configuration  # every row of the system would fail alike
                ):
                    row.status = OutboxStatus.DEAD
                    result.dead += 1
                elif error.permanent:
                    # A whole batch refused (one bad message can do that): each is
                    # retried alone at once, and only the bad one is dead-lettered.
                    row.status = OutboxStatus.PENDING
                    row.next_attempt_at = now
                    result.retried += 1
                else:
                    row.status = OutboxStatus.PENDING
                    delay = (
                        error.retry_after  # a gate is rechecked at the receiver's pace
                        if error.gated and error.retry_after is not None
                        else backoff_seconds(row.attempts, error.retry_after)
                    )
                    row.next_attempt_at = now + dt.timedelta(seconds=delay)
                    result.retried += 1
                changed.append(row)
        # One UPDATE … FROM on PostgreSQL: Django's CASE WHEN over seven columns was 65%
        # of a delivery worker's time in the W3 benchmark.
        bulksql.bulk_update(
            changed,
            [
                "status",
                "attempts",
                "locked_until",
                "delivered_at",
                "reference",
                "last_error",
                "next_attempt_at",
            ],
        )
    if error is not None and not error.permanent and not error.gated:
        circuit.record_failure(system, f"{error.code}: {error}")
        return False
    circuit.record_success(system)
    return True


def _lease(system: ConnectedSystem, requests: int) -> float:
    per_request = float(system.timeout_seconds) + 1 / float(system.rate_limit_per_second)
    return requests * per_request + conf.get("INTERLOCK_OUTBOX_LEASE_MARGIN_SECONDS")


def deliver_once(system: ConnectedSystem, connector: Connector, result: RunResult) -> bool:
    """One round: retried rows (alone), then a batch of first attempts. Returns whether
    it should go on (something was sent and the circuit lets it)."""
    permit = circuit.allow(system)
    if not permit.allowed:
        result.circuit_open_until = permit.retry_at
        return False
    batch_size = min(connector.max_batch, conf.get("INTERLOCK_OUTBOX_BATCH_SIZE"))
    sent = False
    for retried in (True, False):
        # One message only while half-open (the probe).
        limit = 1 if permit.probe else (RETRY_CLAIM if retried else batch_size)
        requests = limit if retried else 1
        # Claimed before the rate limiter is asked: a pass with nothing to send spends no
        # token (each round's empty retry pass used to take one, halving the system's
        # rate). The lease covers the wait (``_lease``: 1 / rate per request).
        rows, lease = claim(
            system, limit=limit, retried=retried, lease_seconds=_lease(system, requests)
        )
        if not rows:
            continue
        groups = [[r] for r in rows] if retried else [rows]
        for i, group in enumerate(groups):
            if not ratelimit.acquire(system, max_wait=float(system.timeout_seconds) + 5):
                _release(rows[i:] if retried else group, lease)
                return sent
            sent = True
            answered = _send(connector, system, group, lease, result)
            if not answered:
                # One transient failure is enough to stop this round: the remaining rows
                # wait for their turn (and the breaker decides about the next one).
                if retried:
                    _release([r for g in groups[i + 1 :] for r in g], lease)
                return not permit.probe
            if permit.probe:
                return True
    return sent


def _release(rows: list[OutboxMessage], lease) -> None:
    """Give back claimed rows that were not sent (no attempt spent)."""
    if rows:
        OutboxMessage.objects.filter(
            pk__in=[r.pk for r in rows], status=OutboxStatus.IN_FLIGHT, locked_until=lease
        ).update(status=OutboxStatus.PENDING, locked_until=None)


def next_due(system: ConnectedSystem) -> dt.datetime | None:
    return OutboxMessage.objects.filter(system=system, status=OutboxStatus.PENDING).aggregate(
        t=Min("next_attempt_at")
    )["t"]


def deliver_system(*, system_id: int, budget_seconds: float | None = None) -> RunResult:
    """Deliver what is due for one system until nothing is, the circuit opens, or the
    time budget is spent. Safe to run any number of times at once."""
    result = RunResult()
    system = ConnectedSystem.objects.filter(pk=system_id, active=True).first()
    if system is None:
        result.notes.append("system missing or inactive")
        return result
    try:
        connector = connector_for(system)
    except ConnectorError as exc:
        logger.error("cannot deliver to %s: %s", system.code, exc)
        result.notes.append(str(exc))
        if exc.permanent:
            dead_letter_due(system, exc, result)
        return result
    budget = budget_seconds or conf.get("INTERLOCK_OUTBOX_TASK_BUDGET_SECONDS")
    deadline = time.monotonic() + budget
    try:
        while time.monotonic() < deadline:
            if not deliver_once(system, connector, result):
                break
    finally:
        connector.close()
    result.next_due = next_due(system)
    return result


def due_systems() -> list[int]:
    """Systems with rows due now (pending and due, or in flight past their lease)."""
    now = timezone.now()
    return sorted(
        set(
            OutboxMessage.objects.filter(_due(now), system__isnull=False)
            .values_list("system_id", flat=True)
            .distinct()
        )
    )


def sweep() -> list[int]:
    """Beat: attach rows to their systems (one may have been configured since), and return
    the systems with due rows, for which the task dispatches delivery."""
    outbox_attach_systems()
    return due_systems()
