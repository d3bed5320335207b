"""Celery tasks of the connectors app: thin, idempotent, calling one service each."""

from __future__ import annotations

import logging

from celery import shared_task

from orchestrator.ingest.recovery import reprocess_received

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, name="connectors.reprocess_received_messages")
def reprocess_received_messages(older_than_seconds: int = 30, limit: int = 1000) -> int:
    """Beat task (every minute): decide inbound messages a crashed process stored but never
    decided. Several workers may run it at once (rows are claimed with SKIP LOCKED).

    Add to ``CELERY_BEAT_SCHEDULE`` in the settings package::

        "connectors-reprocess-received": {"task": "connectors.reprocess_received_messages",
                                          "schedule": 60.0}
    """
    return reprocess_received(older_than_seconds=older_than_seconds, limit=limit)


@shared_task(acks_late=True, name="connectors.deliver_outbox")
def deliver_outbox(system_id: int, wake: str | None = None) -> dict:
    """Deliver the due outbox rows of one connected system, in batches (one task per
    system and wake-up, never one per message). Safe to run twice: rows are claimed with
    SKIP LOCKED under a lease. Schedules one wake-up for the earliest retry it left.

    ``wake``: the flag of a merged wake-up (``outbox_wake_merged``), cleared here before
    anything is claimed, so a commit from now on sends a new wake-up."""
    from connectors.outbound.delivery import deliver_system
    from orchestrator.services.outbox import outbox_wake_started

    outbox_wake_started(system_id, wake)
    result = deliver_system(system_id=system_id)
    wake_at = result.circuit_open_until or result.next_due
    if wake_at is not None:
        _wake_later(system_id, wake_at)
    return result.as_dict()


def _wake_later(system_id: int, when) -> None:
    import datetime as dt

    from django.core.cache import cache
    from django.utils import timezone

    from orchestrator.services.outbox import outbox_wake

    countdown = max(0.0, (when - timezone.now()).total_seconds())
    # Longer waits are the sweeper's (a countdown must stay below the broker's
    # visibility timeout, or Redis would hand the waiting task out twice).
    if countdown > 600:
        return
    # One pending wake-up per system and second is enough: concurrent runs would
    # otherwise each schedule their own.
    slot = int((timezone.now() + dt.timedelta(seconds=countdown)).timestamp())
    try:
        if not cache.add(f"interlock:outbox-wake:{system_id}:{slot}", 1, timeout=countdown + 5):
            return
    except Exception as exc:  # the cache (Redis) is away: wake anyway, duplicates are harmless
        logger.warning("wake-up dedup unavailable: %s", exc)
    outbox_wake([system_id], countdown=countdown)


@shared_task(acks_late=True, name="connectors.sweep_outbox")
def sweep_outbox() -> list[int]:
    """Beat task (every 30 s): dispatch delivery for every system with due rows, which a
    lost broker message or a killed worker left behind. PostgreSQL decides what is due.

    Add to ``CELERY_BEAT_SCHEDULE``::

        "connectors-sweep-outbox": {"task": "connectors.sweep_outbox", "schedule": 30.0}
    """
    from connectors.outbound.delivery import sweep
    from orchestrator.services.outbox import outbox_wake_merged

    systems = sweep()
    # A system whose wake-up is still pending needs no second one; a flag whose task
    # was lost expires within WAKE_FLAG_SECONDS, and the next sweep wakes the system.
    outbox_wake_merged(systems)
    return systems


@shared_task(acks_late=True, name="connectors.scan_file_drop")
def scan_file_drop() -> list[dict]:
    """Beat task (every 30 s, ``connectors-scan-file-drop``): read the files waiting in the
    watched directory (``INTERLOCK_FILE_DROP_DIR``). Safe to run twice: files are claimed
    by an atomic rename."""
    from connectors.inbound.files.watch import scan_file_drop as scan

    return scan()


@shared_task(acks_late=True, name="connectors.poll_tryton")
def poll_tryton() -> list[dict]:
    """Beat task (every ``INTERLOCK_TRYTON_POLL_SECONDS``, ``connectors-poll-tryton``): turn
    productions released in Tryton into ``production_order.released``. Safe to run twice:
    a production read again is a duplicate of its release."""
    from connectors.inbound.tryton import poll_all

    return [r.as_dict() for r in poll_all()]
