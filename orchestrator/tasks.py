"""Celery tasks of the orchestrator: thin, idempotent, calling one service each."""

from __future__ import annotations

from celery import shared_task

from .ingest.sequencing import escalate_parked


@shared_task(acks_late=True, name="orchestrator.escalate_parked_events")
def escalate_parked_events() -> int:
    """Beat task (every minute): escalate events parked longer than their plant's
    ``sequencing.park_timeout`` (parked → escalated, audited). Safe to run twice.

    Add to ``CELERY_BEAT_SCHEDULE`` in the settings package::

        "orchestrator-escalate-parked": {"task": "orchestrator.escalate_parked_events",
                                         "schedule": 60.0}
    """
    return escalate_parked()
