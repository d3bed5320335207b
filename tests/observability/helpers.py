"""Set-wise test data: many inbound messages in one statement, and a subprocess runner
that talks to the test database (another process, like a second gunicorn or Celery
worker)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def insert_messages(
    n: int,
    *,
    plant,
    system,
    start: dt.datetime,
    spread: dt.timedelta,
    event_type: str = "operation.confirmed",
    every_nth_quarantined: int = 10,
    latency: float = 0.02,
) -> None:
    """``n`` decided inbound messages spread evenly over ``[start, start + spread)``:
    every ``every_nth_quarantined``-th quarantined with a reason, the others accepted, each
    decided ``latency`` seconds (and a little jitter) after arrival. One ``INSERT … SELECT generate_series`` (PostgreSQL)."""
    step = spread.total_seconds() / max(n, 1)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO orchestrator_inboundmessage
                (received_at, request_id, position, system_id, plant_id, source, plant_code,
                 event_type, message_id, correlation_id, body, status, reasons, processed_at,
                 handled_reason)
            SELECT %(start)s + make_interval(secs => g * %(step)s), gen_random_uuid(), 0,
                   %(system)s, %(plant)s, %(source)s, %(code)s, %(type)s, '',
                   'corr-' || g, '{}'::jsonb,
                   CASE WHEN g %% %(nth)s = 0 THEN 'quarantined' ELSE 'accepted' END,
                   CASE WHEN g %% %(nth)s = 0
                        THEN '[{"code": "lot_expired", "path": "payload.lot"}]'::jsonb
                        ELSE '[]'::jsonb END,
                   %(start)s + make_interval(secs => g * %(step)s + %(latency)s * (0.5 + (g %% 7) / 6.0)),
                   ''
            FROM generate_series(0, %(n)s - 1) AS g
            """,
            {
                "start": start,
                "step": step,
                "system": system.pk,
                "plant": plant.pk,
                "source": system.code,
                "code": plant.code,
                "type": event_type,
                "nth": every_nth_quarantined,
                "n": n,
                "latency": latency,
            },
        )


def run_python(code: str, *, env: dict | None = None, timeout: int = 120) -> subprocess.Popen:
    """Start ``python -c code`` with Django set up against the test database."""
    db = connection.settings_dict
    environ = {
        **os.environ,
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "interlock.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        **(env or {}),
    }
    prelude = "import django; django.setup()\n"
    return subprocess.Popen(
        [sys.executable, "-c", prelude + code],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def demo_activity(now: dt.datetime) -> None:
    """An afternoon of traffic for the demo plants (a screenshot worth looking at): a daily
    curve of messages with some failures, deliveries with retries, a backlog that builds
    and drains, and a minute-by-minute SLA history with one breach."""
    import random

    from orchestrator.models import OutboxMessage
    from orchestrator.models.outbox import DeliveryAttempt
    from orchestrator.observability.services.rollups import rollups_run
    from orchestrator.observability.services.samples import samples_record
    from orchestrator.observability.services.sla import sla_evaluate
    from plants.models import ConnectedSystem, Plant

    rng = random.Random(7)
    plants = {p.code: p for p in Plant.objects.filter(code__in=["P1", "P2", "P3"])}
    systems = {s.code: s for s in ConnectedSystem.objects.all()}
    for code, volume in (("P1", 120), ("P2", 60), ("P3", 30)):
        for hour in range(24, 0, -1):
            shape = 0.4 + 0.6 * abs(((hour + 6) % 24) - 12) / 12
            insert_messages(
                int(volume * shape * rng.uniform(0.8, 1.2)),
                plant=plants[code],
                system=systems[f"MES-{code}"],
                start=now - dt.timedelta(hours=hour),
                spread=dt.timedelta(hours=1),
                every_nth_quarantined=rng.choice([9, 13, 25, 40]),
                latency=rng.uniform(0.01, 0.12),
            )
    erp = systems["ERP"]
    start = now - dt.timedelta(minutes=60)
    messages = []
    for i in range(60):
        for code in ("P1", "P2"):
            if rng.random() < 0.7:
                messages.append(
                    OutboxMessage.objects.create(
                        plant=plants[code],
                        system=erp,
                        target_system="erp",
                        message_type="goods_receipt.post",
                        idempotency_key=f"demo-{code}-{i}",
                        correlation_id=f"demo-{i}",
                        created_at=start + dt.timedelta(minutes=i),
                    )
                )
        # the ERP falls behind in the middle of the hour, then catches up
        keep = 12 if 20 <= i <= 40 else 2
        for m in messages[:-keep] if len(messages) > keep else []:
            if m.status == "pending":
                at = start + dt.timedelta(minutes=i)
                if rng.random() < 0.3:
                    DeliveryAttempt.objects.create(
                        message=m,
                        system=erp,
                        number=1,
                        attempted_at=at - dt.timedelta(seconds=30),
                        outcome="transient",
                        status_code=503,
                        duration_ms=900,
                    )
                DeliveryAttempt.objects.create(
                    message=m,
                    system=erp,
                    number=2,
                    attempted_at=at,
                    outcome="delivered",
                    status_code=200,
                    duration_ms=rng.randint(40, 300),
                )
                m.status = "delivered"
                OutboxMessage.objects.filter(pk=m.pk).update(status="delivered", delivered_at=at)
        samples_record(now=start + dt.timedelta(minutes=i))
        sla_evaluate(now=start + dt.timedelta(minutes=i))
    rollups_run(now=now + dt.timedelta(minutes=5))
    samples_record(now=now)
    sla_evaluate(now=now)
