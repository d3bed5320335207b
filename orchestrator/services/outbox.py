"""The outbox's write side in the orchestrator: which system a message goes to, waking
delivery after commit, and the operator's replay of a dead-lettered message.

Delivery itself lives in ``connectors.outbound`` (transport details are the connectors'
business). The orchestrator wakes it by task *name* through Celery, so the dependency
stays one-way (connectors → orchestrator) with no import cycle.
"""

from __future__ import annotations

import logging
import time
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
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        return
    for system_id in sorted(set(system_ids)):
        try:
            current_app.send_task(DELIVER_TASK, args=[system_id], countdown=countdown, retry=False)
        except Exception as exc:
            _broker_down_until = time.monotonic() + WAKE_PAUSE_SECONDS
            logger.warning("could not wake delivery for system %s: %s", system_id, exc)
            return


def outbox_wake_resume() -> None:
    """Forget a past broker failure (used when the broker is known to be back)."""
    global _broker_down_until
    _broker_down_until = 0.0


def outbox_wake_on_commit(system_ids: set[int]) -> None:
    """Wake delivery for ``system_ids`` once the current transaction commits (the set is
    read at commit time, so a batch adds to it and still sends one task per system)."""
    transaction.on_commit(lambda: outbox_wake(system_ids))
