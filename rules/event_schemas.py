"""Registry of the JSON Schemas that type CEL variables: canonical events and context objects.

The canonical event schemas are *owned by the orchestrator* (it validates every inbound
event against them). Rules only needs their shape to declare typed CEL variables, and
rules must not import orchestrator (dependencies point ``orchestrator → rules``). So the
orchestrator pushes its schemas in at startup with :func:`register_event_schema`.

Why defaults live here and not only in tests: rule sets are validated when they are saved
(admin, API, fixtures) and the shipped rule packs must validate even in a process where
the orchestrator has not registered anything yet (a management command, a migration, this
app's own tests). The defaults below describe the DOMAIN.md taxonomy at its minimum; a
registration by the orchestrator *replaces* the default for that event type. Every change
bumps :func:`registry_version`, which the CEL environment cache keys on.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

_STR = {"type": "string"}
_NUM = {"type": "number"}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_TS = {"type": "string", "format": "date-time"}

#: Envelope fields every canonical event carries (ARCHITECTURE.md, REST contract v1).
ENVELOPE: dict[str, Any] = {
    "type": _STR,
    "plant": _STR,
    "source": _STR,
    "occurred_at": _TS,
    "correlation_id": _STR,
}

_PAYLOADS: dict[str, dict[str, Any]] = {
    "production_order.released": {
        "order": _STR,
        "item": _STR,
        "revision": _STR,
        "routing_revision": _STR,
        "bom_revision": _STR,
        "work_center": _STR,
        "qty": _NUM,
        "uom": _STR,
    },
    "production_order.acknowledged": {
        "order": _STR,
        "routing_revision": _STR,
        "bom_revision": _STR,
    },
    "operation.started": {"order": _STR, "operation": _STR, "work_center": _STR},
    "operation.paused": {"order": _STR, "operation": _STR, "work_center": _STR, "reason": _STR},
    "operation.confirmed": {
        "order": _STR,
        "operation": _STR,
        "work_center": _STR,
        "sequence": _INT,
        "qty": _NUM,
        "scrap_qty": _NUM,
        "uom": _STR,
        "final": _BOOL,
    },
    "material.issued": {
        "order": _STR,
        "item": _STR,
        "lot": _STR,
        "qty": _NUM,
        "uom": _STR,
        "reserved": _BOOL,
    },
    "scrap.declared": {
        "order": _STR,
        "operation": _STR,
        "item": _STR,
        "qty": _NUM,
        "uom": _STR,
        "reason": _STR,
        "window_qty": _NUM,
    },
    "production.completed": {"order": _STR, "item": _STR, "lot": _STR, "qty": _NUM, "uom": _STR},
    "inspection.requested": {
        "inspection": _STR,
        "order": _STR,
        "lot": _STR,
        "item": _STR,
        "plan": _STR,
    },
    "inspection.recorded": {
        "inspection": _STR,
        "order": _STR,
        "lot": _STR,
        "item": _STR,
        "supplier": _STR,
        "result": _STR,
        "defects": _INT,
        "sample_size": _INT,
        "measured": _NUM,
        "characteristics": {
            "type": "array",
            "items": {"type": "object", "properties": {"name": _STR, "value": _NUM}},
        },
    },
    "nonconformance.opened": {
        "nonconformance": _STR,
        "lot": _STR,
        "order": _STR,
        "severity": _STR,
        "reason": _STR,
    },
    "nonconformance.closed": {"nonconformance": _STR, "lot": _STR, "disposition": _STR},
    "lot.status_changed": {
        "lot": _STR,
        "item": _STR,
        "from_status": _STR,
        "to_status": _STR,
        "reason": _STR,
    },
    "goods_receipt.posted": {"order": _STR, "lot": _STR, "item": _STR, "qty": _NUM, "uom": _STR},
    "cycle_count.recorded": {
        "item": _STR,
        "location": _STR,
        "lot": _STR,
        "counted_qty": _NUM,
        "book_qty": _NUM,
        "uom": _STR,
    },
    "asn.received": {
        "asn": _STR,
        "supplier": _STR,
        "item": _STR,
        "qty": _NUM,
        "uom": _STR,
        "expected_at": _TS,
    },
    "supplier_receipt.posted": {
        "receipt": _STR,
        "supplier": _STR,
        "asn": _STR,
        "purchase_order": _STR,
        "item": _STR,
        "lot": _STR,
        "qty": _NUM,
        "uom": _STR,
    },
    "asn.delayed": {
        "asn": _STR,
        "supplier": _STR,
        "item": _STR,
        "qty": _NUM,
        "uom": _STR,
        "expected_at": _TS,
        "new_eta": _TS,
        "critical": _BOOL,
    },
    "machine.downtime": {
        "equipment": _STR,
        "work_center": _STR,
        "started_at": _TS,
        "duration_minutes": _NUM,
        "reason": _STR,
        "constrained": _BOOL,
    },
}

_OBJECTS: dict[str, dict[str, Any]] = {
    "order": {
        "number": _STR,
        "item": _STR,
        "revision": _STR,
        "status": _STR,
        "target_qty": _NUM,
        "confirmed_qty": _NUM,
        "scrap_qty": _NUM,
        "uom": _STR,
        "work_center": _STR,
        "routing_revision": _STR,
    },
    "lot": {
        "number": _STR,
        "item": _STR,
        "status": _STR,
        "qty": _NUM,
        "uom": _STR,
        "expires_at": _TS,
        "supplier": _STR,
        "consumed_qty": _NUM,
    },
    "inspection": {"number": _STR, "lot": _STR, "status": _STR, "result": _STR, "plan": _STR},
}

#: Context objects a rule can see besides ``event`` (DOMAIN.md canonical objects).
CONTEXT_OBJECTS = ("order", "lot", "inspection")


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": copy.deepcopy(properties)}


_lock = threading.Lock()
_events: dict[str, dict[str, Any]] = {t: _object({**ENVELOPE, **p}) for t, p in _PAYLOADS.items()}
_objects: dict[str, dict[str, Any]] = {name: _object(p) for name, p in _OBJECTS.items()}
_version = 0


def register_event_schema(event_type: str, schema: dict[str, Any]) -> None:
    """Declare (or replace) the JSON Schema of a canonical event type.

    Called by the orchestrator at startup for every event type it accepts. The schema
    describes the whole canonical event as rules see it under ``event`` (envelope fields
    and payload fields side by side).
    """
    global _version
    if schema.get("type") != "object":
        raise ValueError(f"event schema for {event_type!r} must be an object schema")
    with _lock:
        _events[event_type] = copy.deepcopy(schema)
        _version += 1


def register_object_schema(name: str, schema: dict[str, Any]) -> None:
    """Declare the schema of a context object (``order``, ``lot``, ``inspection``)."""
    global _version
    if name not in CONTEXT_OBJECTS:
        raise ValueError(f"unknown context object {name!r}; expected one of {CONTEXT_OBJECTS}")
    with _lock:
        _objects[name] = copy.deepcopy(schema)
        _version += 1


def event_schema(event_type: str) -> dict[str, Any] | None:
    """The schema of ``event_type``, or ``None`` when the type is unknown."""
    return _events.get(event_type)


def object_schema(name: str) -> dict[str, Any]:
    return _objects[name]


def event_types() -> list[str]:
    return sorted(_events)


def registry_version() -> int:
    return _version
