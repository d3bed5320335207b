"""Celery tasks of the connectors app: thin, idempotent, calling one service each."""

from __future__ import annotations

from celery import shared_task

from orchestrator.ingest.recovery import reprocess_received


@shared_task(acks_late=True, name="connectors.reprocess_received_messages")
def reprocess_received_messages(older_than_seconds: int = 30, limit: int = 1000) -> int:
    """Beat task (every minute): decide inbound messages a crashed process stored but never
    decided. Several workers may run it at once (rows are claimed with SKIP LOCKED).

    Add to ``CELERY_BEAT_SCHEDULE`` in the settings package::

        "connectors-reprocess-received": {"task": "connectors.reprocess_received_messages",
                                          "schedule": 60.0}
    """
    return reprocess_received(older_than_seconds=older_than_seconds, limit=limit)
