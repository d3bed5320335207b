"""Sequencing: events that arrive before their prerequisite wait, then go on by themselves.

A handler that finds a prerequisite missing (a confirmation before the order's
acknowledgment, a completion before its operations are confirmed) parks the event with a
key naming what it waits for (``order-acknowledged:P1:WO-1001``, see ``ingest.world``).
A handler that makes such a key true calls :func:`fulfil`; after each event the registry
calls :func:`drain`, which finds the events waiting for each fulfilled key, in this batch
and in the database (locked), and applies them in ``occurred_at`` order, in the same
transaction as the prerequisite. An applied event may fulfil further keys, which are
drained in turn.

State never goes backwards: handlers compare the reported step with the object's state
and apply a late, older report as a no-op (recorded as applied, nothing changed).

A parked event whose prerequisite does not arrive within the plant's
``sequencing.park_timeout`` is escalated by :func:`escalate_parked` (the Celery task
``orchestrator.tasks.escalate_parked_events``), with an audit record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from plants.models import Plant, SiteParameter, SiteParameterOverride

from ..models import AuditRecord, Event, EventStatus
from .context import BatchContext, audit_record
from .normalize import Reason

#: Escalate after this long when the site parameter is missing (seconds).
DEFAULT_PARK_TIMEOUT = dt.timedelta(seconds=300)
PARK_TIMEOUT_PARAMETER = "sequencing.park_timeout"
ESCALATION_ACTOR = "system:interlock"


def fulfil(ctx: BatchContext, key: str) -> None:
    """``key`` became true in this batch: events waiting for it may go on."""
    ctx.fulfilled.append(key)


def waiting_for(ctx: BatchContext, key: str) -> list[Event]:
    """Events parked for ``key``: those parked earlier in this batch and those in the
    database (locked, so two batches never apply the same parked event), oldest first."""
    in_batch = {
        pk: e
        for pk, e in ctx.touched.items()
        if e.status == EventStatus.PARKED and e.waiting_for == key
    }
    stored = list(
        Event.objects.select_for_update(of=("self",))
        .select_related("plant", "system")
        .filter(status=EventStatus.PARKED, waiting_for=key)
        .exclude(pk__in=list(ctx.touched))
        .order_by("occurred_at", "pk")
    )
    events = list(in_batch.values()) + stored
    return sorted(events, key=lambda e: (e.occurred_at, e.pk))


def drain(ctx: BatchContext, apply_one: Callable[[BatchContext, Event], None]) -> None:
    """Apply every event waiting for a fulfilled key (breadth first, oldest first)."""
    while ctx.fulfilled:
        key = ctx.fulfilled.pop(0)
        for event in waiting_for(ctx, key):
            if event.status == EventStatus.PARKED and event.waiting_for == key:
                event.status = EventStatus.ACCEPTED
                apply_one(ctx, event)


# --- escalation -------------------------------------------------------------------------
def park_timeouts() -> dict[int, dt.timedelta]:
    """``sequencing.park_timeout`` per plant id (its override, else the default)."""
    parameter = SiteParameter.objects.filter(key=PARK_TIMEOUT_PARAMETER).first()
    default = parameter.parse(parameter.default_value) if parameter else DEFAULT_PARK_TIMEOUT
    timeouts = dict.fromkeys(Plant.objects.values_list("pk", flat=True), default)
    if parameter is not None:
        for plant_id, value in SiteParameterOverride.objects.filter(
            parameter=parameter
        ).values_list("plant_id", "value"):
            timeouts[plant_id] = parameter.parse(value)
    return timeouts


def escalate_parked(*, now: dt.datetime | None = None) -> int:
    """Escalate every event parked longer than its plant's timeout; returns how many.

    Safe to run twice and concurrently with ingest: rows are locked with ``SKIP LOCKED``
    (an event a batch is applying right now is left for the next run) and only rows
    still ``parked`` are changed.
    """
    now = now or timezone.now()
    escalated = 0
    for plant_id, timeout in park_timeouts().items():
        with transaction.atomic():
            due = list(
                Event.objects.select_for_update(skip_locked=True)
                .filter(plant_id=plant_id, status=EventStatus.PARKED, parked_at__lte=now - timeout)
                .order_by("pk")
            )
            if not due:
                continue
            records = []
            for event in due:
                waited = event.waiting_for
                event.status = EventStatus.ESCALATED
                event.reasons = [
                    *event.reasons,
                    Reason(
                        code="escalated",
                        path="",
                        message=f"still waiting for {waited} after {int(timeout.total_seconds())}s",
                        expected=waited,
                    ).as_dict(),
                ]
                records.append(
                    audit_record(
                        event,
                        occurred_at=now,
                        actor_label=ESCALATION_ACTOR,
                        plant_id=plant_id,
                        field_name="status",
                        transition="escalate",
                        source=EventStatus.PARKED,
                        target=EventStatus.ESCALATED,
                        reason=f"waited for {waited} longer than {timeout}",
                        correlation_id=event.correlation_id,
                    )
                )
            Event.objects.bulk_update(due, ["status", "reasons"])
            AuditRecord.objects.bulk_create(records)
            escalated += len(due)
    return escalated
