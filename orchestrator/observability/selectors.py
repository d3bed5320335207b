"""Read side of observability: SLA targets, current state (for gauges, samples and the
SLA evaluator) and the dashboard's series (from rollups and samples only).

Current-state queries read only *open* work (pending outbox rows, open exceptions, closed
gates, pending approvals) through the indexes those lists already have; nothing here
scans the event log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.apps import apps
from django.db.models import CharField, Count, Exists, Min, OuterRef, QuerySet, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce

from orchestrator.choices import OrderState
from orchestrator.models import (
    ApprovalRequest,
    ApprovalState,
    Event,
    EventStatus,
    Gate,
    GateState,
    InboundMessage,
    OutboxMessage,
    OutboxStatus,
    ProductionOrder,
)
from plants.models import ConnectedSystem, Plant, SiteParameter, SiteParameterOverride

from .choices import SlaFlow

#: Exceptions a person must look at (the workbench's "needs attention").
MESSAGE_OPEN = ("quarantined", "rejected", "conflict")
MESSAGE_RESOLVED = ("accepted", "duplicate")
EVENT_OPEN = (EventStatus.QUARANTINED, EventStatus.ESCALATED)

SLA_PARAMETER = "sla.{flow}.target"
#: Targets (seconds) used when a flow's site parameter row is missing altogether (the
#: migration creates them with these values): a deleted row must not switch alerting off.
SLA_DEFAULTS: dict[str, int] = {
    SlaFlow.DELIVERY: 300,
    SlaFlow.ACKNOWLEDGMENT: 900,
    SlaFlow.EXCEPTION_TRIAGE: 3600,
    SlaFlow.RECONCILIATION: 86400,
}


# --- SLA targets ----------------------------------------------------------------------------
@dataclass
class SlaTargets:
    """``sla.<flow>.target`` for every flow: the global default and plant overrides."""

    defaults: dict[str, int] = field(default_factory=dict)
    overrides: dict[str, dict[int, int]] = field(default_factory=dict)

    def for_flow(self, flow: str) -> tuple[int, dict[int, int]]:
        return self.defaults.get(flow, 0), self.overrides.get(flow, {})

    def target(self, flow: str, plant_id: int) -> int | None:
        if flow not in self.defaults:
            return None
        return self.overrides.get(flow, {}).get(plant_id, self.defaults[flow])


def _seconds(parameter: SiteParameter, raw: str) -> int:
    value = parameter.parse(raw)
    return int(value.total_seconds()) if isinstance(value, dt.timedelta) else int(value)


def sla_targets() -> SlaTargets:
    """All SLA targets in two queries (parameters, then overrides)."""
    keys = {SLA_PARAMETER.format(flow=f): f for f in SlaFlow.values}
    targets = SlaTargets(defaults=dict(SLA_DEFAULTS))
    params = {p.pk: p for p in SiteParameter.objects.filter(key__in=keys)}
    for p in params.values():
        targets.defaults[keys[p.key]] = _seconds(p, p.default_value)
    for o in SiteParameterOverride.objects.filter(parameter_id__in=params):
        parameter = params[o.parameter_id]
        targets.overrides.setdefault(keys[parameter.key], {})[o.plant_id] = _seconds(
            parameter, o.value
        )
    return targets


# --- labels ---------------------------------------------------------------------------------
def plant_codes() -> dict[int, str]:
    return dict(Plant.objects.values_list("pk", "code"))


def system_codes() -> dict[int, str]:
    return dict(ConnectedSystem.objects.values_list("pk", "code"))


# --- current state --------------------------------------------------------------------------
def _scoped(qs: QuerySet, plant_ids: set[int] | None, lookup: str = "plant_id") -> QuerySet:
    return qs if plant_ids is None else qs.filter(**{f"{lookup}__in": plant_ids})


def outbox_backlog(*, plant_ids: set[int] | None = None) -> list[dict]:
    """Pending and in-flight outbox rows per plant, system and status, with the oldest
    ``created_at`` (the partial index ``outbox_due_idx`` holds exactly these rows)."""
    qs = OutboxMessage.objects.filter(status__in=[OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT])
    return list(
        _scoped(qs, plant_ids)
        .values("plant_id", "system_id", "status")
        .annotate(count=Count("id"), oldest=Min("created_at"))
        .order_by()
    )


def dead_letters(*, plant_ids: set[int] | None = None) -> list[dict]:
    qs = OutboxMessage.objects.filter(status=OutboxStatus.DEAD)
    return list(
        _scoped(qs, plant_ids)
        .values("plant_id", "system_id")
        .annotate(count=Count("id"), oldest=Min("created_at"))
        .order_by()
    )


def open_exception_messages(*, plant_ids: set[int] | None = None) -> QuerySet:
    """Stored messages that need a person: quarantined, rejected or conflicting, and not
    yet replayed successfully (the workbench's default list)."""
    resolved = InboundMessage.objects.filter(replay_of=OuterRef("pk"), status__in=MESSAGE_RESOLVED)
    qs = InboundMessage.objects.filter(status__in=MESSAGE_OPEN).filter(~Exists(resolved))
    return _scoped(qs, plant_ids)


def open_exceptions(*, plant_ids: set[int] | None = None) -> list[dict]:
    """Open business exceptions per plant, interface (system), event type and reason code,
    with the oldest arrival: messages on the workbench plus quarantined or escalated events."""
    rows = list(
        open_exception_messages(plant_ids=plant_ids)
        .annotate(reason=Coalesce(KT("reasons__0__code"), Value(""), output_field=CharField()))
        .values("plant_id", "system_id", "event_type", "reason", "status")
        .annotate(count=Count("id"), oldest=Min("received_at"))
        .order_by()
    )
    events = _scoped(Event.objects.filter(status__in=EVENT_OPEN), plant_ids)
    rows += list(
        events.annotate(
            reason=Coalesce(KT("reasons__0__code"), Value(""), output_field=CharField())
        )
        .values("plant_id", "system_id", "event_type", "reason", "status")
        .annotate(count=Count("id"), oldest=Min("received_at"))
        .order_by()
    )
    for row in rows:
        row["plant_id"] = row["plant_id"] or 0
        row["system_id"] = row["system_id"] or 0
        row["reason"] = (row["reason"] or "")[:60]
    return rows


def gates_waiting(*, plant_ids: set[int] | None = None) -> list[dict]:
    qs = Gate.objects.filter(state=GateState.CLOSED)
    return list(
        _scoped(qs, plant_ids)
        .values("plant_id", "kind")
        .annotate(count=Count("id"), oldest=Min(Coalesce("state_changed_at", "created_at")))
        .order_by()
    )


def approvals_pending(*, plant_ids: set[int] | None = None) -> list[dict]:
    """Approvals waiting for a person, per plant and the role that must decide (an
    escalated one waits for its ``escalate_to`` role)."""
    qs = ApprovalRequest.objects.filter(state__in=[ApprovalState.PENDING, ApprovalState.ESCALATED])
    return list(
        _scoped(qs, plant_ids)
        .values("plant_id", "role", "escalate_to", "state")
        .annotate(count=Count("id"), oldest=Min("created_at"))
        .order_by()
    )


def orders_awaiting_ack(*, plant_ids: set[int] | None = None) -> QuerySet:
    """Released orders the MES has not acknowledged yet (index ``order_plant_state_idx``)."""
    return _scoped(ProductionOrder.objects.filter(state=OrderState.RELEASED), plant_ids)


def circuit_breakers() -> list[dict]:
    """State of every outbound circuit breaker. Looked up through the app registry: the
    breaker belongs to ``connectors``, a layer above, which this app must not import."""
    breaker = apps.get_model("connectors", "CircuitBreaker")
    return list(breaker.objects.values("system_id", "state", "consecutive_failures"))
