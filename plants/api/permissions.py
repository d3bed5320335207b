"""Composed permissions of the configuration API.

``IsAuthenticated & ConfigPermission``: reads follow :class:`CanViewModel` (people with the
view permission somewhere, connected systems where a view opts in); writes need a person
who holds the action's permission *somewhere*, and the service then checks it at the
row's plant. Either refusal names the missing permission (``MissingPermission``, 403 in
the one error body).
"""

from __future__ import annotations

from rest_framework import permissions

from ..auth import plant_ids_for
from ..permissions import is_system, perm_name, require_perm
from .scoping import CanViewModel

#: ViewSet action → model permission action.
ACTION_PERMS = {
    "create": "add",
    "update": "change",
    "partial_update": "change",
    "destroy": "delete",
}


def required_perm(view) -> str | None:
    """The permission a write action of ``view`` needs (``None``: a read)."""
    explicit = getattr(view, "action_perms", {}).get(view.action)
    if explicit:
        return explicit
    action = ACTION_PERMS.get(view.action)
    if action is None:
        return None
    return perm_name(view.get_queryset().model, action)


class ConfigPermission(permissions.BasePermission):
    """Reads as :class:`CanViewModel`; writes by people holding the permission somewhere."""

    def has_permission(self, request, view) -> bool:
        perm = None if request.method in permissions.SAFE_METHODS else required_perm(view)
        if perm is None:
            return CanViewModel().has_permission(request, view)
        user = request.user
        if is_system(user) or plant_ids_for(user, perm) == set():
            require_perm(user, perm)  # raises MissingPermission naming ``perm``
        return True
