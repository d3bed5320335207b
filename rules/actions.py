"""The actions catalogue: what a rule may ask for, and the parameters each action takes.

Rules only *declare* actions (name → parameter JSON Schema + description); the orchestrator
and connectors implement them and look them up here by name. A rule naming an unknown
action, or passing parameters its schema refuses, is rejected when the rule set is saved.
Further actions register with :func:`register_action` (a decorator-free call, so an
implementing app can declare and implement in one place at startup).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator


@dataclass(frozen=True)
class ActionSpec:
    """One catalogue entry."""

    name: str
    description: str
    params_schema: dict[str, Any] = field(default_factory=dict)

    def validator(self) -> Draft202012Validator:
        return Draft202012Validator(self.params_schema)


_lock = threading.Lock()
_catalogue: dict[str, ActionSpec] = {}


def register_action(
    name: str, *, description: str, params: dict[str, Any], required: list[str] | None = None
) -> ActionSpec:
    """Declare (or redeclare) an action; ``params`` are the JSON Schema properties."""
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": params,
        "required": list(required or []),
    }
    Draft202012Validator.check_schema(schema)
    spec = ActionSpec(name=name, description=description, params_schema=schema)
    with _lock:
        _catalogue[name] = spec
    return spec


def get_action(name: str) -> ActionSpec | None:
    return _catalogue.get(name)


def catalogue() -> dict[str, ActionSpec]:
    return dict(sorted(_catalogue.items()))


_S = {"type": "string", "minLength": 1}
_SYSTEM = {"enum": ["erp", "qms", "wms", "mes"]}
_ROLE = {
    "enum": [
        "governance_board",
        "plant_admin",
        "operator",
        "quality_lead",
        "auditor",
        "procurement",
        "maintenance",
        "planning",
        "customer_service",
        "supervisor",
        "engineering",
    ]
}
_TASK_KIND = {"enum": ["approve", "investigate", "contain", "reply", "correct", "review"]}
#: Facts (derived by the orchestrator, else the event's payload) that name what a person's
#: task is about: while a task of the same rule, role and kind with the same values is open
#: at the plant, the action opens no second one (the notification is still recorded).
_ONCE_PER = {
    "type": "array",
    "items": {"type": "string", "minLength": 1},
    "minItems": 1,
    "uniqueItems": True,
}

register_action(
    "post_to_system",
    description="Post a message to a connected system of the plant (ERP, QMS, WMS, MES).",
    params={"system": _SYSTEM, "message": _S, "payload": {"type": "object"}},
    required=["system", "message"],
)
register_action(
    "change_lot_status",
    description="Move the lot to a canonical status; downstream systems follow.",
    params={
        "status": {
            "enum": [
                "available",
                "inspection",
                "blocked",
                "rework",
                "in_transit",
                "consigned",
                "expired",
                "scrapped",
            ]
        },
        "reason": {"type": "string"},
    },
    required=["status"],
)
register_action(
    "hold_gate",
    description="Close a gate of the business object (e.g. goods receipt) until released.",
    params={"gate": _S, "reason": {"type": "string"}},
    required=["gate"],
)
register_action(
    "release_gate",
    description="Open a gate previously held.",
    params={"gate": _S, "reason": {"type": "string"}},
    required=["gate"],
)
register_action(
    "open_nonconformance",
    description="Open a nonconformance with the event as evidence.",
    params={"severity": {"enum": ["minor", "major", "critical"]}, "reason": {"type": "string"}},
    required=["severity"],
)
register_action(
    "open_supplier_case",
    description="Open a supplier case with the evidence of the event.",
    params={"reason": _S},
    required=["reason"],
)
register_action(
    "notify_role",
    description="Notify the people holding a role at the plant (a task to act on; "
    "'once_per' facts: one open task per their values).",
    params={"role": _ROLE, "message": _S, "once_per": _ONCE_PER},
    required=["role", "message"],
)
register_action(
    "require_approval",
    description="Stop the flow until a person with the role approves; escalate on timeout.",
    params={
        "role": _ROLE,
        "reason": _S,
        "timeout_minutes": {"type": "integer", "minimum": 1, "maximum": 10080},
        "escalate_to": _ROLE,
    },
    required=["role", "reason"],
)
register_action(
    "quarantine_event",
    description="Quarantine the event with a reason for the exception workbench (a "
    "synchronous check answers 'not allowed' with the same reason). 'code' is the "
    "machine-readable reason code (default rule_quarantine), 'path' the payload field it "
    "is about.",
    params={
        "reason": _S,
        "code": {"type": "string", "pattern": "^[a-z][a-z0-9_.]{0,59}$"},
        "path": {"type": "string", "minLength": 1, "maxLength": 200},
    },
    required=["reason"],
)
register_action(
    "threshold_alert",
    description="Raise an alert when a value crosses a site-parameter threshold ('once_per' "
    "facts: one open task per their values, e.g. per line and item).",
    params={
        "parameter": _S,
        "roles": {"type": "array", "items": _ROLE, "minItems": 1},
        "message": {"type": "string"},
        "once_per": _ONCE_PER,
    },
    required=["parameter", "roles"],
)

# --- planning (scenarios 6, 7, 8) ------------------------------------------------------
register_action(
    "flag_replenishment",
    description="Flag the replenishment plan of the scrapped item in the planning system "
    "(ERP): the scrap in the window eats into the planned supply (scenario 6).",
    params={"system": _SYSTEM, "reason": _S},
    required=["reason"],
)
register_action(
    "record_supply_exposure",
    description="Record the exposure of a supply delay: the orders at every plant that need "
    "the delayed critical components before they arrive, and the stock other plants could "
    "lend (an inter-plant reallocation proposal); tells the ERP which order dates are at "
    "risk, and the roles in 'notify' (customer service) which orders and dates (scenario 7).",
    params={"system": _SYSTEM, "reason": _S, "notify": {"type": "array", "items": _ROLE}},
    required=["reason"],
)
register_action(
    "record_line_stoppage",
    description="Record a stoppage of a constrained work center: the capacity lost goes to "
    "the planning system (ERP), the orders at risk are listed with an alternate routing or "
    "plant where master data has one; the roles in 'notify' (customer service) are told "
    "which orders and dates are at risk (scenario 8).",
    params={"system": _SYSTEM, "reason": _S, "notify": {"type": "array", "items": _ROLE}},
    required=["reason"],
)
register_action(
    "approve_proposals",
    description="Ask a person with the role to approve the exposure's proposals (inter-plant "
    "reallocation of stock, or the move to an alternate routing or plant): approved, each is "
    "posted to the planning system (ERP) through the outbox as a stock transfer or a "
    "re-routed order; rejected, the proposals are closed and nothing is posted. Escalated "
    "to 'escalate_to' when not decided within 'timeout_minutes' (scenarios 7 and 8).",
    params={
        "role": _ROLE,
        "reason": _S,
        "timeout_minutes": {"type": "integer", "minimum": 1, "maximum": 10080},
        "escalate_to": _ROLE,
        "system": _SYSTEM,
    },
    required=["role", "reason"],
)
register_action(
    "open_task",
    description="Open a task for the people holding a role at the plant (their inbox and "
    "e-mail), with a due time and the event as evidence; escalated when overdue.",
    params={
        "role": _ROLE,
        "kind": _TASK_KIND,
        "title": _S,
        "due_in": {"type": "integer", "minimum": 1, "maximum": 43200},
        "escalate_to": _ROLE,
        "details": {"type": "object"},
    },
    required=["role", "kind", "title"],
)


# --- scenarios 2, 4 and 5 (orchestrator/actions/exposure.py and stock.py) -------------------
_DUE_IN = {"type": "integer", "minimum": 1, "maximum": 10080, "description": "minutes"}
register_action(
    "reevaluate_allocations",
    description="Re-evaluate the open orders reserving the lot's item without the lot; flag "
    "each in its trail and give the role a task with the outcome.",
    params={"role": _ROLE, "due_in": _DUE_IN},
)
register_action(
    "contain_consumption",
    description="List the work orders that consumed the lot and the lots made from it "
    "(genealogy) in one containment task for the role.",
    params={"role": _ROLE, "due_in": _DUE_IN},
)
register_action(
    "post_stock_adjustment",
    description="Post the cycle count's variance to the ERP as an inventory adjustment and "
    "mark the count posted (at once within tolerance; after approval otherwise).",
    params={},
)
register_action(
    "hold_count_for_approval",
    description="Put the cycle count's posting on hold until a person with the role approves "
    "it; the approval posts the ERP adjustment and resumes picks.",
    params={"role": _ROLE, "reason": _S, "timeout_minutes": _DUE_IN, "escalate_to": _ROLE},
    required=["role", "reason"],
)
