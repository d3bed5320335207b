"""Celery tasks of the rules app: thin, idempotent, calling one service each."""

from __future__ import annotations

from celery import shared_task

from .services import scheduled_publishes_run


@shared_task(acks_late=True, name="rules.run_scheduled_publishes")
def run_scheduled_publishes() -> int:
    """Beat task (every minute): publish versions whose plant release window has opened.

    Add to ``CELERY_BEAT_SCHEDULE`` in the settings package::

        "rules-scheduled-publishes": {"task": "rules.run_scheduled_publishes",
                                      "schedule": 60.0}
    """
    return scheduled_publishes_run()
