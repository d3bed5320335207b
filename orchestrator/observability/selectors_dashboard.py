"""The dashboard's numbers: series over a range, read from rollups and samples only.

A fixed number of queries per page, whatever the volume: each chart is one ``GROUP BY
bucket`` over at most a few hundred thousand rollup rows (a week at hour resolution, a day
at minute resolution), never the event log; the current figures come from the latest
minute's samples. ``tests/observability/test_dashboard.py`` holds the query count to the
same number with 100 and 100,000 events.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from .choices import BreachState, SampleMetric
from .models import (
    HOUR,
    LATENCY_BUCKETS,
    LATENCY_FIELDS,
    MINUTE,
    DeliveryRollup,
    InboundRollup,
    Sample,
    SlaBreach,
    SlaSample,
)

FAILED_OUTCOMES = ("quarantined", "rejected", "conflict")


@dataclass(frozen=True)
class Range:
    key: str
    label: str
    span: dt.timedelta
    step: dt.timedelta
    resolution: int  # rollup bucket_seconds read


RANGES = {
    "1h": Range("1h", "1 hour", dt.timedelta(hours=1), dt.timedelta(minutes=1), MINUTE),
    "24h": Range("24h", "24 hours", dt.timedelta(hours=24), dt.timedelta(minutes=15), MINUTE),
    "7d": Range("7d", "7 days", dt.timedelta(days=7), dt.timedelta(hours=1), HOUR),
}


@dataclass
class Window:
    """The buckets of a range ending now: ``times[i]`` starts bucket ``i``."""

    range: Range
    start: dt.datetime
    end: dt.datetime
    times: list[dt.datetime]

    @classmethod
    def ending(cls, rng: Range, now: dt.datetime | None = None) -> Window:
        now = now or timezone.now()
        step = int(rng.step.total_seconds())
        epoch = int(now.timestamp())
        end = dt.datetime.fromtimestamp(epoch - epoch % step, tz=dt.UTC) + rng.step
        count = int(rng.span / rng.step)
        start = end - rng.step * count
        return cls(rng, start, end, [start + rng.step * i for i in range(count)])

    def index(self, bucket: dt.datetime) -> int | None:
        i = int((bucket - self.start) / self.range.step)
        return i if 0 <= i < len(self.times) else None

    def zeros(self) -> list[float]:
        return [0.0] * len(self.times)


def _plants(qs, plant_ids: set[int] | None):
    return qs if plant_ids is None else qs.filter(plant_id__in=plant_ids)


def _rollup_range(model, window: Window, plant_ids):
    qs = model.objects.filter(
        bucket_seconds=window.range.resolution, bucket__gte=window.start, bucket__lt=window.end
    )
    return _plants(qs, plant_ids)


def throughput(window: Window, plant_ids) -> dict[str, list[float]]:
    """Messages received per bucket by outcome (one query)."""
    series: dict[str, list[float]] = defaultdict(window.zeros)
    rows = (
        _rollup_range(InboundRollup, window, plant_ids)
        .values("bucket", "outcome")
        .annotate(n=Sum("count"))
        .order_by()
    )
    for r in rows:
        i = window.index(r["bucket"])
        if i is not None:
            series[r["outcome"]][i] += r["n"]
    return dict(series)


def _quantile(cumulative: list[float], total: float, q: float) -> float | None:
    if not total:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in zip(LATENCY_BUCKETS, cumulative, strict=True):
        if count >= rank:
            span = count - lower_count
            fraction = (rank - lower_count) / span if span else 1.0
            return lower_bound + (bound - lower_bound) * fraction
        lower_bound, lower_count = bound, count
    return LATENCY_BUCKETS[-1]


def latency(
    window: Window, plant_ids
) -> tuple[list[float | None], list[float | None], float | None]:
    """p50 and p95 ingest latency per bucket (interpolated within the histogram's
    buckets, like Prometheus' ``histogram_quantile``) and the p95 of the whole range."""
    rows = (
        _rollup_range(InboundRollup, window, plant_ids)
        .values("bucket")
        .annotate(total=Sum("latency_count"), **{f: Sum(f) for f in LATENCY_FIELDS})
        .order_by()
    )
    merged: dict[int, list[float]] = {}
    whole = [0.0] * (len(LATENCY_FIELDS) + 1)
    for r in rows:
        i = window.index(r["bucket"])
        if i is None:
            continue
        acc = merged.setdefault(i, [0.0] * (len(LATENCY_FIELDS) + 1))
        for j, f in enumerate(LATENCY_FIELDS):
            acc[j] += r[f]
            whole[j] += r[f]
        acc[-1] += r["total"]
        whole[-1] += r["total"]
    # A bucket without messages has no latency: a gap, not a zero.
    p50: list[float | None] = [None] * len(window.times)
    p95: list[float | None] = [None] * len(window.times)
    for i, acc in merged.items():
        p50[i] = _quantile(acc[:-1], acc[-1], 0.5)
        p95[i] = _quantile(acc[:-1], acc[-1], 0.95)
    return p50, p95, _quantile(whole[:-1], whole[-1], 0.95)


def failure_reasons(window: Window, plant_ids, limit: int = 8) -> list[dict]:
    """The most frequent reasons of failed validations in the range (one query)."""
    return list(
        _rollup_range(InboundRollup, window, plant_ids)
        .filter(outcome__in=FAILED_OUTCOMES)
        .values("plant_id", "event_type", "reason")
        .annotate(n=Sum("count"))
        .order_by("-n", "reason")[:limit]
    )


def deliveries(window: Window, plant_ids) -> tuple[dict[str, list[float]], list[float], dict]:
    """Delivery attempts per bucket by outcome, retries per bucket, and totals (one query)."""
    series: dict[str, list[float]] = defaultdict(window.zeros)
    retries = window.zeros()
    totals = {"attempts": 0, "delivered": 0, "sla_met": 0, "retries": 0}
    rows = (
        _rollup_range(DeliveryRollup, window, plant_ids)
        .values("bucket", "outcome")
        .annotate(n=Sum("count"), r=Sum("retries"), met=Sum("sla_met"))
        .order_by()
    )
    for r in rows:
        i = window.index(r["bucket"])
        if i is None:
            continue
        series[r["outcome"]][i] += r["n"]
        retries[i] += r["r"]
        totals["attempts"] += r["n"]
        totals["retries"] += r["r"]
        totals["sla_met"] += r["met"]
        if r["outcome"] in ("delivered", "duplicate"):
            totals["delivered"] += r["n"]
    return dict(series), retries, totals


def backlog_history(window: Window, plant_ids) -> tuple[list[float], list[float]]:
    """Outbox backlog (sum) and oldest pending age (max) per bucket, from the samples;
    a bucket longer than a minute shows its worst minute (one query)."""
    rows = (
        _plants(
            Sample.objects.filter(
                metric__in=[SampleMetric.OUTBOX_BACKLOG, SampleMetric.OUTBOX_OLDEST_AGE],
                bucket__gte=window.start,
                bucket__lt=window.end,
            ),
            plant_ids,
        )
        .values("bucket", "metric")
        .annotate(total=Sum("value"), worst=Max("value"))
        .order_by()
    )
    backlog, oldest = window.zeros(), window.zeros()
    for r in rows:
        i = window.index(r["bucket"])
        if i is None:
            continue
        if r["metric"] == SampleMetric.OUTBOX_BACKLOG:
            backlog[i] = max(backlog[i], r["total"])
        else:
            oldest[i] = max(oldest[i], r["worst"])
    return backlog, oldest


def latest_samples(plant_ids) -> tuple[dt.datetime | None, list[dict]]:
    """The most recent minute's samples, every metric (one query with a subquery)."""
    latest = Sample.objects.order_by("-bucket").values("bucket")[:1]
    rows = list(
        _plants(Sample.objects.filter(bucket=latest), plant_ids).values(
            "bucket", "metric", "plant_id", "system_id", "dim", "value"
        )
    )
    return (rows[0]["bucket"] if rows else None), rows


def sla_compliance(window: Window, plant_ids) -> dict[tuple[int, str], dict]:
    """Per plant and flow: sampled minutes, minutes with nothing over target, and the
    share of compliant minutes (one query)."""
    rows = (
        _plants(
            SlaSample.objects.filter(bucket__gte=window.start, bucket__lt=window.end), plant_ids
        )
        .values("plant_id", "flow")
        .annotate(
            minutes=Count("id"),
            ok=Count("id", filter=Q(over_target=0)),
            worst=Max("oldest_age_seconds"),
            target=Max("target_seconds"),
        )
        .order_by()
    )
    return {
        (r["plant_id"], r["flow"]): {
            **r,
            "pct": 100.0 * r["ok"] / r["minutes"] if r["minutes"] else None,
        }
        for r in rows
    }


def open_breaches(plant_ids) -> list[SlaBreach]:
    qs = SlaBreach.objects.filter(state=BreachState.OPEN).select_related("plant")
    return list(_plants(qs, plant_ids).order_by("started_at"))
