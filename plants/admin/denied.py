"""The refusal page: what was refused, which permission it needs, and the roles one holds.

Django's bare "403 Forbidden" leaves a plant admin guessing. ``permission_denied`` (the
project's ``handler403``) shows the refusal's own message when it has one (the services
say "p1-admin lacks plants.add_connectedsystem at plant P2"), else the permission the
admin page needed, derived from the admin URL name (``plants_plant_add`` →
``plants.add_plant``), and the person's roles with a hint whom to ask.
"""

from __future__ import annotations

from django.contrib import admin
from django.template.response import TemplateResponse

from ..permissions import roles_held

#: Admin URL suffix → permission action.
_ADMIN_ACTIONS = {
    "add": "add",
    "change": "change",
    "delete": "delete",
    "changelist": "view",
    "history": "view",
}


def needed_permission(request) -> str | None:
    """``app.action_model`` for an admin model page, from its URL name; else ``None``."""
    match = getattr(request, "resolver_match", None)
    name = getattr(match, "url_name", None) or ""
    if getattr(match, "namespace", "") != "admin" or name.count("_") < 2:
        return None
    app_label, rest = name.split("_", 1)
    model, _, suffix = rest.rpartition("_")
    action = _ADMIN_ACTIONS.get(suffix)
    return f"{app_label}.{action}_{model}" if action and model else None


def permission_denied(request, exception=None):
    message = str(exception or "").strip()
    context = {
        **admin.site.each_context(request),
        "title": "Not allowed",
        "message": message,
        "permission": needed_permission(request),
        "roles": roles_held(getattr(request, "user", None)),
        "path": request.path,
    }
    return TemplateResponse(request, "403.html", context, status=403)
