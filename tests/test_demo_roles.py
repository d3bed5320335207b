"""Every role the shipped rule packs address has a demo login at every demo plant
(issue 8, item 5): an approval a pack asks for can always be decided by someone."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.core.management import call_command

from orchestrator.services.approvals import RULE_ROLES, holds_role
from plants.models import Plant

PACKS = Path(__file__).resolve().parent.parent / "rules" / "packs"


def pack_roles() -> set[str]:
    """Roles named by ``require_approval`` (and its escalation), ``notify_role`` and
    ``threshold_alert`` in the shipped packs."""
    roles: set[str] = set()
    for path in PACKS.glob("*.yaml"):
        for rule in yaml.safe_load(path.read_text())["rules"]:
            for action in rule.get("then", []):
                params = action.get("params", {})
                roles.update(p for p in (params.get("role"), params.get("escalate_to")) if p)
                roles.update(params.get("roles", []))
    return roles


def test_the_packs_route_to_the_roles_of_the_issue():
    assert {"planning", "maintenance", "supervisor", "procurement", "quality_lead"} <= pack_roles()
    assert pack_roles() <= set(RULE_ROLES)


@pytest.mark.django_db
def test_every_pack_role_has_a_demo_login_at_every_plant():
    call_command("seed_demo", verbosity=0)
    users = list(get_user_model().objects.filter(is_active=True))
    plants = list(Plant.objects.order_by("code"))
    assert [p.code for p in plants] == ["P1", "P2", "P3"]
    wanted = pack_roles() | {"customer_service"}
    missing = [
        f"{role}@{plant.code}"
        for role in sorted(wanted)
        for plant in plants
        if not any(holds_role(u, role, plant.pk) for u in users)
    ]
    assert not missing, f"no demo login decides: {missing}"
    # A planner of P1 is not one of P2: roles are per plant.
    planner = get_user_model().objects.get(username="p1-planner")
    assert holds_role(planner, "planning", plants[0].pk)
    assert not holds_role(planner, "planning", plants[1].pk)
