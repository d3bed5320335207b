"""Permission checks that say what is missing.

A refusal names the Django permission (``plants.add_connectedsystem``), the plants it was
needed at, and the roles the person holds, so that a plant admin who is refused knows what
to ask for instead of reading a bare "403 Forbidden". Services call :func:`require_perm`;
the API turns the :class:`MissingPermission` into the one error body (403), and the admin
shows the same message on its refusal page (``plants.admin.denied``).
"""

from __future__ import annotations

from collections.abc import Iterable

from interlock.errors import ErrorDetail, NotAllowed

from .auth import _memberships, plant_ids_for


class MissingPermission(NotAllowed):
    """``actor`` lacks ``perm`` (at ``plants``, when the check was per plant)."""

    def __init__(self, message: str, *, perm: str, plants: Iterable[str] = (), held: str = ""):
        super().__init__(message, code="permission_denied")
        self.perm = perm
        self.details = [
            ErrorDetail(
                path="permission",
                code="missing_permission",
                message=message,
                expected=perm,
                found=held or None,
            )
        ]
        self.plants = sorted(plants)


def is_system(actor) -> bool:
    """A connected system (API key), as opposed to a person."""
    return getattr(actor, "system_plant_ids", None) is not None


def roles_held(actor) -> str:
    """The actor's role memberships, for messages ("plant_admin@P1, auditor@all")."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return "not signed in"
    if is_system(actor):
        return f"connected system {actor.system.code}"
    if getattr(actor, "is_superuser", False):
        return "superuser"
    from .models import Plant

    rows = _memberships(actor)
    codes = dict(Plant.objects.filter(pk__in={p for _, p in rows if p}).values_list("pk", "code"))
    held = [f"{role}@{codes.get(plant, 'all') if plant else 'all'}" for role, plant in rows]
    return ", ".join(sorted(held)) or "no roles"


def _name(actor) -> str:
    if is_system(actor):
        return f"system {actor.system.code}"
    return getattr(actor, "username", None) or str(actor)


def require_perm(actor, perm: str, *, plants: set[int] | None = None) -> None:
    """Refuse unless ``actor`` holds ``perm`` at every plant in ``plants``.

    ``plants=None`` asks for the permission company-wide (canonical master data, creating a
    plant): only a membership without a plant (or a superuser) grants that. Connected
    systems never change configuration, whatever their plants.
    """
    if actor is None:  # trusted callers: management commands, seeding, tests
        return
    held = roles_held(actor)
    if is_system(actor):
        raise MissingPermission(
            f"{_name(actor)} may not change configuration (it needs a person holding {perm})",
            perm=perm,
            held=held,
        )
    allowed = plant_ids_for(actor, perm)
    if allowed is None:
        return
    if plants:
        missing = set(plants) - allowed
        if not missing:
            return
        from .models import Plant

        codes = sorted(Plant.objects.filter(pk__in=missing).values_list("code", flat=True))
        raise MissingPermission(
            f"{_name(actor)} lacks {perm} at plant {', '.join(codes)} (roles: {held})",
            perm=perm,
            plants=codes,
            held=held,
        )
    where = "company-wide" if allowed else "anywhere"
    raise MissingPermission(
        f"{_name(actor)} lacks {perm} {where} (roles: {held})", perm=perm, held=held
    )


def perm_name(model, action: str) -> str:
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"
