"""What Interlock knows about each canonical event type.

The canonical payload schemas are versioned JSON files (``schemas/v1/<type>.json``, one per
type of DOMAIN.md's taxonomy), compiled once per process. The declarations below say which
fields carry plant codes to be mapped (items, work centers, units with their quantities,
status codes) and the default business key; the business key in force comes from
:class:`~orchestrator.models.IdempotencyRule` rows (configuration as data), seeded from
these defaults.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from .schemacheck import Check, compile_check

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas" / "v1"
SCHEMA_VERSION = "v1"


@dataclass(frozen=True)
class EventSpec:
    """Mapping and key declarations of one canonical event type."""

    event_type: str
    items: tuple[str, ...] = ()
    work_centers: tuple[str, ...] = ()
    #: Quantity fields and the unit field that qualifies them (same list element).
    quantities: tuple[tuple[str, str], ...] = ()
    #: ``(path, status domain)`` of plant status codes.
    statuses: tuple[tuple[str, str], ...] = ()
    key: tuple[str, ...] = ()
    time_bucket_seconds: int | None = None
    #: Facts the pipeline derives for rules (e.g. ``reserved``), typed for CEL.
    derived: dict[str, Any] = field(default_factory=dict)

    @property
    def schema(self) -> dict[str, Any]:
        return load_schema(self.event_type)

    @property
    def validator(self) -> Draft202012Validator:
        return compiled_validator(self.event_type)

    @property
    def check(self) -> Check | None:
        """Fast yes/no validity of a payload (``None``: use :attr:`validator` alone)."""
        return compiled_check(self.event_type)


_SPECS = [
    EventSpec(
        "production_order.released",
        items=("item", "components[].item"),
        work_centers=("operations[].work_center",),
        quantities=(("qty", "uom"), ("components[].qty", "components[].uom")),
        key=("plant", "order"),
    ),
    EventSpec("production_order.acknowledged", key=("plant", "order")),
    EventSpec(
        "operation.started",
        work_centers=("work_center",),
        key=("source", "plant", "order", "operation"),
    ),
    EventSpec(
        "operation.paused",
        work_centers=("work_center",),
        key=("source", "plant", "order", "operation"),
        time_bucket_seconds=1,
    ),
    EventSpec(
        "operation.confirmed",
        work_centers=("work_center",),
        quantities=(("qty", "uom"), ("scrap_qty", "uom")),
        key=("source", "plant", "order", "operation", "sequence"),
    ),
    EventSpec(
        "material.issued",
        items=("item",),
        quantities=(("qty", "uom"),),
        key=("plant", "order", "lot", "item", "equipment"),
        time_bucket_seconds=60,
        derived={"reserved": {"type": "boolean"}},
    ),
    EventSpec(
        "scrap.declared",
        items=("item",),
        quantities=(("qty", "uom"),),
        key=("source", "plant", "order", "operation", "reason"),
        time_bucket_seconds=60,
        derived={
            "window_qty": {"type": "number"},
            "line": {"type": "string"},
            "window_item": {"type": "string"},
        },
    ),
    EventSpec("production.completed", quantities=(("qty", "uom"),), key=("plant", "order", "lot")),
    EventSpec("inspection.requested", key=("plant", "inspection")),
    EventSpec(
        "inspection.recorded",
        statuses=(("result", "inspection_outcome"),),
        key=("plant", "inspection", "result"),
    ),
    EventSpec("nonconformance.opened", key=("plant", "nonconformance")),
    EventSpec("nonconformance.closed", key=("plant", "nonconformance")),
    EventSpec(
        "lot.status_changed",
        statuses=(("status", "lot_status"),),
        key=("plant", "lot", "status"),
        time_bucket_seconds=1,
    ),
    EventSpec(
        "goods_receipt.posted", quantities=(("qty", "uom"),), key=("plant", "order", "document")
    ),
    EventSpec(
        "cycle_count.recorded",
        items=("item",),
        quantities=(("counted_qty", "uom"), ("system_qty", "uom")),
        key=("plant", "count"),
    ),
    EventSpec(
        "asn.received",
        items=("lines[].item",),
        quantities=(("lines[].qty", "lines[].uom"),),
        key=("plant", "asn"),
    ),
    EventSpec(
        "supplier_receipt.posted",
        items=("item",),
        quantities=(("qty", "uom"),),
        key=("plant", "receipt"),
    ),
    EventSpec(
        "asn.delayed",
        items=("lines[].item",),
        quantities=(("lines[].qty", "lines[].uom"),),
        key=("plant", "asn", "expected_at"),
        derived={
            "critical": {"type": "boolean"},
            "delay_hours": {"type": "number"},
            "orders_at_risk": {"type": "integer"},
            "plants_at_risk": {"type": "integer"},
            "reallocations": {"type": "integer"},
        },
    ),
    EventSpec(
        "machine.downtime",
        work_centers=("work_center",),
        key=("source", "plant", "work_center", "started_at"),
        derived={
            "constrained": {"type": "boolean"},
            "duration_minutes": {"type": "number"},
            "orders_at_risk": {"type": "integer"},
            "alternates": {"type": "integer"},
        },
    ),
]

SPECS: dict[str, EventSpec] = {spec.event_type: spec for spec in _SPECS}
EVENT_TYPES: tuple[str, ...] = tuple(SPECS)


@cache
def load_schema(event_type: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / f"{event_type}.json").read_text(encoding="utf-8"))


@cache
def compiled_validator(event_type: str) -> Draft202012Validator:
    schema = load_schema(event_type)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


@cache
def compiled_check(event_type: str) -> Check | None:
    return compile_check(load_schema(event_type))


def rules_schema(event_type: str) -> dict[str, Any]:
    """The schema rules see: the canonical payload plus the facts the pipeline derives."""
    schema = json.loads(json.dumps(load_schema(event_type)))
    schema["properties"].update(SPECS[event_type].derived)
    return schema
