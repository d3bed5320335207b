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
) -> None:
    """``n`` decided inbound messages spread evenly over ``[start, start + spread)``:
    every ``every_nth_quarantined``-th quarantined with a reason, the others accepted, each
    decided 20 ms after arrival. One ``INSERT … SELECT generate_series`` (PostgreSQL)."""
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
                   %(start)s + make_interval(secs => g * %(step)s + 0.02), ''
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
