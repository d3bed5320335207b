"""The outbox's write side in the orchestrator: which system a message goes to, waking
delivery after commit, and the operator's replay of a dead-lettered message.

Delivery itself lives in ``connectors.outbound`` (transport details are the connectors'
business). The orchestrator wakes it by task *name* through Celery, so the dependency
stays one-way (connectors → orchestrator) with no import cycle.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable

from celery import current_app
from django.db import transaction

from plants.models import ConnectedSystem

from ..models.outbox import OutboxMessage, OutboxStatus

logger = logging.getLogger(__name__)

DELIVER_TASK = "connectors.deliver_outbox"
PERM_REPLAY = "orchestrator.replay_outboxmessage"


def outbox_system_for(*, plant_id: int, kind: str) -> int | None:
    """The active connected system of ``kind`` serving the plant (lowest id when several
    are configured, so the choice is stable); ``None`` when there is none yet."""
    return (
        ConnectedSystem.objects.filter(kind=kind, plants=plant_id, active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )


def outbox_systems_of(*, plant_id: int) -> dict[str, int]:
    """``{kind: system id}`` of every kind :func:`outbox_system_for` answers for the plant
    (one query; the ingest caches it per process, ``ingest.caches.outbox_systems``)."""
    systems: dict[str, int] = {}
    for kind, pk in (
        ConnectedSystem.objects.filter(plants=plant_id, active=True)
        .order_by("pk")
        .values_list("kind", "pk")
    ):
        systems.setdefault(kind, pk)
    return systems


def outbox_attach_systems() -> int:
    """Give pending rows without a system the one that now serves their plant and kind."""
    pairs = set(
        OutboxMessage.objects.filter(system__isnull=True, status=OutboxStatus.PENDING)
        .values_list("plant_id", "target_system")
        .distinct()
    )
    attached = 0
    for plant_id, kind in pairs:
        system_id = outbox_system_for(plant_id=plant_id, kind=kind)
        if system_id is not None:
            attached += OutboxMessage.objects.filter(
                system__isnull=True,
                status=OutboxStatus.PENDING,
                plant_id=plant_id,
                target_system=kind,
            ).update(system_id=system_id)
    return attached


#: After a failed wake-up, don't try the broker again for this many seconds: the rows are
#: safe in PostgreSQL and the beat sweeper re-dispatches them, so during an outage only one
#: request every few seconds pays for the broker's connection attempts.
WAKE_PAUSE_SECONDS = 10.0
_broker_down_until = 0.0


def outbox_wake(system_ids: Iterable[int], *, countdown: float | None = None) -> None:
    """Ask a worker to deliver for these systems. Best effort: when the broker is away the
    rows stay pending in PostgreSQL and the beat sweeper dispatches them later, so a
    broker outage never fails the request that wrote them (and slows at most one request
    per ``WAKE_PAUSE_SECONDS``)."""
    if time.monotonic() < _broker_down_until:
        return
    for system_id in sorted(set(system_ids)):
        if not _send_wake(system_id, countdown=countdown):
            return


def _send_wake(system_id: int, *, countdown: float | None = None, wake: str | None = None) -> bool:
    """Send one delivery task; False (and wake-ups paused) when the broker is away."""
    global _broker_down_until
    kwargs = {"wake": wake} if wake else None
    try:
        current_app.send_task(
            DELIVER_TASK, args=[system_id], kwargs=kwargs, countdown=countdown, retry=False
        )
    except Exception as exc:
        _broker_down_until = time.monotonic() + WAKE_PAUSE_SECONDS
        logger.warning("could not wake delivery for system %s: %s", system_id, exc)
        return False
    return True


def outbox_wake_resume() -> None:
    """Forget a past broker or flag-store failure (used when they are known to be back)."""
    global _broker_down_until, _flags_down_until
    _broker_down_until = _flags_down_until = 0.0


#: At most one pending wake-up per system: the first commit that needs delivery sets a
#: flag and sends the task; later commits see the flag and add nothing (their rows are
#: committed before the flag was read, so the pending task's claim will see them); the task
#: clears its flag as it starts, before it claims. The flag expires after this many seconds,
#: so a lost task or a long broker queue costs at most one extra wake-up per period.
WAKE_FLAG_SECONDS = 30
WAKE_CACHE = "outbox_wake"
_flags_down_until = 0.0


def _wake_cache():
    from django.core.cache import caches

    return caches[WAKE_CACHE]


def _wake_key(system_id: int) -> str:
    # Scoped by database: several databases (test workers, two demos) may share one store.
    from django.db import connection

    return f"outbox-wake:{connection.settings_dict['NAME']}:{system_id}"


def outbox_wake_merged(system_ids: Iterable[int]) -> list[int]:
    """Wake delivery for each system that has no wake-up pending yet (see
    ``WAKE_FLAG_SECONDS``); returns the systems a task was sent for. When the flag store is
    away, it wakes anyway (a duplicate wake-up is harmless, a missing one is not)."""
    if time.monotonic() < _broker_down_until:
        return []
    global _flags_down_until
    sent = []
    for system_id in sorted(set(system_ids)):
        key, token = _wake_key(system_id), uuid.uuid4().hex
        if time.monotonic() < _flags_down_until:
            token = None  # the store failed a moment ago: don't wait for it again yet
        else:
            try:
                if not _wake_cache().add(key, token, timeout=WAKE_FLAG_SECONDS):
                    continue  # pending: that task will see this commit's rows
            except Exception as exc:
                _flags_down_until = time.monotonic() + WAKE_PAUSE_SECONDS
                logger.warning("wake-up merging unavailable, waking anyway: %s", exc)
                token = None
        if _send_wake(system_id, wake=token):
            sent.append(system_id)
        else:
            _wake_clear(key, token)
            break
    return sent


def outbox_wake_started(system_id: int, wake: str | None) -> None:
    """The delivery task woken with ``wake`` starts: clear its flag (before it claims), so
    the next commit sends a new wake-up. A flag another wake-up set since stays."""
    if wake:
        _wake_clear(_wake_key(system_id), wake)


def _wake_clear(key: str, token: str | None) -> None:
    if token is None:
        return
    try:
        cache = _wake_cache()
        if cache.get(key) == token:
            cache.delete(key)
    except Exception as exc:
        logger.warning("wake-up flag not cleared: %s", exc)


def outbox_wake_on_commit(system_ids: set[int]) -> None:
    """Wake delivery for ``system_ids`` once the current transaction commits (the set is
    read at commit time, so a batch adds to it), merged with a wake-up already pending for
    the system: at most one waits in the broker per system, however many events commit."""
    transaction.on_commit(lambda: outbox_wake_merged(system_ids))
