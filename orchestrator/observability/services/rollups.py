"""Set-wise rollups: per-minute (and per-hour) counts from the rows that settled since the
last run, one ``INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE`` per source.

Why a watermark on ``id`` with a settle time, not on a timestamp: the primary key is the
one index every source table has (the ingest and delivery tables must not pay for another
index), and a run reads only ``id > last_id`` by that index. Ids are handed out before
commit, so a concurrent transaction may still hold a lower id than a committed one; a run
therefore stops *before* the first row younger than ``INTERLOCK_ROLLUP_SETTLE_SECONDS``
(and before an undecided inbound message younger than ten minutes, which the sweeper will
decide): everything below has committed and reached its outcome. Each id range is added
exactly once: the watermark row is locked for the run and moved in the same transaction
as the insert, so two beat runs (or two workers) serialise instead of double-counting.

Counters are therefore exact and monotonic, and lag the live system by the settle time
plus the beat interval (about two minutes by default).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from orchestrator.ingest.specs import EVENT_TYPES
from orchestrator.models import Event, InboundMessage, OutboxMessage
from orchestrator.models.outbox import DeliveryAttempt

from .. import sql
from ..choices import RollupSource, SampleMetric, SlaFlow
from ..models import (
    HOUR,
    LATENCY_BUCKETS,
    LATENCY_FIELDS,
    MINUTE,
    TOTAL,
    TOTAL_BUCKET,
    DeliveryRollup,
    EventRollup,
    InboundRollup,
    RollupWatermark,
    Sample,
    SlaSample,
)
from ..selectors import SlaTargets, sla_targets

logger = logging.getLogger(__name__)

#: An inbound message still ``received`` this long after arrival is counted as such
#: (undecided) instead of holding the watermark back for ever.
UNDECIDED_GRACE = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class RollupResult:
    source: str
    rows: int
    last_id: int


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _known_type(column: str) -> tuple[str, list]:
    # Label values must stay bounded: whatever a client sends as a type that is not in
    # the canonical taxonomy is counted as "other".
    condition, params = sql.in_list(column, EVENT_TYPES)
    return f"CASE WHEN {condition} THEN {column} ELSE 'other' END", params


def _target_case(column: str, targets: SlaTargets, flow: str) -> tuple[str, list]:
    """Per-plant SLA target in seconds as a SQL ``CASE`` on a plant-id column."""
    default, overrides = targets.for_flow(flow)
    if not overrides:
        return "%s", [default]
    whens = " ".join(["WHEN %s THEN %s"] * len(overrides))
    params: list = []
    for plant_id, seconds in sorted(overrides.items()):
        params += [plant_id, seconds]
    return f"CASE {column} {whens} ELSE %s END", [*params, default]


def _bucket(column: str, total: bool) -> tuple[str, list]:
    """The ``bucket_seconds, bucket`` select list: a minute, or the all-time row."""
    if total:
        return f"{TOTAL}, %s", [TOTAL_BUCKET]
    return f"{MINUTE}, {sql.trunc('minute', column)}", []


def _upsert_columns(key: list[str], values: list[str], *, replace: bool, table: str) -> str:
    if replace:
        sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in values)
    else:
        sets = ", ".join(f"{c} = {table}.{c} + EXCLUDED.{c}" for c in values)
    return f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}"


# --- one source each ----------------------------------------------------------------------
class _Source:
    source: str
    model: type
    ts_column: str
    rollup: type
    key: list[str]
    values: list[str]

    def unsettled_sql(self, now: dt.datetime) -> tuple[str, list]:
        cutoff = now - dt.timedelta(seconds=settings.INTERLOCK_ROLLUP_SETTLE_SECONDS)
        return f"{self.ts_column} >= %s", [cutoff]

    def minute_insert(self, lo: int, hi: int, now: dt.datetime, *, total: bool = False):
        """Add source rows ``(lo, hi]`` to the minute rows, or with ``total`` to the
        all-time rows (``bucket_seconds=0``) the Prometheus counters read."""
        raise NotImplementedError

    def hour_insert(self, start: dt.datetime, end: dt.datetime) -> tuple[str, list]:
        """Re-aggregate the hours ``[start, end)`` from their minute rows (replace)."""
        table = _table(self.rollup)
        dims = [c for c in self.key if c not in ("bucket_seconds", "bucket")]
        sums = ", ".join(f"SUM({c})" for c in self.values)
        return (
            f"INSERT INTO {table} ({', '.join(self.key)}, {', '.join(self.values)}) "  # noqa: S608 - table names and bounds are ours; values are parameters
            f"SELECT {HOUR}, {sql.trunc('hour', 'bucket')}, {', '.join(dims)}, {sums} "
            f"FROM {table} WHERE bucket_seconds = {MINUTE} AND bucket >= %s AND bucket < %s "
            f"GROUP BY {sql.trunc('hour', 'bucket')}, {', '.join(dims)} "
            + _upsert_columns(self.key, self.values, replace=True, table=table),
            [start, end],
        )


class _Inbound(_Source):
    source = RollupSource.INBOUND
    model = InboundMessage
    ts_column = "received_at"
    rollup = InboundRollup
    key = [
        "bucket_seconds",
        "bucket",
        "plant_id",
        "system_id",
        "event_type",
        "outcome",
        "reason",
    ]
    values = ["count", "latency_count", "latency_sum", *LATENCY_FIELDS]

    def unsettled_sql(self, now):
        condition, params = super().unsettled_sql(now)
        return (
            f"({condition} OR (status = 'received' AND received_at >= %s))",
            [*params, now - UNDECIDED_GRACE],
        )

    def minute_insert(self, lo, hi, now, *, total=False):
        bucket, bucket_params = _bucket("received_at", total)
        latency = sql.seconds_between("processed_at", "received_at")
        event_type, type_params = _known_type("event_type")
        reason = sql.first_reason_code("reasons")
        buckets = ", ".join(
            f"SUM(CASE WHEN processed_at IS NOT NULL AND {latency} <= {bound!r} THEN 1 ELSE 0 END)"
            for bound in LATENCY_BUCKETS
        )
        table = _table(self.rollup)
        return (
            f"INSERT INTO {table} ({', '.join(self.key)}, {', '.join(self.values)}) "  # noqa: S608 - table names and bounds are ours; values are parameters
            f"SELECT {bucket}, COALESCE(plant_id, 0), "
            f"COALESCE(system_id, 0), {event_type}, status, "
            f"CASE WHEN status IN ('accepted', 'duplicate') THEN '' ELSE {reason} END, "
            "COUNT(*), SUM(CASE WHEN processed_at IS NOT NULL THEN 1 ELSE 0 END), "
            f"COALESCE(SUM(CASE WHEN processed_at IS NOT NULL THEN {latency} END), 0), {buckets} "
            f"FROM {_table(self.model)} WHERE id > %s AND id <= %s "
            "GROUP BY 2, 3, 4, 5, 6, 7 "
            + _upsert_columns(self.key, self.values, replace=False, table=table),
            [*bucket_params, *type_params, lo, hi],
        )


class _Delivery(_Source):
    source = RollupSource.DELIVERY
    model = DeliveryAttempt
    ts_column = "attempted_at"
    rollup = DeliveryRollup
    key = ["bucket_seconds", "bucket", "plant_id", "system_id", "outcome"]
    values = ["count", "retries", "duration_ms_sum", "sla_met"]

    def minute_insert(self, lo, hi, now, *, total=False):
        bucket, bucket_params = _bucket("a.attempted_at", total)
        target, target_params = _target_case("m.plant_id", sla_targets(), SlaFlow.DELIVERY)
        took = sql.seconds_between("a.attempted_at", "m.created_at")
        table = _table(self.rollup)
        return (
            f"INSERT INTO {table} ({', '.join(self.key)}, {', '.join(self.values)}) "  # noqa: S608 - table names and bounds are ours; values are parameters
            f"SELECT {bucket}, m.plant_id, "
            "COALESCE(a.system_id, 0), a.outcome, COUNT(*), "
            "SUM(CASE WHEN a.number > 1 THEN 1 ELSE 0 END), SUM(a.duration_ms), "
            "SUM(CASE WHEN a.outcome IN ('delivered', 'duplicate') "
            f"AND {took} <= {target} THEN 1 ELSE 0 END) "
            f"FROM {_table(self.model)} a JOIN {_table(OutboxMessage)} m ON m.id = a.message_id "
            "WHERE a.id > %s AND a.id <= %s GROUP BY 2, 3, 4, 5 "
            + _upsert_columns(self.key, self.values, replace=False, table=table),
            [*bucket_params, *target_params, lo, hi],
        )


class _Events(_Source):
    source = RollupSource.EVENTS
    model = Event
    ts_column = "received_at"
    rollup = EventRollup
    key = ["bucket_seconds", "bucket", "plant_id", "event_type", "rule_version", "outcome"]
    values = ["count"]

    def minute_insert(self, lo, hi, now, *, total=False):
        bucket, bucket_params = _bucket("e.received_at", total)
        event_type, type_params = _known_type("e.event_type")
        # One evaluation per rule set the event was pinned to; "default" when the shipped
        # packs decided (DEFAULT_RULE_SET pins nothing) or rules never ran (parked).
        if sql.is_postgres():
            pins = "LEFT JOIN LATERAL jsonb_each_text(e.rule_pins) p(key, value) ON true"
        else:
            pins = "LEFT JOIN json_each(e.rule_pins) p"
        version = "COALESCE(LEFT(p.key || '@' || p.value, 120), 'default')"
        if not sql.is_postgres():
            version = "COALESCE(substr(p.key || '@' || p.value, 1, 120), 'default')"
        table = _table(self.rollup)
        return (
            f"INSERT INTO {table} ({', '.join(self.key)}, {', '.join(self.values)}) "  # noqa: S608 - table names and bounds are ours; values are parameters
            f"SELECT {bucket}, e.plant_id, "
            f"{event_type}, {version}, e.status, COUNT(*) "
            f"FROM {_table(self.model)} e {pins} WHERE e.id > %s AND e.id <= %s "
            "GROUP BY 2, 3, 4, 5, 6 "
            + _upsert_columns(self.key, self.values, replace=False, table=table),
            [*bucket_params, *type_params, lo, hi],
        )


SOURCES: dict[str, _Source] = {s.source: s for s in (_Inbound(), _Delivery(), _Events())}


# --- the run ------------------------------------------------------------------------------
def _advance_once(source: _Source, *, now: dt.datetime, max_rows: int) -> RollupResult:
    RollupWatermark.objects.get_or_create(source=source.source)
    table = _table(source.model)
    with transaction.atomic(), connection.cursor() as cursor:
        watermark = RollupWatermark.objects.select_for_update().get(source=source.source)
        lo = watermark.last_id
        unsettled, params = source.unsettled_sql(now)
        cursor.execute(
            f"SELECT id FROM {table} WHERE id > %s AND {unsettled} ORDER BY id LIMIT 1",  # noqa: S608 - table names and bounds are ours; values are parameters
            [lo, *params],
        )
        first_unsettled = cursor.fetchone()
        if first_unsettled is not None:
            hi = first_unsettled[0] - 1
        else:
            cursor.execute(f"SELECT MAX(id) FROM {table} WHERE id > %s", [lo])  # noqa: S608 - table names and bounds are ours; values are parameters
            hi = cursor.fetchone()[0] or lo
        hi = min(hi, lo + max_rows)
        watermark.last_run_at = now
        if hi <= lo:
            watermark.save(update_fields=["last_run_at"])
            return RollupResult(source.source, 0, lo)
        statement, params = source.minute_insert(lo, hi, now)
        cursor.execute(statement, params)
        rows = cursor.rowcount
        statement, params = source.minute_insert(lo, hi, now, total=True)
        cursor.execute(statement, params)
        cursor.execute(
            f"SELECT MIN({source.ts_column}), MAX({source.ts_column}) FROM {table} "  # noqa: S608 - table names and bounds are ours; values are parameters
            "WHERE id > %s AND id <= %s",
            [lo, hi],
        )
        first, last = cursor.fetchone()
        if first is not None:
            if isinstance(first, str):  # SQLite hands back text for raw aggregates
                first, last = (dt.datetime.fromisoformat(v) for v in (first, last))
                first, last = (
                    v.replace(tzinfo=dt.UTC) if v.tzinfo is None else v for v in (first, last)
                )
            start = first.replace(minute=0, second=0, microsecond=0)
            end = last.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
            statement, params = source.hour_insert(start, end)
            cursor.execute(statement, params)
        watermark.last_id = hi
        watermark.save(update_fields=["last_id", "last_run_at"])
    return RollupResult(source.source, rows, hi)


def rollups_run(*, now: dt.datetime | None = None, max_rows: int = 200_000) -> list[RollupResult]:
    """Add every settled source row past each watermark to the rollups (all sources).

    Safe to run twice or concurrently (see the module docstring); works through a backlog
    in slices of ``max_rows`` ids so that one transaction never grows without bound.
    """
    now = now or timezone.now()
    results = []
    for source in SOURCES.values():
        total, last = 0, None
        for _ in range(1000):
            result = _advance_once(source, now=now, max_rows=max_rows)
            total += result.rows
            if result.last_id == last:
                break
            last = result.last_id
        results.append(RollupResult(source.source, total, last))
    if any(r.rows for r in results):
        logger.info(
            "rollups: %s", ", ".join(f"{r.source} +{r.rows} (≤ {r.last_id})" for r in results)
        )
    return results


def rollups_prune(*, now: dt.datetime | None = None) -> int:
    """Delete per-minute rows and samples older than ``INTERLOCK_OBSERVABILITY_MINUTE_DAYS``
    and SLA samples older than ``INTERLOCK_OBSERVABILITY_SLA_DAYS``. Hour and all-time rows
    stay (a year of hours is small). Each delete is a range on the leading columns of the
    table's unique index, so a run that finds nothing costs next to nothing."""
    now = now or timezone.now()
    minute_cutoff = now - dt.timedelta(days=settings.INTERLOCK_OBSERVABILITY_MINUTE_DAYS)
    sla_cutoff = now - dt.timedelta(days=settings.INTERLOCK_OBSERVABILITY_SLA_DAYS)
    # No foreign key points at these rows and no signal listens: each .delete() is one
    # DELETE statement (Django's fast delete), not a fetch of the rows.
    deleted = 0
    for model in (InboundRollup, DeliveryRollup, EventRollup):
        deleted += model.objects.filter(bucket_seconds=MINUTE, bucket__lt=minute_cutoff).delete()[0]
    deleted += Sample.objects.filter(
        metric__in=SampleMetric.values, bucket__lt=minute_cutoff
    ).delete()[0]
    deleted += SlaSample.objects.filter(flow__in=SlaFlow.values, bucket__lt=sla_cutoff).delete()[0]
    return deleted
