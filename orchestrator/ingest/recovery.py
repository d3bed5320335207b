"""Crash recovery: decide the messages a dead process stored but never decided.

``ingest_batch`` commits the raw messages before it decides them, so a process that dies
in between (OOM kill, deploy, power) leaves rows in status ``received`` and no events:
nothing lost, nothing half-done. ``reprocess_received`` picks those rows up and decides
them through ``pipeline.decide_stored``, the same code a live request runs.

Two sweepers (or a sweeper and a slow live request) must never decide the same row:

- rows are taken with ``SELECT … FOR UPDATE SKIP LOCKED`` and stay locked until the
  decision commits, so a second sweeper skips them and takes the next ones;
- the lock re-checks ``status = 'received'`` against the committed row, so a row decided
  meanwhile is not taken at all;
- only rows older than ``older_than_seconds`` are taken: a live request still deciding its
  own batch is left alone (keep it above the request timeout);
- and should all of that be bypassed, the idempotency claim still lets one event exist
  per business key.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.utils import timezone

from ..models import InboundMessage, MessageStatus
from . import pipeline

logger = logging.getLogger(__name__)


def reprocess_received(*, older_than_seconds: int = 30, limit: int = 1000) -> int:
    """Decide up to ``limit`` messages left ``received`` for longer than
    ``older_than_seconds``, oldest first. Returns how many were decided. Safe to run
    concurrently and twice."""
    cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    with transaction.atomic():
        messages = list(
            # ``of=self``: lock the messages, not the systems they join.
            InboundMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("system")
            .filter(status=MessageStatus.RECEIVED, received_at__lte=cutoff)
            .order_by("received_at", "id")[:limit]
        )
        if not messages:
            return 0
        orphans = [m for m in messages if not m.system_id]
        if orphans:  # cannot happen through ingest; keep them visible rather than stuck
            InboundMessage.objects.filter(pk__in=[m.pk for m in orphans]).update(
                status=MessageStatus.QUARANTINED,
                reasons=[{"code": "no_system", "path": "", "message": "stored without a system"}],
                processed_at=timezone.now(),
            )
        pipeline.decide_stored(messages=messages)
    logger.info("recovered %d undecided messages", len(messages))
    return len(messages)
