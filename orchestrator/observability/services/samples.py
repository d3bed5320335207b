"""Once-a-minute samples of current-state figures, so the dashboards can chart their
history (backlog, oldest age, dead letters, open exceptions) from a small table."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.utils import timezone

from ..choices import SampleMetric
from ..models import Sample
from ..selectors import dead_letters, open_exceptions, outbox_backlog


def samples_record(*, now: dt.datetime | None = None) -> int:
    """Write this minute's samples (replacing a sample already taken this minute)."""
    now = now or timezone.now()
    bucket = now.replace(second=0, microsecond=0)
    values: dict[tuple[str, int, int, str], float] = defaultdict(float)
    oldest: dict[tuple[int, int], float] = {}
    for row in outbox_backlog():
        key = (row["plant_id"], row["system_id"] or 0)
        values[(SampleMetric.OUTBOX_BACKLOG, *key, "")] += row["count"]
        age = max(0.0, (now - row["oldest"]).total_seconds())
        oldest[key] = max(oldest.get(key, 0.0), age)
    for key, age in oldest.items():
        values[(SampleMetric.OUTBOX_OLDEST_AGE, *key, "")] = age
    for row in dead_letters():
        values[(SampleMetric.DEAD_LETTERS, row["plant_id"], row["system_id"] or 0, "")] += row[
            "count"
        ]
    for row in open_exceptions():
        key = (
            SampleMetric.OPEN_EXCEPTIONS,
            row["plant_id"],
            row["system_id"],
            row["event_type"][:100],
        )
        values[key] += row["count"]
    Sample.objects.bulk_create(
        [
            Sample(bucket=bucket, metric=m, plant_id=p, system_id=s, dim=d, value=v)
            for (m, p, s, d), v in values.items()
        ],
        update_conflicts=True,
        unique_fields=["metric", "bucket", "plant_id", "system_id", "dim"],
        update_fields=["value"],
    )
    return len(values)
