"""The one way a business object changes state.

``transition_apply`` locks the row, re-reads it, checks that the transition may proceed
from the state *in the database* (not the caller's possibly stale copy), runs the
django-fsm transition, saves, and writes an :class:`~orchestrator.models.AuditRecord` in
the same transaction. Two callers racing for the same object serialise on the row lock:
the second sees the first one's state and is refused if its transition no longer applies.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from django.db import models, transaction
from django.utils import timezone
from django_fsm import GET_STATE, ConcurrentTransition, FSMFieldMixin, Transition

from interlock.errors import Conflict, DomainError, ErrorDetail
from interlock.fsm_graph import fsm_field

from ..ingest.context import TransitionRefused, audit_record, fire

#: Who a state change is attributed to when no person or system is named.
INTERNAL_ACTOR = "system:interlock"


class IllegalTransition(DomainError):
    """The transition does not apply to the object's current state, or its guard said no.
    The object is left exactly as it was."""

    def __init__(
        self,
        *,
        obj: models.Model,
        transition: str,
        state: str,
        why: str,
        allowed_from: list[str] | None = None,
    ) -> None:
        label = obj._meta.verbose_name
        super().__init__(
            message=f"Cannot {transition} {label} {obj}: it is {state!r} ({why}).",
            code="illegal_transition",
            details=[
                ErrorDetail(
                    path="state",
                    code="illegal_transition",
                    message=why,
                    expected=allowed_from,
                    found=state,
                )
            ],
            http_status=409,
        )
        self.obj, self.transition, self.state = obj, transition, state


class UnknownTransition(DomainError):
    def __init__(self, *, model: type[models.Model], transition: str) -> None:
        names = sorted(t.name for t in model_transitions(model))
        super().__init__(
            message=f"{model._meta.verbose_name} has no transition {transition!r}; "
            f"known: {', '.join(names)}.",
            code="unknown_transition",
        )


# --- introspection (shared with the admin, the API and the state picture) ----------------
# ``fsm_field`` comes from ``interlock.fsm_graph``, which draws the pictures.
def model_transitions(
    model: type[models.Model], field: FSMFieldMixin | None = None
) -> Iterator[Transition]:
    """Every (source, transition) pair declared on the model's lifecycle field."""
    field = field or fsm_field(model)
    yield from field.get_all_transitions(model)


def transition_targets(t: Transition) -> list[str]:
    """The states a transition may lead to (several for a computed target like ``resume``)."""
    if isinstance(t.target, GET_STATE):
        return [str(s) for s in t.target.allowed_states]
    return [] if t.target is None else [str(t.target)]


def transition_method(model: type[models.Model], name: str):
    method = getattr(model, name, None)
    if method is None or not hasattr(method, "_django_fsm") or name.startswith("_"):
        raise UnknownTransition(model=model, transition=name)
    return method


def transition_permission(model: type[models.Model], name: str) -> str:
    """The permission a *person* needs (on the object) to trigger ``name`` by hand."""
    meta = transition_method(model, name)._django_fsm
    for t in meta.transitions.values():
        if isinstance(t.permission, str):
            return t.permission
    return f"{model._meta.app_label}.change_{model._meta.model_name}"


def available_transitions(obj: models.Model, *, user=None) -> list[str]:
    """Names of the transitions that may proceed from ``obj``'s state (guards included),
    limited to those ``user`` may trigger on this object when a user is given."""
    field = fsm_field(type(obj))
    names = sorted({t.name for t in getattr(obj, f"get_available_{field.name}_transitions")()})
    if user is not None:
        names = [n for n in names if user.has_perm(transition_permission(type(obj), n), obj)]
    return names


def transition_for_target(obj: models.Model, target: str) -> str | None:
    """The transition that leads from ``obj``'s current state to ``target``, if there is
    exactly one (used when a plant system reports a new status rather than an action)."""
    field = fsm_field(type(obj))
    state = getattr(obj, field.name)
    names = {
        t.name
        for t in model_transitions(type(obj), field)
        if t.source in (state, "*", "+") and target in transition_targets(t)
    }
    return names.pop() if len(names) == 1 else None


# --- actors ---------------------------------------------------------------------------
def actor_identity(actor: Any) -> tuple[Any, str]:
    """``(user or None, label)``: a person is stored as a foreign key and their username;
    a connected system (``SystemPrincipal``, ``pk is None``) or a plain string only as a
    label, e.g. ``system:MES-P1``."""
    if actor is None:
        return None, INTERNAL_ACTOR
    if isinstance(actor, str):
        return None, actor
    if getattr(actor, "pk", None) is not None:
        return actor, actor.get_username()
    return None, str(getattr(actor, "username", None) or actor)


