"""What the pipeline carries per envelope (:class:`_Item`) and tells the client about it
(:class:`ItemResult`)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from plants.models import Plant

from ..models import Event, EventStatus, MessageStatus
from .instances import loader, relate
from .normalize import Reason
from .specs import EventSpec


# --- results --------------------------------------------------------------------------
@dataclass
class ItemResult:
    """What the client is told about one envelope."""

    position: int
    status: str
    message_id: int | None
    event_id: int | None
    correlation_id: str
    idempotency_key: str | None
    reasons: list[dict[str, Any]]
    forbidden: bool = False
    #: What a ``parked`` event waits for (e.g. ``order-acknowledged:P1:WO-1001``).
    waiting_for: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data = {
            "event_id": self.event_id,
            "message_id": self.message_id,
            "status": self.status,
            "correlation_id": self.correlation_id,
            "idempotency_key": self.idempotency_key,
            "reasons": self.reasons,
        }
        if self.waiting_for:
            data["waiting_for"] = self.waiting_for
        return data


@dataclass
class _Item:
    position: int
    envelope: Any
    correlation_id: str
    status: str | None = None  # decided message status; None while still undecided
    reasons: list[Reason] = field(default_factory=list)
    forbidden: bool = False
    plant: Plant | None = None
    spec: EventSpec | None = None
    occurred_at: dt.datetime | None = None
    canonical: dict[str, Any] | None = None
    key: str | None = None
    payload_hash: str | None = None
    #: The event this item created (claimed ones: a full instance, handed to the handlers).
    event: Event | None = None
    #: The event it created or duplicated.
    event_id: int | None = None
    message_pk: int | None = None
    #: Mapping, schema, key and hash are done (``canonical``/``key`` or quarantine reasons).
    normalized: bool = False
    #: Its stored message still says ``received``: the decision transaction must write it.
    undecided_in_db: bool = False
    #: The HTTP request it came in, when a coalesced batch holds several (else the batch's).
    request_id: uuid.UUID | None = None
    #: Its index within that request, when it differs from ``position`` (coalesced singles).
    stored_position: int | None = None

    def result(self) -> ItemResult:
        reasons = [r.as_dict() for r in self.reasons]
        status = self.status or MessageStatus.RECEIVED
        waiting_for = None
        if self.event is not None and self.status == MessageStatus.ACCEPTED:
            reasons = reasons or list(self.event.reasons)
            if self.event.status == EventStatus.PARKED:
                # Stored and deduplicated, but not applied yet: the client is told so, and
                # what it waits for (the stored message stays ``accepted``).
                status, waiting_for = EventStatus.PARKED.value, self.event.waiting_for
        return ItemResult(
            position=self.position,
            status=status,
            waiting_for=waiting_for,
            message_id=self.message_pk,
            event_id=self.event_id,
            correlation_id=self.correlation_id,
            idempotency_key=self.key,
            reasons=reasons,
            forbidden=self.forbidden,
        )


# --- stage 0: envelope and scope --------------------------------------------------------


# --- the claimed event ---------------------------------------------------------------------
_EVENT_FIELDS: tuple[str, ...] | None = None
_EVENT_LOAD = None


def _event_from(item: _Item, pk: int, system, now: dt.datetime) -> Event:
    """The event a batch claims for ``item`` (handed to the handlers): the instance
    ``Event.from_db`` would build from every field in order, without ``Model.__init__``
    (``instances.loader``: the same ``__dict__`` and ``_state``), pointing at the item's
    plant and ``system``."""
    global _EVENT_FIELDS, _EVENT_LOAD
    if _EVENT_FIELDS is None:
        _EVENT_FIELDS = tuple(f.attname for f in Event._meta.concrete_fields)
        _EVENT_LOAD = loader(Event, "default")
    values = {
        "id": pk,
        "plant_id": item.plant.pk,
        "system_id": system.pk,
        "event_type": item.spec.event_type,
        "occurred_at": item.occurred_at,
        "received_at": now,
        "correlation_id": item.correlation_id,
        "idempotency_key": item.key,
        "payload_hash": item.payload_hash,
        "payload": item.canonical,
        "status": EventStatus.ACCEPTED,
        "reasons": [],
        "waiting_for": "",
        "parked_at": None,
        "applied_at": None,
        "rule_pins": {},
        "explanation": {},
    }
    if not set(_EVENT_FIELDS) <= values.keys():  # a field added to Event: stay correct
        event = Event(**{k: v for k, v in values.items() if k in _EVENT_FIELDS})
    else:
        event = _EVENT_LOAD([values[f] for f in _EVENT_FIELDS])
        event._state.adding = False
    relate(event, plant=item.plant, system=system)
    return event
