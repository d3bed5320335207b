"""``manage.py outbox_watch``: the operator's view of whether delivery keeps up (the
before/after figures of issue 12 were taken with it)."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from orchestrator.models.outbox import OutboxMessage, OutboxStatus

from .conftest import make_rows

pytestmark = pytest.mark.django_db


def test_a_line_gives_counts_lag_oldest_waiting_and_the_queue(erp, plant, monkeypatch):
    from connectors.management.commands import outbox_watch

    monkeypatch.setattr(outbox_watch, "broker_queue_depth", lambda queue=None: 42)
    make_rows(erp, plant, 3, prefix="W")
    now = timezone.now()
    delivered = make_rows(erp, plant, 2, prefix="D")
    OutboxMessage.objects.filter(pk__in=[r.pk for r in delivered]).update(
        status=OutboxStatus.DELIVERED,
        created_at=now - dt.timedelta(seconds=12),
        delivered_at=now + dt.timedelta(seconds=1),
    )
    OutboxMessage.objects.filter(idempotency_key="W-0000").update(
        created_at=now - dt.timedelta(seconds=90)
    )
    # The first line counts deliveries since the command started: pretend it started earlier.
    row, _ = outbox_watch.sample(now - dt.timedelta(seconds=5))
    assert row.counts[OutboxStatus.PENDING] == 3
    assert row.counts[OutboxStatus.DELIVERED] == 2
    assert row.delivered_since == 2
    assert 12.5 < row.lag_p50 < 14
    assert 89 < row.oldest_waiting < 120
    assert row.queue == 42
    line = row.line()
    assert line.split()[1:5] == ["3", "0", "2", "0"]
    assert line.split()[-1] == "42"


def test_the_command_prints_a_header_and_stops_after_for(erp, plant):
    out = StringIO()
    call_command("outbox_watch", every=0.2, duration=0.1, stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:3] == ["time", "pending", "in_flight"]
    assert len(lines) == 2


def test_the_queue_depth_is_read_from_the_broker(tmp_path):
    from celery import Celery

    from connectors.management.commands.outbox_watch import broker_queue_depth

    folder = tmp_path / "queue"
    folder.mkdir()
    app = Celery("watch-test", broker="filesystem://")
    app.conf.broker_transport_options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(tmp_path / "control"),  # not ./control
    }
    assert broker_queue_depth("interlock", app=app) == 0
    for i in range(3):
        app.send_task("connectors.deliver_outbox", args=[i], queue="interlock")
    assert broker_queue_depth("interlock", app=app) == 3
    assert broker_queue_depth("other", app=app) == 0
    unreachable = Celery("watch-test-down", broker="redis://127.0.0.1:1/0")
    unreachable.conf.broker_connection_timeout = 0.5
    assert broker_queue_depth("interlock", app=unreachable) is None