def audit_step(
    obj: models.Model,
    *,
    actor: Any,
    transition: str,
    source: str,
    target: str,
    reason: str,
    correlation_id: str | None = None,
) -> None:
    """One audit record of a person's or system's step on ``obj`` that is not a row
    transition of :func:`transition_apply` (a task's claim, a reconciliation run's start)."""
    user, label = actor_identity(actor)
    audit_record(
        obj,
        actor=user,
        actor_label=label,
        transition=transition,
        source=source,
        target=target,
        reason=reason[:2000],
        correlation_id=correlation_id or str(uuid.uuid4()),
    ).save()


def _plant_id(obj: models.Model) -> int | None:
    if getattr(obj, "plant_id", None) is not None:
        return obj.plant_id
    scope = getattr(obj, "scope_plant_ids", None)
    plants = scope() if scope else None
    return next(iter(plants)) if plants and len(plants) == 1 else None


# --- the service ----------------------------------------------------------------------
def transition_apply(
    *,
    obj: models.Model,
    transition: str,
    actor: Any,
    reason: str = "",
    correlation_id: str | None = None,
    updates: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> models.Model:
    """Move ``obj`` through ``transition`` and record who did it and why.

    ``updates`` are plain field values set on the locked row *before* the guard is
    checked and saved with the state change (e.g. a nonconformance's disposition, which
    the ``decide`` guard requires); ``kwargs`` go to the transition method. Returns the
    saved row; the caller's ``obj`` is refreshed too. Raises :class:`IllegalTransition`
    (nothing changed) when the transition does not apply to the current state.
    """
    model = type(obj)
    method = transition_method(model, transition)
    field: FSMFieldMixin = method._django_fsm.field
    if updates and field.name in updates:
        raise DomainError(
            message=f"{field.name} changes only through transitions", code="protected_state"
        )
    correlation_id = correlation_id or str(uuid.uuid4())
    user, label = actor_identity(actor)

    with transaction.atomic():
        # The row lock serialises concurrent transitions; re-reading under it means the
        # guard sees the committed state, not what the caller loaded earlier.
        locked = model._default_manager.select_for_update().get(pk=obj.pk)
        source = getattr(locked, field.name)
        for name, value in (updates or {}).items():
            setattr(locked, name, value)
        try:
            # The one transition core, shared with the batch (``ingest.context.fire``).
            source, target = fire(locked, transition, field, **kwargs)
        except TransitionRefused as exc:
            if not exc.applicable:
                sources = sorted({str(t.source) for t in method._django_fsm.transitions.values()})
                raise IllegalTransition(
                    obj=locked,
                    transition=transition,
                    state=source,
                    why=f"{transition} applies only from {', '.join(sources)}",
                    allowed_from=sources,
                ) from exc
            raise IllegalTransition(
                obj=locked, transition=transition, state=source, why=exc.why
            ) from exc
        if hasattr(locked, "state_changed_at"):
            locked.state_changed_at = timezone.now()
        locked.full_clean()
        try:
            locked.save()
        except ConcurrentTransition as exc:  # a writer that bypassed the row lock
            raise Conflict(
                f"{locked} changed while it was being moved; retry.", code="concurrent_transition"
            ) from exc
        record = audit_record(
            locked,
            actor=user,
            actor_label=label,
            plant_id=_plant_id(locked),
            field_name=field.name,
            transition=transition,
            source=source,
            target=target,
            reason=reason,
            correlation_id=correlation_id,
        )
        record.full_clean()
        record.save()
    obj.refresh_from_db()
    return locked


def transition_to(
    *,
    obj: models.Model,
    target: str,
    actor: Any,
    reason: str = "",
    correlation_id: str | None = None,
) -> models.Model:
    """Move ``obj`` to the reported state ``target`` through the one transition that
    leads there (plant systems report statuses, e.g. a lot status change)."""
    field = fsm_field(type(obj))
    name = transition_for_target(obj, target)
    if name is None:
        state = getattr(obj, field.name)
        raise IllegalTransition(
            obj=obj,
            transition=f"move to {target!r}",
            state=state,
            why=f"no transition leads from {state!r} to {target!r}",
        )
    return transition_apply(
        obj=obj, transition=name, actor=actor, reason=reason, correlation_id=correlation_id
    )
