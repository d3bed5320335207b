"""Counters are correct across processes: they live in PostgreSQL, not in a process.

Two processes roll up the same new rows at the same moment (two beat runs, or a beat run
and a manual one): each row is counted once. Two other processes (a second gunicorn
worker, a Celery worker) answer a scrape with the same numbers as this one.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Sum
from django.utils import timezone

from orchestrator.observability.metrics import render_metrics
from orchestrator.observability.models import InboundRollup
from tests.factories import ConnectedSystemFactory, PlantFactory
from tests.observability.helpers import insert_messages, run_python

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROLLUP = (
    "from orchestrator.observability.services.rollups import rollups_run\n"
    "print(sum(r.rows for r in rollups_run(max_rows=700)))\n"
)
SCRAPE = (
    "from orchestrator.observability.metrics import render_metrics\n"
    "import sys; sys.stdout.write(render_metrics().decode())\n"
)


def _finish(proc) -> str:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    return out


def _total(text: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


def test_concurrent_rollups_in_two_processes_count_every_row_once():
    plant = PlantFactory(code="P1")
    system = ConnectedSystemFactory(code="MES-P1")
    system.plants.set([plant])
    start = timezone.now() - dt.timedelta(hours=2)
    insert_messages(5000, plant=plant, system=system, start=start, spread=dt.timedelta(hours=1))

    # Both start before either finishes; small slices make them interleave.
    first, second = run_python(ROLLUP), run_python(ROLLUP)
    added = [int(_finish(first).strip()), int(_finish(second).strip())]
    assert sum(added) > 0

    minute = InboundRollup.objects.filter(bucket_seconds=60).aggregate(n=Sum("count"))["n"]
    hour = InboundRollup.objects.filter(bucket_seconds=3600).aggregate(n=Sum("count"))["n"]
    total = InboundRollup.objects.filter(bucket_seconds=0).aggregate(n=Sum("count"))["n"]
    assert minute == hour == total == 5000

    # Every process answers a scrape with the same, exact counters.
    here = render_metrics().decode()
    there = [_finish(p) for p in (run_python(SCRAPE), run_python(SCRAPE))]
    for text in (here, *there):
        assert _total(text, "interlock_events_received_total") == 5000
        assert _total(text, "interlock_validation_failures_total") == 500
    counters = [
        sorted(line for line in text.splitlines() if "_total{" in line) for text in (here, *there)
    ]
    assert counters[0] == counters[1] == counters[2]

    # New rows are added on top, once, by whichever process runs next.
    insert_messages(
        100,
        plant=plant,
        system=system,
        start=start + dt.timedelta(hours=1),
        spread=dt.timedelta(minutes=5),
    )
    _finish(run_python(ROLLUP))
    assert _total(render_metrics().decode(), "interlock_events_received_total") == 5100
