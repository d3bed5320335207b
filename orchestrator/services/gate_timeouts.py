"""Gate timeouts: a gate closed too long becomes a person's task.

Each gate kind has two site parameters (a plant may override both):

- ``gate.timeout.<kind>`` — how long (seconds) the gate may stay closed; ``0`` never
  escalates. Kinds without their own parameter use ``gate.timeout.default``.
- ``gate.escalate_to.<kind>`` — the rule role that gets the task (``quality_lead``,
  ``supervisor``...); else ``gate.escalate_to.default``.

:func:`gates_escalate_overdue` (beat, every minute) opens one ``investigate`` task per
closed gate past its timeout (keyed by the gate and the moment it closed, so a gate that
opens and closes again escalates again, and running twice opens nothing new), and leaves
an ``escalate`` audit record on the gate. Tasks of gates that have opened since are
completed with outcome ``resolved``.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from plants.models import Plant, SiteParameter
from plants.selectors import site_parameter

from ..ingest.context import audit_record
from ..models import AuditRecord, Gate, GateState
from ..models.tasks import ACTIVE_STATES, Task, TaskKind
from .tasks import SYSTEM_ACTOR, open_task, task_complete_by_system


def _param(key: str, kind: str, plant: Plant):
    specific = f"{key}.{kind}"
    if SiteParameter.objects.filter(key=specific).exists():
        return site_parameter(key=specific, plant=plant)
    return site_parameter(key=f"{key}.default", plant=plant)


def gate_timeout(*, kind: str, plant: Plant) -> tuple[dt.timedelta | None, str]:
    """``(timeout or None for never, escalation role)`` of gate ``kind`` at ``plant``."""
    seconds = _param("gate.timeout", kind, plant)
    role = _param("gate.escalate_to", kind, plant)
    seconds = int(seconds.total_seconds()) if isinstance(seconds, dt.timedelta) else int(seconds)
    return (dt.timedelta(seconds=seconds) if seconds > 0 else None), str(role)


def _key(gate: Gate) -> str:
    since = gate.state_changed_at or gate.created_at
    return f"gate-timeout:{gate.pk}:{since.isoformat()}"


def gates_escalate_overdue(*, now: dt.datetime | None = None) -> int:
    """Open a task for every closed gate past its plant's timeout for its kind; complete
    the tasks of gates that opened meanwhile. Returns how many tasks were opened."""
    now = now or timezone.now()
    gate_type = ContentType.objects.get_for_model(Gate)
    settings_cache: dict[tuple[str, int], tuple[dt.timedelta | None, str]] = {}
    opened = 0
    closed = (
        Gate.objects.filter(state=GateState.CLOSED)
        .select_related("plant", "order", "lot")
        .order_by("pk")
    )
    for gate in closed.iterator(chunk_size=500):
        lookup = (gate.kind, gate.plant_id)
        if lookup not in settings_cache:
            settings_cache[lookup] = gate_timeout(kind=gate.kind, plant=gate.plant)
        timeout, role = settings_cache[lookup]
        since = gate.state_changed_at or gate.created_at
        if timeout is None or since > now - timeout:
            continue
        key = _key(gate)
        if Task.objects.filter(key=key).exists():
            continue
        with transaction.atomic():
            subject = (
                gate.order.number if gate.order_id else (gate.lot.number if gate.lot_id else "")
            )
            task = open_task(
                plant=gate.plant,
                role=role,
                kind=TaskKind.INVESTIGATE,
                title=f"Gate {gate.kind} for {subject} closed since {since:%Y-%m-%d %H:%M}: "
                f"waits for {gate.waits_for}",
                details={
                    "gate": gate.pk,
                    "gate_kind": gate.kind,
                    "waits_for": gate.waits_for,
                    "closed_since": since.isoformat(),
                    "timeout_seconds": int(timeout.total_seconds()),
                    "reason": gate.reason,
                },
                order=gate.order,
                lot=gate.lot,
                subject=gate,
                rule=gate.rule,
                correlation_id=_gate_correlation(gate, gate_type),
                key=key,
            )
            audit_record(
                gate,
                actor_label=SYSTEM_ACTOR,
                field_name="escalation",
                transition="escalate",
                source=gate.state,
                target=gate.state,
                reason=f"closed longer than {timeout}; task {task.pk} for {role}",
                correlation_id=task.correlation_id,
                occurred_at=now,
            ).save()
        opened += 1
    # Gates that opened (or were overridden) since: their escalation tasks are resolved.
    stale = Task.objects.filter(
        subject_type=gate_type, key__startswith="gate-timeout:", state__in=ACTIVE_STATES
    )
    for task in stale:
        gate = task.subject
        if gate is not None and gate.state != GateState.CLOSED:
            task_complete_by_system(
                task=task, outcome="resolved", comment=f"the gate is {gate.state} now"
            )
    return opened


def _gate_correlation(gate: Gate, gate_type: ContentType) -> str:
    """The correlation id of the gate's last audit record (the flow that closed it)."""
    last = (
        AuditRecord.objects.filter(content_type=gate_type, object_id=str(gate.pk))
        .exclude(correlation_id="")
        .order_by("-pk")
        .values_list("correlation_id", flat=True)
        .first()
    )
    return last or f"gate-{gate.pk}"
