"""What each role may do, as permission patterns (``app_label.codename`` with ``*``).

Roles are granted per plant through :class:`plants.models.Membership`; the patterns below
say which Django permissions a membership carries. ``plants.auth.PlantRoleBackend``
applies them, and checks the plant of the object when there is one.
Custom permissions that apps declare later (``orchestrator.replay_event`` …) fit the
patterns without touching this file when they follow the names used here.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from .choices import Role

#: Plant-level configuration a plant admin owns for their plant.
_PLANT_CONFIG = [
    "plants.*_itemmapping",
    "plants.*_workcentermapping",
    "plants.*_uommapping",
    "plants.*_statusmapping",
    "plants.*_siteparameteroverride",
    "plants.*_releasewindow",
    "plants.*_releasefreeze",
    "plants.*_workcenter",
    "plants.*_alternaterouting",  # where its work centers' load can go (scenario 8)
    # How the plant's files and Sparkplug metrics become events (connectors/inbound).
    "connectors.*_csvlayout",
    "connectors.*_sparkplugmetricmapping",
    "connectors.*_trytonsource",
    # A plant admin connects their plant's own systems and issues their keys (issue 13);
    # the services check that every plant the system serves is one of theirs. Keys are
    # revoked, never deleted, and systems deactivated, so neither delete is granted.
    "plants.add_connectedsystem",
    "plants.change_connectedsystem",
    "plants.view_apikey",
    "plants.add_apikey",
    "plants.change_apikey",
]

#: What the people rules address (approvals, alerts) need to see to decide: the plant's
#: business objects and their approvals; deciding itself is checked against the request's
#: role by ``orchestrator.services.approvals``.
_DECIDER = {
    "include": ["plants.view_*", "orchestrator.view_*"],
    "exclude": ["plants.*_membership", "plants.*_apikey"],
}

ROLE_GRANTS: dict[str, dict[str, list[str]]] = {
    Role.GOVERNANCE_BOARD: {
        "include": [
            "*.view_*",
            "rules.*",
            "plants.*_plant",
            "plants.*_connectedsystem",
            "plants.*_apikey",
            "connectors.*_webhooksecret",  # credentials of systems, like API keys
            "plants.*_item",
            "plants.*_itemrevision",
            "plants.*_unitofmeasure",
            "plants.*_supplier",
            "plants.*_siteparameter",
        ],
        "exclude": ["plants.*_membership"],
    },
    Role.PLANT_ADMIN: {
        "include": [
            *_PLANT_CONFIG,
            "plants.view_*",
            "rules.view_*",
            "rules.*_plantoverride*",
            "orchestrator.view_*",
            # The plant's supervisor for cycle-count variances over tolerance (scenario 5).
            "orchestrator.approve_cyclecount",
            "connectors.view_*",
            "observability.view_*",
        ],
        "exclude": [
            "plants.*_membership",
            "plants.delete_connectedsystem",
            "plants.delete_apikey",
        ],
    },
    Role.OPERATOR: {
        "include": [
            "plants.view_*",
            "orchestrator.view_*",
            "orchestrator.handle_exceptions",
            "orchestrator.replay_*",
            "orchestrator.discard_*",
            "connectors.view_*",
            "connectors.replay_*",
            # SLA breaches are items of the operator's workbench.
            "observability.view_*",
        ],
        "exclude": ["plants.*_membership", "plants.*_apikey"],
    },
    Role.QUALITY_LEAD: {
        "include": [
            "plants.view_*",
            "orchestrator.view_*",
            "orchestrator.*_inspection*",
            "orchestrator.*_disposition*",
            "orchestrator.*_nonconformance*",
            "orchestrator.override_gate",
            "orchestrator.change_lot",
            "observability.view_*",
        ],
        "exclude": ["plants.*_membership", "plants.*_apikey"],
    },
    Role.AUDITOR: {
        # Read-only access to everything, including history tables.
        "include": ["*.view_*"],
        "exclude": [],
    },
    Role.PLANNING: _DECIDER,
    Role.MAINTENANCE: _DECIDER,
    Role.PROCUREMENT: _DECIDER,
    Role.CUSTOMER_SERVICE: _DECIDER,
    # Approves substitutions of delayed critical components (scenario 7).
    Role.ENGINEERING: _DECIDER,
    # Cycle-count variances over tolerance wait for a supervisor (scenario 5).
    Role.SUPERVISOR: {
        **_DECIDER,
        "include": [*_DECIDER["include"], "orchestrator.approve_cyclecount"],
    },
}


def role_allows(role: str, perm: str) -> bool:
    grants = ROLE_GRANTS.get(role)
    if grants is None:
        return False
    if any(fnmatchcase(perm, pattern) for pattern in grants["exclude"]):
        return False
    return any(fnmatchcase(perm, pattern) for pattern in grants["include"])


def is_view_permission(perm: str) -> bool:
    return perm.partition(".")[2].startswith("view_")
