"""Authorization backend: role memberships scoped by plant.

``user.has_perm("plants.change_itemmapping")`` is true when any membership's role grants
it (that is what the admin asks to show a model). ``user.has_perm(perm, obj)`` is true only
when a granting membership covers the object's plant: a plant admin of P1 may change P1's
mappings and nothing of P2. Objects without a plant (canonical master data) may be viewed
by any role that grants the view permission, and changed only through a company-wide
membership.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import BaseBackend

from .roles import role_allows


def object_plant_ids(obj: Any) -> set[int] | None:
    """Plants an object belongs to; ``None`` for company-wide objects (items, UOMs, ...)."""
    scope = getattr(obj, "scope_plant_ids", None)
    if scope is None:
        return None
    return scope()


def _memberships(user) -> list[tuple[str, int | None]]:
    cached = getattr(user, "_interlock_memberships", None)
    if cached is None:
        from .models import Membership

        cached = list(Membership.objects.filter(user=user).values_list("role", "plant_id"))
        user._interlock_memberships = cached
    return cached


def forget_memberships(user) -> None:
    """Drop the per-request cache after memberships change."""
    if hasattr(user, "_interlock_memberships"):
        del user._interlock_memberships


def plant_ids_for(user, perm: str) -> set[int] | None:
    """The plants where ``user`` holds ``perm``: ``None`` means every plant, ``set()`` none."""
    if user is None or not getattr(user, "is_authenticated", False):
        return set()
    if getattr(user, "is_superuser", False):
        return None
    system_plants = getattr(user, "system_plant_ids", None)
    if system_plants is not None:  # a connected system (see plants.api.authentication)
        return set(system_plants)
    if not user.is_active:
        return set()
    plants: set[int] = set()
    for role, plant_id in _memberships(user):
        if role_allows(role, perm):
            if plant_id is None:
                return None
            plants.add(plant_id)
    return plants


class PlantRoleBackend(BaseBackend):
    """Grants permissions from :class:`plants.models.Membership` rows (no login of its own)."""

    def authenticate(self, request, **credentials):  # pragma: no cover - never authenticates
        return None

    def has_perm(self, user_obj, perm: str, obj: Any = None) -> bool:
        if not getattr(user_obj, "is_active", False) or not hasattr(user_obj, "pk"):
            return False
        memberships = _memberships(user_obj)
        if obj is None:
            return any(role_allows(role, perm) for role, _ in memberships)
        obj_plants = object_plant_ids(obj)
        for role, plant_id in memberships:
            if not role_allows(role, perm):
                continue
            if plant_id is None:
                return True
            if obj_plants is None:
                if perm.partition(".")[2].startswith("view_"):
                    return True
                continue
            if plant_id in obj_plants:
                return True
        return False

    def has_module_perms(self, user_obj, app_label: str) -> bool:
        if not getattr(user_obj, "is_active", False):
            return False
        from django.contrib.auth.models import Permission

        perms = (
            f"{app_label}.{codename}"
            for codename in Permission.objects.filter(
                content_type__app_label=app_label
            ).values_list("codename", flat=True)
        )
        memberships = _memberships(user_obj)
        return any(role_allows(role, perm) for perm in perms for role, _ in memberships)
