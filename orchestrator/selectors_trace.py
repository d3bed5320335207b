"""The trace of one correlation id: everything Interlock did with a message, in order.

``trace_get`` gathers, limited to what the caller may see at their plants:

1. **messages**: each raw message as received (body untouched), with its validation
   reasons, the mapping it went through (plant code → canonical value, per field), and
   the idempotency decision (accepted, duplicate of event N, conflict with event N);
   replays point back to what they replay.
2. **events**: the canonical events those messages created or collided with, and any
   event carrying the correlation id (status, parking, explanation, rule pins).
3. **transitions**: the audit records under the correlation id (lifecycle transitions,
   and the operators' replays and discards).
4. **gates**: the gates of the orders and lots touched, whether named in an event's
   payload or moved by a transition.
5. **outbox**: messages to other systems under the correlation id (``OutboxMessage``;
   ``None`` where that model does not exist, so a client can tell "none" from "not
   tracked"). Looked up by name so that this module does not break while delivery grows.

Each section is one query (plus one per gate subject kind), whatever the chain's length.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet
from django.urls import NoReverseMatch, reverse

from plants.selectors import scope_queryset

from .models import (
    AuditRecord,
    Event,
    Gate,
    InboundMessage,
    Lot,
    MessageStatus,
    ProductionOrder,
)
from .models.outbox import DeliveryAttempt
from .selectors_auditor import TimelineRow, audit_row

#: How many rows of each section a trace shows at most (a storm of duplicates under one
#: correlation id must not turn one page into a million rows).
SECTION_LIMIT = 500
#: Outbox columns shown when the model has them (delivery adds attempts and errors later).
OUTBOX_FIELDS = (
    "target_system",
    "message_type",
    "status",
    "idempotency_key",
    "rule",
    "created_at",
    "attempts",
    "delivered_at",
    "last_error",
    "reference",
    "next_attempt_at",
)
#: Columns of each delivery attempt listed under its outbox row.
ATTEMPT_FIELDS = ("number", "attempted_at", "outcome", "status_code", "error", "duration_ms")


@dataclass
class MessageStage:
    """One raw message and what each stage of ingest made of it."""

    message: InboundMessage
    validation: dict[str, Any]
    mapping: dict[str, Any]
    idempotency: dict[str, Any]


@dataclass
class Trace:
    correlation_id: str
    messages: list[MessageStage] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    transitions: list[AuditRecord] = field(default_factory=list)
    gates: list[Gate] = field(default_factory=list)
    outbox: list[dict[str, Any]] | None = None

    @property
    def empty(self) -> bool:
        return not (self.messages or self.events or self.transitions)


def _perm(model) -> str:
    return f"{model._meta.app_label}.view_{model._meta.model_name}"


def _scoped(qs: QuerySet, user) -> QuerySet:
    return scope_queryset(qs, user=user, perm=_perm(qs.model))


# --- per-stage views of one message --------------------------------------------------------
_VALIDATION_CODES_PASS = {"duplicate", "idempotency_conflict"}


def _validation(message: InboundMessage) -> dict[str, Any]:
    reasons = [r for r in (message.reasons or []) if r.get("code") not in _VALIDATION_CODES_PASS]
    if message.status == MessageStatus.RECEIVED:
        outcome = "pending"
    elif message.status in (MessageStatus.REJECTED, MessageStatus.QUARANTINED):
        outcome = message.status
    elif message.status == MessageStatus.DISCARDED:
        outcome = "failed" if reasons else "passed"
    else:
        outcome = "passed"
    return {"outcome": outcome, "reasons": reasons}


def _leaves(value: Any, path: str) -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, child in value.items():
            out.update(_leaves(child, f"{path}.{key}" if path else str(key)))
        return out
    if isinstance(value, list):
        out = {}
        for index, child in enumerate(value):
            out.update(_leaves(child, f"{path}[{index}]"))
        return out
    return {path: value}


def mapping_changes(sent: Any, canonical: Any) -> list[dict[str, Any]]:
    """The fields site mapping changed, ``[{path, sent, canonical}]`` (codes translated,
    units converted); paths as in reasons (``payload.operations[0].work_center``)."""
    if not isinstance(sent, dict) or not isinstance(canonical, dict):
        return []
    before, after = _leaves(sent, "payload"), _leaves(canonical, "payload")
    return [
        {"path": path, "sent": before.get(path), "canonical": after.get(path)}
        for path in sorted(before.keys() | after.keys())
        if before.get(path) != after.get(path)
    ]


def _decision(message: InboundMessage) -> str | None:
    if message.status in (MessageStatus.ACCEPTED, MessageStatus.DUPLICATE, MessageStatus.CONFLICT):
        return message.status
    # A discarded message keeps the reasons of the decision it was discarded after.
    codes = {r.get("code") for r in message.reasons or []}
    if "idempotency_conflict" in codes:
        return MessageStatus.CONFLICT
    if "duplicate" in codes:
        return MessageStatus.DUPLICATE
    return None


def _mapping(message: InboundMessage, event: Event | None, decision: str | None) -> dict:
    sent = message.body.get("payload") if isinstance(message.body, dict) else None
    if decision in (MessageStatus.ACCEPTED, MessageStatus.DUPLICATE) and event is not None:
        # A duplicate has the same payload hash as its original: its canonical form *is*
        # the stored one.
        return {
            "outcome": "mapped",
            "canonical_payload": event.payload,
            "changes": mapping_changes(sent, event.payload),
            "note": "",
        }
    if decision == MessageStatus.CONFLICT:
        return {
            "outcome": "mapped",
            "canonical_payload": None,
            "changes": [],
            "note": "its canonical form differed from the event's and is not kept",
        }
    if message.status == MessageStatus.RECEIVED:
        outcome = "pending"
    elif any(r.get("code") == "mapping_missing" for r in message.reasons or []):
        outcome = "failed"
    else:
        outcome = "not_reached"
    return {"outcome": outcome, "canonical_payload": None, "changes": [], "note": ""}


def _idempotency(event: Event | None, decision: str | None) -> dict[str, Any]:
    text = {
        MessageStatus.ACCEPTED: "claimed the business key: new event {id}",
        MessageStatus.DUPLICATE: "duplicate of event {id}: no further effect",
        MessageStatus.CONFLICT: "conflict with event {id}: same business key, other payload",
    }.get(decision, "not reached")
    return {
        "decision": decision,
        "event_id": event.pk if event else None,
        "idempotency_key": event.idempotency_key if event else None,
        "original_correlation_id": event.correlation_id if event else None,
        "explanation": text.format(id=event.pk if event else "?"),
    }


# --- the selector ------------------------------------------------------------------------
def _messages(correlation_id: str, user) -> list[InboundMessage]:
    qs = InboundMessage.objects.filter(correlation_id=correlation_id)
    scoped = _scoped(qs, user)
    system = getattr(user, "system", None)
    if getattr(user, "system_plant_ids", None) is not None and system is not None:
        # A system also sees its own messages that never reached a plant (refused ones).
        scoped = qs.filter(Q(pk__in=scoped.values("pk")) | Q(system=system, plant__isnull=True))
    return list(
        scoped.select_related("system", "plant", "handled_by")
        .prefetch_related("replays")
        .order_by("received_at", "id")[:SECTION_LIMIT]
    )


def _subjects(events: list[Event], transitions: list[AuditRecord]) -> Q | None:
    """Orders and lots the chain touched: named in a payload, or moved by a transition."""
    order_ids: set[int] = set()
    lot_ids: set[int] = set()
    order_ct = ContentType.objects.get_for_model(ProductionOrder)
    lot_ct = ContentType.objects.get_for_model(Lot)
    for record in transitions:
        if record.content_type_id == order_ct.pk:
            order_ids.add(int(record.object_id))
        elif record.content_type_id == lot_ct.pk:
            lot_ids.add(int(record.object_id))
    orders = Q()
    lots = Q()
    for event in events:
        payload = event.payload if isinstance(event.payload, dict) else {}
        if isinstance(payload.get("order"), str):
            orders |= Q(plant_id=event.plant_id, number=payload["order"])
        if isinstance(payload.get("lot"), str):
            lots |= Q(plant_id=event.plant_id, number=payload["lot"])
    if orders:
        order_ids.update(ProductionOrder.objects.filter(orders).values_list("pk", flat=True))
    if lots:
        lot_ids.update(Lot.objects.filter(lots).values_list("pk", flat=True))
    if not order_ids and not lot_ids:
        return None
    return Q(order_id__in=order_ids) | Q(lot_id__in=lot_ids)


def _outbox(correlation_id: str, user) -> list[dict[str, Any]] | None:
    try:
        model = apps.get_model("orchestrator", "OutboxMessage")
    except LookupError:
        return None
    names = {f.name for f in model._meta.concrete_fields}
    if "correlation_id" not in names:  # pragma: no cover - depends on the future model
        return None
    qs = _scoped(model.objects.filter(correlation_id=correlation_id), user)
    order = [n for n in ("created_at", "id") if n in names]
    rows = []
    found = list(qs.select_related("system").order_by(*order)[:SECTION_LIMIT])
    # Deliveries and their attempts: one more query for the whole section.
    attempts: dict[int, list[dict[str, Any]]] = {}
    for attempt in DeliveryAttempt.objects.filter(message__in=[r.pk for r in found]).order_by(
        "message_id", "number", "id"
    ):
        attempts.setdefault(attempt.message_id, []).append(
            {name: getattr(attempt, name) for name in ATTEMPT_FIELDS}
        )
    for row in found:
        data = {"id": row.pk, "description": str(row)}
        for name in OUTBOX_FIELDS:
            if name in names:
                data[name] = getattr(row, name)
        if "event" in names:
            data["event_id"] = row.event_id
        data["system"] = row.system.code if row.system_id else None
        data["attempts_log"] = attempts.get(row.pk, [])
        rows.append(data)
    return rows


def trace_get(*, correlation_id: str, user) -> Trace:
    """The chain under ``correlation_id`` that ``user`` (person or connected system) may
    see; ``Trace.empty`` when there is nothing, which callers answer with a 404."""
    trace = Trace(correlation_id=correlation_id)
    messages = _messages(correlation_id, user)

    # Events: those carrying the id, and those the messages created or collided with
    # (a duplicate's original may carry another correlation id).
    visible_events = _scoped(Event.objects.all(), user)
    referenced = {m.event_id for m in messages if m.event_id}
    events = list(
        visible_events.filter(Q(correlation_id=correlation_id) | Q(pk__in=referenced))
        .select_related("plant", "system")
        .order_by("received_at", "id")[:SECTION_LIMIT]
    )
    by_pk = {e.pk: e for e in events}
    for message in messages:
        event = by_pk.get(message.event_id)
        decision = _decision(message)
        trace.messages.append(
            MessageStage(
                message=message,
                validation=_validation(message),
                mapping=_mapping(message, event, decision),
                idempotency=_idempotency(event, decision),
            )
        )
    trace.events = events
    trace.transitions = list(
        _scoped(AuditRecord.objects.filter(correlation_id=correlation_id), user)
        .select_related("plant", "content_type", "actor")
        .order_by("occurred_at", "id")[:SECTION_LIMIT]
    )
    subjects = _subjects(events, trace.transitions)
    if subjects is not None:
        trace.gates = list(
            _scoped(Gate.objects.filter(subjects), user)
            .select_related("plant", "order", "lot", "inspection")
            .order_by("state_changed_at", "id")[:SECTION_LIMIT]
        )
    trace.outbox = _outbox(correlation_id, user)
    return trace


# --- the trace as one timeline -----------------------------------------------------------------
def _admin_url(app_label: str, model_name: str, pk: Any) -> str:
    try:
        return reverse(f"admin:{app_label}_{model_name}_change", args=[pk])
    except NoReverseMatch:
        return ""


def _first_reason(reasons: list | None) -> str:
    for r in reasons or []:
        if isinstance(r, dict):
            where = f" at {r['path']}" if r.get("path") else ""
            return f"{r.get('code', '')}{where}: {r.get('message', '')}"
    return ""


def _message_row(stage: MessageStage) -> TimelineRow:
    m = stage.message
    parts = [f"validation {stage.validation['outcome']}", f"mapping {stage.mapping['outcome']}"]
    parts.append(stage.idempotency["explanation"])
    changes = stage.mapping["changes"]
    if changes:
        shown = ", ".join(f"{c['path']} {c['sent']} → {c['canonical']}" for c in changes[:3])
        parts.append(shown + (f" (+{len(changes) - 3})" if len(changes) > 3 else ""))
    reason = _first_reason(stage.validation["reasons"])
    if reason:
        parts.append(reason)
    payloads = [("body as received", m.body)]
    if stage.mapping["canonical_payload"] is not None:
        payloads.append(("canonical payload", stage.mapping["canonical_payload"]))
    return TimelineRow(
        at=m.received_at,
        who=m.system.code if m.system_id else (m.source or "?"),
        what=f"message {m.status}" + (f" (replay of {m.replay_of_id})" if m.replay_of_id else ""),
        subject=f"message {m.pk} · {m.event_type or '?'}",
        detail=" · ".join(parts),
        correlation_id=m.correlation_id,
        url=_admin_url("orchestrator", "inboundmessage", m.pk),
        payloads=payloads,
        kind="message",
    )


def _event_row(event: Event) -> TimelineRow:
    parts = []
    if event.waiting_for:
        parts.append(f"waiting for {event.waiting_for}")
    reason = _first_reason(event.reasons)
    if reason:
        parts.append(reason)
    if event.rule_pins:
        parts.append("rules " + ", ".join(f"{k}#{v}" for k, v in sorted(event.rule_pins.items())))
    payloads = [("canonical payload", event.payload)]
    if event.explanation:
        payloads.append(("rule explanation", event.explanation))
    return TimelineRow(
        at=event.applied_at or event.parked_at or event.received_at,
        who=event.system.code,
        what=f"event {event.status}",
        subject=f"event {event.pk} · {event.event_type}",
        detail=" · ".join(parts),
        correlation_id=event.correlation_id,
        url=_admin_url("orchestrator", "event", event.pk),
        payloads=payloads,
        kind="event",
    )


def _gate_row(gate: Gate) -> TimelineRow:
    subject = f"order {gate.order.number}" if gate.order_id else f"lot {gate.lot.number}"
    return TimelineRow(
        at=gate.state_changed_at,
        who="interlock",
        what=f"gate {gate.state}",
        subject=f"{gate.kind} · {subject}",
        detail=f"waits for {gate.waits_for}" + (f" · {gate.reason}" if gate.reason else ""),
        url=_admin_url("orchestrator", "gate", gate.pk),
        kind="gate",
    )


def _delivery_row(row: dict[str, Any]) -> TimelineRow:
    attempts = row.get("attempts_log") or []
    parts = [f"{row.get('attempts', len(attempts))} attempt(s)"]
    if row.get("reference"):
        parts.append(f"reference {row['reference']}")
    if row.get("last_error"):
        parts.append(str(row["last_error"])[:200])
    return TimelineRow(
        at=row.get("created_at"),
        who="interlock",
        what=f"delivery {row.get('status', '')}",
        subject=f"{row.get('message_type', '')} → {row.get('system') or row.get('target_system')}",
        detail=" · ".join(parts),
        url=_admin_url("orchestrator", "outboxmessage", row["id"]),
        payloads=[("delivery attempts", attempts)] if attempts else [],
        kind="delivery",
    )


def trace_timeline(trace: Trace) -> list[TimelineRow]:
    """The trace as one list, oldest first: messages as received (with what validation,
    mapping and idempotency made of them), events and their outcome, every transition and
    person's step (replays, discards, overrides, approvals: ``human``), gates and
    deliveries. Payloads ride along for the page to fold away."""
    rows = [_message_row(stage) for stage in trace.messages]
    rows += [_event_row(event) for event in trace.events]
    for record in trace.transitions:
        row = audit_row(record)
        row.url = _admin_url(
            record.content_type.app_label, record.content_type.model, record.object_id
        )
        rows.append(row)
    rows += [_gate_row(gate) for gate in trace.gates]
    rows += [_delivery_row(row) for row in trace.outbox or []]
    order = {"message": 0, "event": 1, "transition": 2, "gate": 3, "delivery": 4}
    rows.sort(key=lambda r: (r.at is None, r.at or 0, order.get(r.kind, 9)))
    return rows
