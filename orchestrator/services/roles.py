"""Rule roles (the names rules address: ``rules.actions._ROLE``) and the people's roles
(``plants.choices.Role``) that hold them at a plant."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from plants.choices import Role
from plants.models import Membership

#: Rule role names (``rules.actions._ROLE``) → the people's roles that hold them. Every
#: role a shipped pack routes to has its own people's role (and a demo login per plant);
#: the plant admin also stands in for the supervisor, as before that role existed.
RULE_ROLES: dict[str, tuple[str, ...]] = {
    "governance_board": (Role.GOVERNANCE_BOARD,),
    "plant_admin": (Role.PLANT_ADMIN,),
    "supervisor": (Role.SUPERVISOR, Role.PLANT_ADMIN),
    "operator": (Role.OPERATOR,),
    "quality": (Role.QUALITY_LEAD,),
    "quality_lead": (Role.QUALITY_LEAD,),
    "auditor": (Role.AUDITOR,),
    "planning": (Role.PLANNING,),
    "maintenance": (Role.MAINTENANCE,),
    "procurement": (Role.PROCUREMENT,),
    "customer_service": (Role.CUSTOMER_SERVICE,),
    "engineering": (Role.ENGINEERING,),
}


def holds_role(user: Any, rule_role: str, plant_id: int) -> bool:
    """Does ``user`` hold the people's role behind ``rule_role`` at ``plant_id`` (or
    company-wide)?"""
    roles = RULE_ROLES.get(rule_role)
    if roles is None or user is None or not getattr(user, "is_active", False):
        return False
    if getattr(user, "pk", None) is None:
        return False
    return Membership.objects.filter(
        Q(plant_id=plant_id) | Q(plant__isnull=True), user=user, role__in=roles
    ).exists()
