"""Writes of plant configuration: plants, systems, master data, mappings, parameters and
the release calendar, for the configuration API (and anything else that is not a form).

One service for every configuration row, because the rules are the same for all of them:

- the actor needs ``<app>.<add|change|delete>_<model>`` *at the row's plant* (for a
  connected system: at every plant it serves; before and after a change, so a row cannot
  be moved out of or into a plant one may not touch); company-wide rows (items, units,
  suppliers, parameters, plants themselves) need a membership without a plant;
- the row passes ``full_clean()`` (a mapping's overlapping validity, a parameter value
  outside its range…), and every problem is reported with its field and code;
- simple-history records who changed it and why.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import ProtectedError

from interlock.errors import Conflict, DomainError, ErrorDetail

from ..models import ApiKey, ConnectedSystem, Plant
from ..permissions import perm_name, require_perm


def validation_failed(exc: ValidationError, *, prefix: str = "") -> DomainError:
    """A model's ``ValidationError`` as a 400 naming each field and the error code."""
    details: list[ErrorDetail] = []
    if hasattr(exc, "error_dict"):
        for field_name, errors in exc.error_dict.items():
            path = "" if field_name == NON_FIELD_ERRORS else field_name
            for error in errors:
                for message in error.messages:
                    details.append(
                        ErrorDetail(
                            path=f"{prefix}{path}", code=error.code or "invalid", message=message
                        )
                    )
    else:
        for error in exc.error_list:
            for message in error.messages:
                details.append(
                    ErrorDetail(
                        path=prefix.rstrip("."), code=error.code or "invalid", message=message
                    )
                )
    noun = "problem" if len(details) == 1 else "problems"
    return DomainError(
        message=f"{len(details)} {noun} in the request", code="validation_error", details=details
    )


def scope_of(obj: models.Model, m2m: dict[str, Iterable[Any]] | None = None) -> set[int] | None:
    """The plants a configuration row belongs to; ``None`` for company-wide rows."""
    if isinstance(obj, Plant):
        return {obj.pk} if obj.pk else None
    if isinstance(obj, ConnectedSystem):
        plants = (m2m or {}).get("plants")
        if plants is None:
            plants = obj.plants.all() if obj.pk else []
        return {p.pk for p in plants} or None
    if isinstance(obj, ApiKey):
        return scope_of(obj.system)
    if getattr(type(obj), "plant_lookup", None) == "plant":
        return {obj.plant_id} if obj.plant_id else None
    return None


def _save(obj: models.Model, actor, reason: str) -> None:
    if getattr(actor, "pk", None):
        obj._history_user = actor  # simple-history outside a request
    if reason:
        obj._change_reason = reason
    try:
        with transaction.atomic():  # a savepoint: the caller's transaction stays usable
            obj.save()
    except IntegrityError as exc:
        # What full_clean() cannot see: a concurrent writer, PostgreSQL's exclusion
        # constraint on mapping validity.
        raise Conflict(
            f"{obj._meta.verbose_name} refused by the database: {exc}".strip(),
            code="integrity_error",
        ) from None


@transaction.atomic
def config_create(
    *,
    model: type[models.Model],
    values: dict[str, Any],
    actor,
    m2m: dict[str, Iterable[Any]] | None = None,
    reason: str = "",
) -> models.Model:
    """Create one configuration row of ``model`` from ``values`` (and many-to-many ``m2m``)."""
    obj = model(**values)
    require_perm(actor, perm_name(model, "add"), plants=scope_of(obj, m2m))
    try:
        obj.full_clean()
    except ValidationError as exc:
        raise validation_failed(exc) from None
    _save(obj, actor, reason or "created through the API")
    for name, related in (m2m or {}).items():
        getattr(obj, name).set(list(related))
    return obj


@transaction.atomic
def config_update(
    *,
    obj: models.Model,
    values: dict[str, Any],
    actor,
    m2m: dict[str, Iterable[Any]] | None = None,
    reason: str = "",
) -> models.Model:
    """Change ``obj``; the actor needs the change permission where it is and where it goes."""
    perm = perm_name(type(obj), "change")
    require_perm(actor, perm, plants=scope_of(obj))
    for name, value in values.items():
        setattr(obj, name, value)
    require_perm(actor, perm, plants=scope_of(obj, m2m))
    try:
        obj.full_clean()
    except ValidationError as exc:
        raise validation_failed(exc) from None
    _save(obj, actor, reason or "changed through the API")
    for name, related in (m2m or {}).items():
        getattr(obj, name).set(list(related))
    return obj


@transaction.atomic
def config_delete(*, obj: models.Model, actor) -> None:
    """Delete a configuration row (a mapping entered by mistake, an old release window).
    Rows that others still refer to are refused with a 409 naming the reason."""
    require_perm(actor, perm_name(type(obj), "delete"), plants=scope_of(obj))
    if getattr(actor, "pk", None):
        obj._history_user = actor
    try:
        with transaction.atomic():
            obj.delete()
    except ProtectedError as exc:
        names = sorted({type(o)._meta.verbose_name for o in exc.protected_objects})
        raise Conflict(
            f"{obj} is still referred to by {', '.join(names)}; end or deactivate it instead",
            code="protected",
        ) from None
