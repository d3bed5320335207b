"""The operator workbench's read side: every open exception at the user's plants, grouped.

Five kinds of "needs a person", each from its own table:

- **quarantined** (and rejected, conflicting) messages whose replay has not gone through;
- **quarantined** canonical events;
- **parked past timeout**: events sequencing escalated, or still parked longer than the
  plant's ``sequencing.park_timeout`` (the beat task has not run yet);
- **dead-lettered** deliveries to other systems;
- **stalled at a gate** longer than ``GATE_STALL_AFTER``; and **approvals overdue**.

Items are grouped by (kind, reason code, plant, system, event type, rule version), each
group with its count and oldest age. A group's key is a short URL-safe token, so a group
page can be bookmarked and its items listed again; resolved items (a replayed message
whose replay was accepted, an applied event) are simply no longer open and leave.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from plants.selectors import scope_queryset

from .models import (
    ApprovalRequest,
    ApprovalState,
    Event,
    EventStatus,
    Gate,
    GateState,
    InboundMessage,
    MessageStatus,
    OutboxMessage,
    OutboxStatus,
)
from .services.replay import MESSAGE_OPEN, MESSAGE_RESOLVED

#: A closed gate older than this is "stalled" on the workbench.
GATE_STALL_AFTER = dt.timedelta(hours=4)
#: How many open rows of each kind are read to build the groups (the counts of larger
#: groups say "at least").
SCAN_LIMIT = 5000

KINDS = {
    "message": "Quarantined message",
    "event": "Quarantined event",
    "parked": "Parked past timeout",
    "dead": "Dead-lettered delivery",
    "gate": "Stalled at a gate",
    "approval": "Approval overdue",
}


@dataclass
class Group:
    kind: str
    reason: str
    plant: str
    system: str
    event_type: str
    rule_version: str
    items: list = field(default_factory=list)
    oldest: dt.datetime | None = None

    @property
    def key(self) -> str:
        raw = json.dumps(
            [self.kind, self.reason, self.plant, self.system, self.event_type, self.rule_version]
        )
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @property
    def kind_label(self) -> str:
        return KINDS[self.kind]

    @property
    def count(self) -> int:
        return len(self.items)

    def age(self, now: dt.datetime) -> dt.timedelta:
        return now - self.oldest if self.oldest else dt.timedelta(0)


def decode_key(key: str) -> tuple[str, ...]:
    padded = key + "=" * (-len(key) % 4)
    try:
        parts = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, UnicodeDecodeError):
        raise LookupError(f"Not a workbench group: {key!r}") from None
    if not (isinstance(parts, list) and len(parts) == 6 and parts[0] in KINDS):
        raise LookupError(f"Not a workbench group: {key!r}")
    return tuple(str(p) for p in parts)


def _first_code(reasons: Any) -> str:
    if isinstance(reasons, list) and reasons and isinstance(reasons[0], dict):
        return str(reasons[0].get("code") or "")
    return ""


def _pins(pins: Any) -> str:
    if isinstance(pins, dict) and pins:
        return ", ".join(f"{k}@{v}" for k, v in sorted(pins.items()))
    return ""


def _scoped(qs, user, perm: str):
    return scope_queryset(qs, user=user, perm=perm)


#: Statuses of a quarantined message's own event that mean it is dealt with: the event
#: was re-applied (by a replay, with a chosen rule version or not) or discarded.
EVENT_SETTLED = (EventStatus.APPLIED, EventStatus.ACCEPTED, EventStatus.DISCARDED)


def open_messages(qs: QuerySet[InboundMessage]) -> QuerySet[InboundMessage]:
    """The messages of ``qs`` that still need a person: quarantined, rejected or
    conflicting, unless a replay of them went through or (for a message whose event a
    handler or rule quarantined) that event has been re-applied or discarded since. The
    original keeps its status as history either way."""
    resolved = InboundMessage.objects.filter(replay_of=OuterRef("pk"), status__in=MESSAGE_RESOLVED)
    settled = Q(status=MessageStatus.QUARANTINED, event__status__in=EVENT_SETTLED)
    return qs.filter(status__in=MESSAGE_OPEN).filter(~Exists(resolved)).exclude(settled)


def _open_items(user, now: dt.datetime) -> Iterable[tuple[tuple, Any, dt.datetime]]:
    """``(group fields, item, since)`` for every open exception the user may see."""
    from plants.selectors import site_parameter

    messages = _scoped(
        open_messages(InboundMessage.objects.select_related("plant", "system")),
        user,
        "orchestrator.view_inboundmessage",
    )
    for m in messages.order_by("received_at")[:SCAN_LIMIT]:
        fields = (
            "message",
            _first_code(m.reasons) or m.status,
            m.plant.code if m.plant_id else m.plant_code,
            m.system.code if m.system_id else m.source,
            m.event_type,
            "",
        )
        yield fields, m, m.received_at

    events = _scoped(
        Event.objects.filter(
            status__in=[EventStatus.QUARANTINED, EventStatus.ESCALATED, EventStatus.PARKED]
        ).select_related("plant", "system"),
        user,
        "orchestrator.view_event",
    )
    timeouts: dict[int, dt.timedelta] = {}
    for e in events.order_by("received_at")[:SCAN_LIMIT]:
        if e.status == EventStatus.PARKED:
            if e.plant_id not in timeouts:
                timeouts[e.plant_id] = site_parameter(key="sequencing.park_timeout", plant=e.plant)
            if now - e.received_at < timeouts[e.plant_id]:
                continue  # still waiting within its time: not an exception yet
        kind = "event" if e.status == EventStatus.QUARANTINED else "parked"
        reason = _first_code(e.reasons) or (e.waiting_for.split(":")[0] if e.waiting_for else "")
        fields = (kind, reason, e.plant.code, e.system.code, e.event_type, _pins(e.rule_pins))
        yield fields, e, e.received_at

    dead = _scoped(
        OutboxMessage.objects.filter(status=OutboxStatus.DEAD).select_related("plant", "system"),
        user,
        "orchestrator.view_outboxmessage",
    )
    for o in dead.order_by("created_at")[:SCAN_LIMIT]:
        last = (o.last_error or "").split(":")[0][:60]
        fields = (
            "dead",
            last,
            o.plant.code,
            o.system.code if o.system_id else o.target_system,
            o.message_type,
            o.rule,
        )
        yield fields, o, o.created_at

    gates = _scoped(
        Gate.objects.filter(
            state=GateState.CLOSED, state_changed_at__lt=now - GATE_STALL_AFTER
        ).select_related("plant", "order", "lot"),
        user,
        "orchestrator.view_gate",
    )
    for g in gates.order_by("state_changed_at")[:SCAN_LIMIT]:
        yield ("gate", g.kind, g.plant.code, "", "", g.rule), g, g.state_changed_at

    approvals = _scoped(
        ApprovalRequest.objects.filter(state__in=[ApprovalState.PENDING, ApprovalState.ESCALATED])
        .filter(due_at__lt=now)
        .select_related("plant"),
        user,
        "orchestrator.view_approvalrequest",
    )
    for a in approvals.order_by("due_at")[:SCAN_LIMIT]:
        yield ("approval", a.role, a.plant.code, "", "", a.rule), a, a.due_at


def workbench_groups(*, user, now: dt.datetime | None = None) -> list[Group]:
    """Open exceptions at the user's plants, grouped; oldest groups first."""
    now = now or timezone.now()
    groups: dict[tuple, Group] = {}
    for fields, item, since in _open_items(user, now):
        group = groups.get(fields)
        if group is None:
            group = groups[fields] = Group(*fields)
        group.items.append(item)
        if since is not None and (group.oldest is None or since < group.oldest):
            group.oldest = since
    return sorted(groups.values(), key=lambda g: (g.oldest or now, g.kind))


def workbench_group(*, user, key: str, now: dt.datetime | None = None) -> Group | None:
    """The group with ``key`` as it is now (``None`` when nothing in it is open any more)."""
    wanted = decode_key(key)
    for group in workbench_groups(user=user, now=now):
        if (
            group.kind,
            group.reason,
            group.plant,
            group.system,
            group.event_type,
            group.rule_version,
        ) == wanted:
            return group
    return None
